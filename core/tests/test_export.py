"""Activity export: the filtered set as a streamed CSV or JSON Lines download."""

import csv
import io
import json

import pytest

from core import activity

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


@pytest.fixture
def viewer(client, make_user, tenant_alpha):
    client.force_login(make_user("vera", tenant_alpha, "viewer"))
    return client


def body(response):
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_csv_export_of_the_filtered_set_is_streamed(viewer):
    activity.record("server.created", "server", 1, "SQL1")
    activity.record("server.deleted", "server", 2, '=HYPERLINK("x")')
    activity.record("group.created", "group", 3, "Prod")
    r = viewer.get("/activity/export", {"entity_type": "server"})
    assert r.status_code == 200 and r["Content-Type"] == "text/csv"
    assert "attachment" in r["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(body(r))))
    assert rows[0][:4] == ["created_at", "user_name", "user_id", "action"]
    assert [row[3] for row in rows[1:]] == ["server.deleted", "server.created"]
    assert rows[1][6] == '\'=HYPERLINK("x")'  # never run as a formula by a spreadsheet


def test_json_lines_export_and_a_bad_filter(viewer):
    activity.record("server.created", "server", 1, "SQL1", {"k": "v"})
    r = viewer.get("/activity/export", {"format": "json", "action": "server.created"})
    lines = [json.loads(line) for line in body(r).splitlines()]
    assert [(e["action"], e["details"]) for e in lines] == [("server.created", {"k": "v"})]
    assert viewer.get("/activity/export", {"date_from": "yesterday"}).status_code == 400


def test_the_page_links_the_export_with_its_filters(viewer):
    html = viewer.get("/activity/", {"entity_type": "server"}).content.decode()
    assert 'href="/activity/export?entity_type=server"' in html

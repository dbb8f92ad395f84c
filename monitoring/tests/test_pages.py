import datetime as dt

import pytest
from django.utils import timezone

from monitoring import store
from monitoring.tests.test_storage import make_server, result

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


@pytest.fixture
def viewer_client(client, make_user, tenant_alpha):
    client.force_login(make_user("vv", tenant_alpha, "viewer"))
    return client


def test_dashboard_cards_tiles_and_groups(viewer_client):
    from servers import actions

    hot, calm = make_server("HOT"), make_server("CALM")
    make_server("NEW")
    store.write([result(hot, timezone.now(), cpu=99), result(calm, timezone.now(), cpu=10)])
    group = actions.create_group("Prod")
    actions.add_to_group(group, [hot, calm])
    page = viewer_client.get("/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-critical="1"' in html
    assert 'href="/servers/?health=critical"' in html
    assert 'class="tile tile-critical"' in html
    assert 'data-status="unknown"' in html  # NEW: never collected
    assert "Prod" in html
    partial = viewer_client.get("/", headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith('<div id="board"')


def test_dashboard_empty_state(viewer_client):
    assert b"Welcome to Alpha Corp" in viewer_client.get("/").content


def test_server_list_filters_by_health(viewer_client):
    hot, calm = make_server("HOT"), make_server("CALM")
    store.write([result(hot, timezone.now(), cpu=99), result(calm, timezone.now(), cpu=10)])
    html = viewer_client.get("/servers/?health=critical").content.decode()
    assert "HOT" in html
    assert "CALM" not in html


def test_metrics_tab_ranges_and_no_data(viewer_client):
    server = make_server()
    empty = viewer_client.get(f"/servers/{server.pk}/metrics")
    assert b"No data" in empty.content
    for i in range(3):
        store.write([result(server, timezone.now() - dt.timedelta(minutes=3 - i))])
    for rng in ("1h", "6h", "24h", "7d", "30d"):
        page = viewer_client.get(f"/servers/{server.pk}/metrics?range={rng}")
        assert page.status_code == 200
        assert b'data-chart="series-cpu"' in page.content
        assert b'id="series-cpu"' in page.content
    partial = viewer_client.get(
        f"/servers/{server.pk}/metrics?range=7d", headers={"HX-Request": "true"}
    )
    assert partial.content.lstrip().startswith(b'<div id="metrics-panel"')
    assert viewer_client.get("/servers/999999/metrics").status_code == 404

import pytest

from core import activity
from core.models import ActivityLog

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def entries(tenant_alpha, in_tenant):
    with in_tenant(tenant_alpha):
        for i in range(60):
            activity.record("server.created", "server", i, f"SQL{i:02}", {"n": i})
        activity.record("group.created", "group", 1, "Production")


def test_newest_first_and_paginated(api, admin_user, tenant_alpha, entries):
    r = api(admin_user, tenant_alpha).get("/api/activity")
    body = r.json()
    assert r.status_code == 200
    assert body["count"] == 62  # with the tenant.created entry from provisioning
    assert len(body["results"]) == 50
    assert body["results"][0]["entity_name"] == "Production"
    assert body["next"]
    page2 = api(admin_user, tenant_alpha).get("/api/activity?page=2").json()
    assert len(page2["results"]) == 12


def test_filters(api, admin_user, tenant_alpha, entries):
    client = api(admin_user, tenant_alpha)
    assert client.get("/api/activity?entity_type=group").json()["count"] == 1
    assert client.get("/api/activity?entity_type=server&entity_id=7").json()["count"] == 1
    assert client.get("/api/activity?q=SQL05").json()["count"] == 1


@pytest.mark.parametrize(
    ("query", "status"),
    [("since=yesterday", 400), ("until=2026-13-45", 400), ("page=999", 404), ("user_id=x", 400)],
)
def test_bad_filters_are_client_errors(api, admin_user, tenant_alpha, entries, query, status):
    r = api(admin_user, tenant_alpha).get(f"/api/activity?{query}")
    assert r.status_code == status
    assert "Traceback" not in r.content.decode()


def test_read_only(api, admin_user, tenant_alpha):
    r = api(admin_user, tenant_alpha).post("/api/activity", {"action": "x"}, format="json")
    assert r.status_code == 405


def test_activity_page_lists_and_filters(client, admin_user, tenant_alpha, entries, in_tenant):
    client.force_login(admin_user)
    page = client.get("/activity/")
    assert page.status_code == 200
    assert b"Production" in page.content
    partial = client.get("/activity/?q=Production", headers={"HX-Request": "true"})
    assert b"<html" not in partial.content
    assert b"Production" in partial.content
    assert b"SQL05" not in partial.content
    with in_tenant(tenant_alpha):
        assert ActivityLog.objects.filter(entity_type="server").count() == 60


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("until=2026-01-01T00:00:00%2B16:59", "until"),
        ("since=0001-01-01T00:00:00%2B01:00", "since"),
        ("until=9999-12-31T23:59:59-01:00", "until"),
        ("since=0061-07-23T22:34:28.3-21:07", "since"),
        ("since=0061-07-23T22:34:28.3-15:59", None),  # far back, but a valid instant
    ],
)
def test_datetime_filters_out_of_database_range(api, admin_user, tenant_alpha, query, field):
    r = api(admin_user, tenant_alpha).get(f"/api/activity?{query}")
    if field is None:
        assert r.status_code == 200
        return
    assert r.status_code == 400
    assert field in r.json(), r.json()


def test_activity_page_shows_a_bad_datetime_as_form_error(
    client, admin_user, tenant_alpha, entries
):
    client.force_login(admin_user)
    page = client.get("/activity/?until=2026-01-01T00:00:00%2B16:59")
    assert page.status_code == 200
    assert b'role="alert"' in page.content
    assert b"until:" in page.content
    assert b"No activity matches." in page.content

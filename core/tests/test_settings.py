import pytest

from core import settings_store
from core.models import ActivityLog

pytestmark = pytest.mark.django_db(databases="__all__")


def test_defaults_seeded(api, admin_user, tenant_alpha):
    body = api(admin_user, tenant_alpha).get("/api/settings").json()
    assert body["metrics_retention_days"] == 30
    assert body["collection_interval_seconds"] == 60


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"metrics_retention_days": 0}, "metrics_retention_days"),
        ({"metrics_retention_days": 366}, "metrics_retention_days"),
        ({"metrics_retention_days": "many"}, "metrics_retention_days"),
        ({"collection_interval_seconds": 5}, "collection_interval_seconds"),
        ({"cpu_warning_percent": 96}, "cpu_critical_percent"),
        ({"memory_warning_percent": 90, "memory_critical_percent": 80}, "memory_critical_percent"),
    ],
)
def test_bad_values_rejected_and_nothing_written(
    api, admin_user, tenant_alpha, in_tenant, payload, field
):
    client = api(admin_user, tenant_alpha)
    # A valid field next to the bad one must not be written either.
    r = client.patch("/api/settings", {**payload, "activity_retention_days": 400}, format="json")
    assert r.status_code == 400
    assert field in r.json()
    with in_tenant(tenant_alpha):
        assert settings_store.get("activity_retention_days") == 365
        assert not ActivityLog.objects.filter(action="settings.updated").exists()


def test_update_records_activity(api, admin_user, tenant_alpha, in_tenant):
    r = api(admin_user, tenant_alpha).patch(
        "/api/settings", {"metrics_retention_days": 7}, format="json"
    )
    assert r.status_code == 200
    with in_tenant(tenant_alpha):
        entry = ActivityLog.objects.get(action="settings.updated")
    assert entry.details == {"metrics_retention_days": {"from": 30, "to": 7}}
    assert entry.user_name == admin_user.username


def test_settings_page_admin_saves_viewer_cannot(client, make_user, tenant_alpha, in_tenant):
    viewer = make_user("vera", tenant_alpha, "viewer")
    client.force_login(viewer)
    page = client.get("/settings/")
    assert page.status_code == 200
    assert b"Save settings" not in page.content
    assert client.post("/settings/save", {"metrics_retention_days": 9}).status_code == 403
    admin = make_user("adam", tenant_alpha, "admin")
    client.force_login(admin)
    data = settings_store.SPECS
    form = {k: s.default for k, s in data.items()} | {"metrics_retention_days": 9}
    assert client.post("/settings/save", form).status_code == 302
    bad = client.post("/settings/save", form | {"metrics_retention_days": 0})
    assert bad.status_code == 400
    assert b"greater than or equal to 1" in bad.content
    with in_tenant(tenant_alpha):
        assert settings_store.get("metrics_retention_days") == 9


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cpu_warning_percent": 95}, "cpu_critical_percent"),  # at the limit: equal is refused
        ({"cpu_warning_percent": 96}, "cpu_critical_percent"),
        ({"memory_critical_percent": 85}, "memory_critical_percent"),
        ({"metrics_retention_days": 366}, "metrics_retention_days"),
    ],
)
def test_the_action_itself_refuses_what_the_page_and_api_refuse(
    tenant_alpha, in_tenant, changes, field
):
    """Code that writes settings without a form or serializer (a command, another app) meets
    the same rules; nothing is written."""
    from dbtools.errors import ActionError

    with in_tenant(tenant_alpha):
        with pytest.raises(ActionError) as caught:
            settings_store.update(changes)
        assert field in caught.value.errors
        assert settings_store.get_all() == {s.key: s.default for s in settings_store.SPECS.values()}
        assert not ActivityLog.objects.filter(action="settings.updated").exists()
        # Just below the limit is accepted.
        settings_store.update({"cpu_warning_percent": 94})
        assert settings_store.get("cpu_warning_percent") == 94

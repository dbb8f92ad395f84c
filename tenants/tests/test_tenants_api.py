import pytest

from core.models import ActivityLog
from tenants.models import Tenant

pytestmark = pytest.mark.django_db(databases="__all__")


def test_list_and_get(api, admin_user, tenant_alpha, tenant_beta):
    r = api(admin_user).get("/api/tenants")
    assert r.status_code == 200
    slugs = {t["slug"]: t["status"] for t in r.json()["results"]}
    assert slugs["alpha"] == "active" and "beta" in slugs
    one = api(admin_user).get("/api/tenants/alpha")
    assert one.status_code == 200 and one.json()["name"] == "Alpha Corp"
    assert api(admin_user).get("/api/tenants/nope").status_code == 404


def test_only_superusers(api, make_user, tenant_alpha):
    admin_of_alpha = make_user("ann", tenant_alpha, "admin")
    assert api(admin_of_alpha).get("/api/tenants").status_code == 403
    assert (
        api(admin_of_alpha).post("/api/tenants", {"slug": "x-y-z", "name": "X"}).status_code == 403
    )
    assert api().get("/api/tenants").status_code == 401


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "slug"),
        ({"slug": "ok-slug"}, "name"),
        ({"slug": "ok-slug", "name": ""}, "name"),
        ({"slug": "ok-slug", "name": "n" * 201}, "name"),
    ],
)
def test_create_bad_input(api, admin_user, payload, field):
    r = api(admin_user).post("/api/tenants", payload, format="json")
    assert r.status_code == 400
    assert field in r.json()
    assert not Tenant.objects.filter(slug="ok-slug").exists()


def test_suspend_activate_delete(api, admin_user, tenant_alpha, in_tenant):
    client = api(admin_user)
    assert client.post("/api/tenants/alpha/suspend").json()["status"] == "suspended"
    assert client.post("/api/tenants/alpha/activate").json()["status"] == "active"
    with in_tenant(tenant_alpha):
        actions = list(ActivityLog.objects.values_list("action", flat=True)[:2])
    assert actions == ["tenant.activated", "tenant.suspended"]


def test_soft_delete_keeps_row_and_blocks_login(api, admin_user, tenant_beta):
    from tenants import provisioning

    r = api(admin_user).delete("/api/tenants/beta")
    assert r.status_code == 200 and r.json()["status"] == "deleted"
    assert Tenant.objects.get(slug="beta").status == "deleted"
    assert api(admin_user).post("/api/tenants/beta/activate").status_code == 409
    with provisioning.admin_connection() as conn:
        can_login = conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [tenant_beta.db_user]
        ).fetchone()[0]
        assert can_login is False
        conn.execute(f'ALTER ROLE "{tenant_beta.db_user}" LOGIN')  # restore for other tests


@pytest.mark.parametrize(
    "path", ["/api/tenants/%00", "/api/tenants/a%00b", "/api/tenants/%ED%A0%80"]
)
def test_impossible_slug_in_the_path_is_json_404(api, admin_user, path):
    r = api(admin_user).get(path)
    assert r.status_code == 404
    assert r["Content-Type"] == "application/json"

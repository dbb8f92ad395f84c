import pytest

pytestmark = pytest.mark.django_db(databases="__all__")


def test_login_required(client):
    r = client.get("/")
    assert r.status_code == 302
    assert r["Location"].startswith("/accounts/login/")


def test_login_page_and_bad_password(client, make_user):
    make_user("lou")
    assert client.get("/accounts/login/").status_code == 200
    r = client.post("/accounts/login/", {"username": "lou", "password": "wrong"})
    assert r.status_code == 200
    assert b"correct username and password" in r.content


def test_dashboard_welcome_and_selector_lists_only_my_tenants(
    client, make_user, tenant_alpha, tenant_beta
):
    client.force_login(make_user("amy", tenant_alpha, "operator"))
    r = client.get("/")
    assert b"Welcome to Alpha Corp" in r.content
    assert b"Beta Ltd" not in r.content
    # Choosing a tenant one is not a member of changes nothing.
    client.post("/tenant/select", {"tenant": "beta", "next": "/"})
    assert b"Welcome to Alpha Corp" in client.get("/").content


def test_select_tenant_ignores_foreign_next(client, admin_user, tenant_alpha):
    client.force_login(admin_user)
    r = client.post("/tenant/select", {"tenant": "alpha", "next": "https://evil.example/"})
    assert r["Location"] == "/"


def test_user_without_tenant(client, make_user):
    client.force_login(make_user("nobody"))
    r = client.get("/")
    assert r.status_code == 403
    assert b"not a member of any tenant" in r.content


def test_suspended_tenant_page(client, make_user, tenant_alpha):
    from tenants import provisioning

    client.force_login(make_user("sue", tenant_alpha, "admin"))
    provisioning.suspend_tenant(tenant_alpha)
    r = client.get("/")
    assert r.status_code == 403
    assert b"is suspended" in r.content


@pytest.mark.parametrize(
    "path",
    [
        "/servers/",
        "/groups/",
        "/policies/",
        "/jobs/",
        "/alerts/",
        "/activity/",
        "/users/",
        "/settings/",
    ],
)
def test_shell_pages_render(client, admin_user, tenant_alpha, path):
    client.force_login(admin_user)
    r = client.get(path)
    assert r.status_code == 200
    assert b'aria-current="page"' in r.content


def test_schema_covers_endpoints_and_header(client):
    r = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert r.status_code == 200
    schema = r.json()
    for path in [
        "/api/tenants",
        "/api/tenants/{slug}",
        "/api/tenants/{slug}/suspend",
        "/api/activity",
        "/api/settings",
        "/api/health",
    ]:
        assert any(p.rstrip("/") == path for p in schema["paths"]), path
    params = schema["paths"]["/api/activity"]["get"]["parameters"]
    assert any(p["name"] == "X-Tenant-Slug" and p["in"] == "header" for p in params)
    tenants_params = schema["paths"]["/api/tenants"]["get"].get("parameters", [])
    assert not any(p["name"] == "X-Tenant-Slug" for p in tenants_params)
    assert client.get("/api/docs/").status_code == 200


def test_admin_tenant_management(client, admin_user, tenant_alpha):
    client.force_login(admin_user)
    r = client.get("/admin/tenants/", follow=True)
    assert r.status_code == 200
    assert b"Alpha Corp" in r.content
    bad = client.post("/admin/tenants/tenant/add/", {"name": "X", "slug": "-bad-"})
    assert bad.status_code == 400
    assert b"lowercase letters" in bad.content
    dup = client.post("/admin/tenants/tenant/add/", {"name": "X", "slug": "alpha"})
    assert b"already exists" in dup.content
    confirm = client.get("/admin/tenants/tenant/alpha/lifecycle/suspend/")
    assert b"Yes, suspend" in confirm.content
    client.post("/admin/tenants/tenant/alpha/lifecycle/suspend/")
    tenant_alpha.refresh_from_db()
    assert tenant_alpha.status == "suspended"


def test_selecting_unknown_foreign_or_suspended_tenant_looks_the_same(
    client, make_user, tenant_alpha, tenant_beta
):
    from tenants import provisioning

    client.force_login(make_user("amy", tenant_alpha, "operator"))

    def select(slug):
        r = client.post("/tenant/select", {"tenant": slug, "next": "/servers/"})
        return r.status_code, r["Location"], r.content

    unknown = select("no-such-tenant")
    foreign = select("beta")
    provisioning.suspend_tenant(tenant_beta)
    suspended = select("beta")
    assert unknown == foreign == suspended == (302, "/servers/", b"")
    assert b"Alpha Corp" in client.get("/servers/").content

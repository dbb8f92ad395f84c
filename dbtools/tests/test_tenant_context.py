"""X-Tenant-Slug handling, membership and roles on tenant-scoped endpoints."""

import pytest

from core import activity
from dbtools import tenancy
from dbtools.routers import TenantRouter
from tenants import provisioning

pytestmark = pytest.mark.django_db(databases="__all__")


def test_missing_header_is_400(api, admin_user):
    r = api(admin_user).get("/api/activity")
    assert r.status_code == 400
    assert "X-Tenant-Slug" in r.json()["detail"]


def test_unknown_tenant_is_404(api, admin_user):
    assert api(admin_user, "no-such-tenant").get("/api/activity").status_code == 404


def test_suspended_tenant_is_403_for_its_members(api, admin_user, make_user, tenant_alpha):
    member = make_user("mem", tenant_alpha, "viewer")
    provisioning.suspend_tenant(tenant_alpha)
    for user in (admin_user, member):
        r = api(user, tenant_alpha).get("/api/activity")
        assert r.status_code == 403
        assert "suspended" in r.json()["detail"]


def test_non_member_cannot_tell_unknown_suspended_and_foreign_tenants_apart(
    api, make_user, tenant_alpha, tenant_beta
):
    """Unknown, suspended and not-mine look the same to an outsider: no probing for tenants."""
    bob = make_user("bob", tenant_beta, "admin")

    def answer(slug):
        r = api(bob, slug).get("/api/activity")
        return r.status_code, r["Content-Type"], r.content

    unknown = answer("no-such-tenant")
    not_a_member = answer("alpha")
    provisioning.suspend_tenant(tenant_alpha)
    suspended = answer("alpha")
    assert unknown[0] == 404
    assert unknown == not_a_member == suspended


def test_deleted_tenant_is_404(api, admin_user, tenant_alpha):
    tenant_alpha.status = "deleted"
    tenant_alpha.save()
    assert api(admin_user, tenant_alpha).get("/api/activity").status_code == 404


def test_non_member_is_404(api, make_user, tenant_alpha, tenant_beta):
    bob = make_user("bob", tenant_beta, "admin")
    r = api(bob, tenant_alpha).get("/api/activity")
    assert r.status_code == 404
    assert r.json()["detail"] == "No such tenant, or you are not a member of it."


def test_unauthenticated_is_rejected_before_tenant_lookup(api, tenant_alpha):
    for tenant in ("no-such-tenant", tenant_alpha):
        r = api(None, tenant).get("/api/activity")
        assert r.status_code == 401
        assert r["WWW-Authenticate"] == "Token"


def test_token_auth(tenant_alpha, make_user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    user = make_user("tok", tenant_alpha, "viewer")
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}", HTTP_X_TENANT_SLUG="alpha")
    assert client.get("/api/activity").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token wrong", HTTP_X_TENANT_SLUG="alpha")
    assert client.get("/api/activity").status_code == 401


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [("viewer", 200, 403), ("operator", 200, 403), ("admin", 200, 200)],
)
def test_roles_on_settings(api, make_user, tenant_alpha, role, read, write):
    user = make_user(f"u-{role}", tenant_alpha, role)
    client = api(user, tenant_alpha)
    assert client.get("/api/settings").status_code == read
    r = client.patch("/api/settings", {"metrics_retention_days": 14}, format="json")
    assert r.status_code == write
    if write == 200:
        assert r.json()["metrics_retention_days"] == 14


def test_router_refuses_without_tenant():
    from core.models import Setting

    with pytest.raises(tenancy.NoTenantError):
        Setting.objects.count()
    with pytest.raises(tenancy.NoTenantError):
        TenantRouter().db_for_read(Setting)
    with pytest.raises(tenancy.NoTenantError):
        TenantRouter().db_for_write(Setting)


def test_router_sends_system_models_to_default():
    from tenants.models import Tenant

    assert TenantRouter().db_for_read(Tenant) == "default"


def test_activity_helper_needs_tenant():
    with pytest.raises(tenancy.NoTenantError):
        activity.record("x", "y")


def test_tenant_connections_are_bounded(api, admin_user, tenant_alpha, tenant_beta, settings):
    settings.DBTOOLS_TENANT_CONN_KEEP = 1
    for tenant in (tenant_alpha, tenant_beta, tenant_alpha, tenant_beta):
        assert api(admin_user, tenant).get("/api/activity").status_code == 200
        # Inside a test transaction connections stay open; outside one they are trimmed. What we
        # check here is the bookkeeping that decides which ones go.
    tenancy.trim_connections(1)
    assert len(tenancy._lru.order) == 1


def test_pinned_connections_are_closed_last_newest_first():
    """A collector slot pins the tenants whose results it will write back: an unpinned
    connection goes first; among pinned ones the newest (the oldest is written back next)."""
    from collections import OrderedDict

    saved = getattr(tenancy._lru, "order", None)
    try:
        tenancy._lru.order = OrderedDict.fromkeys(["t_a", "t_b", "t_c", "t_d"])
        tenancy.pin("t_a")
        tenancy.pin("t_c")
        tenancy.pin("t_d")
        tenancy.trim_connections(3)
        assert list(tenancy._lru.order) == ["t_a", "t_c", "t_d"]  # t_b: not pinned
        tenancy.trim_connections(2)
        assert list(tenancy._lru.order) == ["t_a", "t_c"]  # all pinned: the newest went
        tenancy.unpin("t_a")
        tenancy.trim_connections(1)
        assert list(tenancy._lru.order) == ["t_c"]
    finally:
        tenancy.unpin_all()
        tenancy._lru.order = saved

"""Provisioning creates a role and a database per tenant, all or nothing."""

import pytest

from core.models import ActivityLog, Setting
from dbtools import tenancy
from tenants import provisioning
from tenants.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def db_exists(name):
    with provisioning.admin_connection() as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone())


def role_exists(name):
    with provisioning.admin_connection() as conn:
        return bool(conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone())


@pytest.fixture
def cleanup(scratch_tenants):
    return scratch_tenants


def test_create_tenant_provisions_database_and_role(cleanup, admin_user):
    cleanup("gamma")
    tenant = provisioning.create_tenant("gamma", "Gamma Inc", acting_user=admin_user)
    name = tenancy.database_name("gamma")
    assert (tenant.db_name, tenant.db_user, tenant.status) == (name, name, "active")
    assert db_exists(name) and role_exists(name)
    assert tenant.db_password_encrypted.startswith("v1:")
    with provisioning.admin_connection() as conn:
        owner, acl = conn.execute(
            "SELECT pg_get_userbyid(datdba), datacl::text FROM pg_database WHERE datname = %s",
            [name],
        ).fetchone()
    assert owner == name
    assert "=Tc/" not in acl and "=c/" not in acl  # PUBLIC has no CONNECT
    with tenancy.use_tenant(tenant):
        assert Setting.objects.count() > 0
        entry = ActivityLog.objects.get()
        assert (entry.action, entry.user_name) == ("tenant.created", admin_user.username)


@pytest.mark.parametrize("failing", ["migrate_database", "seed_defaults", "save"])
def test_failure_at_any_step_leaves_nothing_behind(cleanup, monkeypatch, failing):
    cleanup("delta")

    def boom(*args, **kwargs):
        raise RuntimeError(f"injected failure in {failing}")

    if failing == "migrate_database":
        monkeypatch.setattr(provisioning, "migrate_database", boom)
    elif failing == "seed_defaults":
        monkeypatch.setattr(provisioning.settings_store, "seed_defaults", boom)
    else:
        monkeypatch.setattr(provisioning.activity, "record", boom)  # after the row is saved
    with pytest.raises(provisioning.ProvisioningError, match="injected failure"):
        provisioning.create_tenant("delta", "Delta")
    assert not Tenant.objects.filter(slug="delta").exists()
    assert not db_exists(tenancy.database_name("delta"))
    assert not role_exists(tenancy.database_name("delta"))
    assert "tenant_delta" not in tenancy.connections.settings


def test_role_creation_failure_is_reported_and_clean(cleanup):
    cleanup("epsilon")
    with provisioning.admin_connection() as conn:
        conn.execute(f'CREATE ROLE "{tenancy.database_name("epsilon")}"')
    try:
        with pytest.raises(provisioning.ProvisioningError, match="creating the database role"):
            provisioning.create_tenant("epsilon", "Epsilon")
        assert not db_exists(tenancy.database_name("epsilon"))
        assert not Tenant.objects.filter(slug="epsilon").exists()
    finally:
        with provisioning.admin_connection() as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{tenancy.database_name("epsilon")}"')


def test_api_create_then_duplicate_is_409(cleanup, api, admin_user):
    cleanup("zeta")
    r = api(admin_user).post("/api/tenants", {"slug": "zeta", "name": "Zeta"}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["slug"] == "zeta"
    assert "db_password_encrypted" not in r.json()
    again = api(admin_user).post("/api/tenants", {"slug": "zeta", "name": "Z2"}, format="json")
    assert again.status_code == 409
    assert "slug" in again.json()


def test_api_reports_provisioning_failure_cause(cleanup, api, admin_user, monkeypatch):
    cleanup("eta")

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(provisioning, "migrate_database", boom)
    r = api(admin_user).post("/api/tenants", {"slug": "eta", "name": "Eta"}, format="json")
    assert r.status_code == 500
    assert "disk full" in r.json()["detail"]
    assert not Tenant.objects.filter(slug="eta").exists()
    assert not db_exists(tenancy.database_name("eta"))


def test_create_tenant_command(cleanup, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    cleanup("theta")
    call_command("create_tenant", "theta", "Theta")
    assert "theta created" in capsys.readouterr().out
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_tenant", "theta", "Theta")
    with pytest.raises(CommandError, match="slug"):
        call_command("create_tenant", "Bad_Slug", "Bad")

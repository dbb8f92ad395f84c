import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from dbtools import crypto, tenancy
from tenants import provisioning
from tenants.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def table_exists(tenant, table):
    with tenancy.use_tenant(tenant) as ctx:
        from django.db import connections

        return table in connections[ctx.alias].introspection.table_names()


def test_migrate_tenants_applies_pending_and_survives_a_broken_tenant(capsys, scratch_tenants):
    scratch_tenants("mig-one")
    scratch_tenants("mig-two")
    fresh = provisioning.create_tenant("mig-one", "Mig One")
    other = provisioning.create_tenant("mig-two", "Mig Two")
    # A tenant database that is one migration behind, as after an upgrade of DbTools.
    with tenancy.use_tenant(fresh) as ctx:
        call_command("migrate", "core", "zero", database=ctx.alias, verbosity=0)
    assert not table_exists(fresh, "activity_log")
    broken = Tenant.objects.create(
        slug="mig-broken",
        name="Broken",
        db_name=tenancy.database_name("mig-missing"),
        db_user=tenancy.database_name("mig-missing"),
        db_host=other.db_host,
        db_port=other.db_port,
        db_password_encrypted=crypto.encrypt("x"),
    )
    with pytest.raises(CommandError, match="1 tenant\\(s\\) failed: mig-broken"):
        call_command("migrate_tenants")
    out, err = capsys.readouterr()
    assert "mig-one: ok" in out and "mig-two: ok" in out
    assert "mig-broken: FAILED" in err
    assert table_exists(fresh, "activity_log")
    broken.delete()
    tenancy.unregister("mig-broken")
    call_command("migrate_tenants", "mig-one")

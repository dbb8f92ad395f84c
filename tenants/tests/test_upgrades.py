"""A tenant whose upgrade fails is kept out of service until an upgrade succeeds."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from dbtools import tenancy
from tenants import provisioning
from tenants.models import Tenant
from tenants.pgadmin import Endpoint

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def test_failed_migration_takes_only_that_tenant_out_of_service(
    scratch_tenants, make_user, api, tenant_alpha, capsys
):
    scratch_tenants("up-fail")
    tenant = provisioning.create_tenant("up-fail", "Upgrade Fail")
    # One app behind, and a table in the way of its migration: the upgrade fails here.
    with tenancy.use_tenant(tenant) as ctx:
        call_command("migrate", "core", "zero", database=ctx.alias, verbosity=0)
    with Endpoint.of_tenant(tenant).connect() as conn:
        conn.execute("CREATE TABLE activity_log (id int)")
    with pytest.raises(CommandError, match="1 tenant\\(s\\) failed: up-fail"):
        call_command("migrate_tenants", "up-fail", "alpha")
    tenant.refresh_from_db()
    tenant_alpha.refresh_from_db()
    assert tenant.status == Tenant.Status.NEEDS_ATTENTION
    assert tenant_alpha.status == Tenant.Status.ACTIVE
    user = make_user("ann", tenant, "admin")
    client = Client()
    client.force_login(user)
    page = client.get("/servers/")
    assert page.status_code == 403 and "Upgrade Fail is out of service" in page.content.decode()
    answer = api(user, tenant).get("/api/servers/")
    assert answer.status_code == 403 and "out of service" in answer.json()["detail"]
    boss = Client()
    boss.force_login(make_user("boss", is_staff=True, is_superuser=True))
    overview = boss.get("/admin/tenants/tenant/overview/").content.decode()
    assert "Needs attention" in overview and "paused while attention" in overview
    with Endpoint.of_tenant(tenant).connect() as conn:
        conn.execute("DROP TABLE activity_log")
    capsys.readouterr()
    call_command("migrate_tenants", "up-fail")
    assert "up-fail: back in service" in capsys.readouterr().out
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.ACTIVE
    assert client.get("/servers/").status_code == 200

"""Isolation enforced by PostgreSQL, and visible through the API and pages."""

import psycopg
import pytest

from core import activity
from dbtools import crypto

pytestmark = pytest.mark.django_db(databases="__all__")


def connect_as(tenant, dbname):
    return psycopg.connect(
        dbname=dbname,
        user=tenant.db_user,
        password=crypto.decrypt(tenant.db_password_encrypted),
        host=tenant.db_host,
        port=tenant.db_port,
        connect_timeout=5,
    )


def test_tenant_role_reaches_its_own_database(tenant_alpha):
    with connect_as(tenant_alpha, tenant_alpha.db_name) as conn:
        row = conn.execute("SELECT current_database(), current_user").fetchone()
        assert row == (tenant_alpha.db_name, tenant_alpha.db_user)
        # ...and may read its tables (the query fails without the grant).
        conn.execute("SELECT count(*) FROM settings").fetchone()


def test_tenant_role_cannot_connect_to_another_tenant(tenant_alpha, tenant_beta):
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        connect_as(tenant_alpha, tenant_beta.db_name)
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        connect_as(tenant_beta, tenant_alpha.db_name)


def test_system_role_cannot_connect_to_a_tenant(tenant_alpha):
    from django.db import connections

    cfg = connections.settings["default"]
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(
            dbname=tenant_alpha.db_name,
            user=cfg["USER"],
            password=cfg["PASSWORD"] or None,
            host=cfg["HOST"],
            port=cfg["PORT"],
            connect_timeout=5,
        )


def test_rows_of_alpha_invisible_under_beta(
    api, client, admin_user, tenant_alpha, tenant_beta, in_tenant
):
    with in_tenant(tenant_alpha):
        activity.record("secret.created", "secret", 1, "ALPHA-ONLY-MARKER")
    alpha = api(admin_user, tenant_alpha).get("/api/activity").json()
    beta = api(admin_user, tenant_beta).get("/api/activity").json()
    assert any(e["entity_name"] == "ALPHA-ONLY-MARKER" for e in alpha["results"])
    assert not any(e["entity_name"] == "ALPHA-ONLY-MARKER" for e in beta["results"])
    client.force_login(admin_user)
    session = client.session
    session["tenant_slug"] = "beta"
    session.save()
    page = client.get("/activity/")
    assert page.status_code == 200
    assert b"ALPHA-ONLY-MARKER" not in page.content
    client.post("/tenant/select", {"tenant": "alpha", "next": "/activity/"})
    assert b"ALPHA-ONLY-MARKER" in client.get("/activity/").content

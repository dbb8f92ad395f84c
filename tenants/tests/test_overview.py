"""The platform admin's tenants overview and the purge of a deleted tenant."""

from __future__ import annotations

import pytest
from django.test import Client

from dbtools import crypto, tenancy
from engine import due
from tenants import provisioning
from tenants.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def row_of(html: str, slug: str) -> str:
    start = html.index(f'data-slug="{slug}"')
    return html[start : html.index("</tr>", start)]


def test_overview_shows_each_tenant_and_survives_a_dead_one(
    tenant_alpha, tenant_beta, make_user, settings, tmp_path
):
    settings.DBTOOLS_BACKUP_DIR = str(tmp_path)
    from tenants import backup

    made = backup.backup_tenant(tenant_alpha)
    backup.restore_test(made)
    make_user("ann", tenant_alpha, "viewer")
    Tenant.objects.filter(pk=tenant_beta.pk).update(status=Tenant.Status.SUSPENDED)
    ghost = Tenant.objects.create(
        slug="ghost",
        name="Ghost",
        db_name="no_such_db",
        db_user="no_such_role",
        db_password_encrypted=crypto.encrypt("x"),
        db_host="127.0.0.1",
        db_port=5432,
    )
    due.mark(tenant_alpha.pk)
    client = Client()
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    try:
        page = client.get("/admin/tenants/tenant/overview/")
    finally:
        ghost.delete()
        tenancy.unregister("ghost")
    assert page.status_code == 200
    html = page.content.decode()
    alpha = row_of(html, "alpha")
    assert "✓ Active" in alpha
    assert f"{tenant_alpha.db_host or 'localhost'}:{tenant_alpha.db_port}" in alpha
    assert "✓ proven" in alpha and "✓ on time" in alpha and "✓ none" in alpha
    assert "<td>1</td>" in alpha  # one user
    assert "MB" in alpha or "kB" in alpha  # database size
    beta = row_of(html, "beta")
    assert "⏸ paused while suspended" in beta and ">Activate<" in beta
    assert "— none" in beta  # no backup, no restore test
    assert "database does not answer" in row_of(html, "ghost")
    listing = client.get("/admin/tenants/tenant/").content.decode()
    assert "/admin/tenants/tenant/overview/" in listing
    staff = Client()
    staff.force_login(make_user("staff", is_staff=True))
    assert staff.get("/admin/tenants/tenant/overview/").status_code == 403


def test_purge_only_after_typing_the_slug(scratch_tenants, make_user):
    scratch_tenants("gone-soon")
    tenant = provisioning.create_tenant("gone-soon", "Gone Soon")
    client = Client()
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    # Only a deleted tenant can be purged.
    assert client.get("/admin/tenants/tenant/gone-soon/purge/").status_code == 404
    provisioning.delete_tenant(tenant)
    overview = client.get("/admin/tenants/tenant/overview/?deleted=1").content.decode()
    assert "/admin/tenants/tenant/gone-soon/purge/" in overview
    wrong = client.post("/admin/tenants/tenant/gone-soon/purge/", {"confirm_slug": "gone"})
    assert wrong.status_code == 400 and "nothing was changed" in wrong.content.decode()
    with provisioning.admin_connection() as conn:
        assert conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [tenant.db_name]
        ).fetchone()
    done = client.post("/admin/tenants/tenant/gone-soon/purge/", {"confirm_slug": "gone-soon"})
    assert done.status_code == 302
    assert not Tenant.objects.filter(slug="gone-soon").exists()
    with provisioning.admin_connection() as conn:
        assert not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [tenant.db_name]
        ).fetchone()
        assert not conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", [tenant.db_user]
        ).fetchone()

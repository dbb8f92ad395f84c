"""Per-tenant backup, restore and restore tests, on the shared server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from core import activity
from core.models import ActivityLog
from dbtools import tenancy
from tenants import backup, provisioning
from tenants.models import Tenant, TenantBackup

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture(autouse=True)
def backup_dir(settings, tmp_path):
    settings.DBTOOLS_BACKUP_DIR = str(tmp_path / "backups")
    return tmp_path / "backups"


def seed(tenant: Tenant, n: int) -> None:
    with tenancy.use_tenant(tenant):
        for i in range(n):
            activity.record("test.row", "thing", i, f"thing {i}")


def rows(tenant: Tenant) -> int:
    tenancy.unregister(tenant.slug)
    with tenancy.use_tenant(tenant):
        return ActivityLog.objects.filter(action="test.row").count()


def test_backup_restore_test_and_restore_into_a_new_tenant(scratch_tenants, backup_dir, capsys):
    scratch_tenants("bk-one")
    scratch_tenants("bk-copy")
    tenant = provisioning.create_tenant("bk-one", "Backup One")
    seed(tenant, 25)
    call_command("backup_tenant", "bk-one", "--test-restore")
    out = capsys.readouterr().out
    made = TenantBackup.objects.get(tenant=tenant)
    assert Path(made.path).exists() and Path(made.path).parent == backup_dir / "bk-one"
    assert made.size_bytes > 0 and "restore test: restorable" in out
    meta = json.loads(Path(f"{made.path}.json").read_text())
    assert meta["dbtools_version"] == made.dbtools_version != "unknown"
    assert "core.0001_initial" in meta["migrations"]
    assert meta["row_counts"]["activity_log"] == made.row_counts["activity_log"] >= 25
    assert made.restore_test_ok is True and "counts equal" in made.restore_test_detail
    assert backup.last_proven_restorable(tenant) == made
    # The scratch database is gone.
    with provisioning.admin_connection() as conn:
        assert not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname LIKE %s", [f"%_rt_{made.pk}"]
        ).fetchall()
    call_command("restore_tenant", "bk-copy", made.path, "--name", "Backup Copy")
    copy = Tenant.objects.get(slug="bk-copy")
    assert copy.name == "Backup Copy" and copy.db_name != tenant.db_name
    assert rows(copy) == 25
    with tenancy.use_tenant(copy):
        assert ActivityLog.objects.filter(action="tenant.restored").exists()


def test_restore_over_the_same_tenant_needs_confirmation(scratch_tenants):
    scratch_tenants("bk-over")
    tenant = provisioning.create_tenant("bk-over", "Backup Over")
    seed(tenant, 10)
    made = backup.backup_tenant(tenant)
    seed(tenant, 5)
    assert rows(tenant) == 15
    with pytest.raises(CommandError, match="pass --yes"):
        call_command("restore_tenant", "bk-over", made.path, interactive=False)
    assert rows(tenant) == 15
    call_command("restore_tenant", "bk-over", made.path, "--yes")
    assert rows(tenant) == 10
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.ACTIVE


def test_a_newer_schema_is_refused_and_an_older_one_migrated_forward(scratch_tenants):
    scratch_tenants("bk-old")
    scratch_tenants("bk-new")
    tenant = provisioning.create_tenant("bk-old", "Backup Old")
    made = backup.backup_tenant(tenant)
    side = Path(f"{made.path}.json")
    meta = json.loads(side.read_text())
    meta["migrations"].append("core.9999_from_the_future")
    side.write_text(json.dumps(meta))
    with pytest.raises(CommandError, match=r"newer DbTools.*core\.9999_from_the_future"):
        call_command("restore_tenant", "bk-new", made.path)
    assert not Tenant.objects.filter(slug="bk-new").exists()
    # A tenant one app behind, as after an upgrade of DbTools: restored, then migrated.
    with tenancy.use_tenant(tenant) as ctx:
        call_command("migrate", "core", "zero", database=ctx.alias, verbosity=0)
    older = backup.backup_tenant(tenant)
    assert not any(m.startswith("core.") for m in older.migrations)
    call_command("restore_tenant", "bk-new", older.path)
    fresh = Tenant.objects.get(slug="bk-new")
    with tenancy.use_tenant(fresh) as ctx:
        assert "activity_log" in connections[ctx.alias].introspection.table_names()


def test_a_broken_dump_changes_nothing(scratch_tenants, tmp_path):
    scratch_tenants("bk-bad")
    tenant = provisioning.create_tenant("bk-bad", "Backup Bad")
    seed(tenant, 3)
    made = backup.backup_tenant(tenant)
    Path(made.path).write_bytes(b"PGDMP not really")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("restore_tenant", "bk-bad", made.path, "--yes")
    assert rows(tenant) == 3
    failed = backup.restore_test(made)
    assert failed.restore_test_ok is False and "restore failed" in failed.restore_test_detail
    assert backup.last_proven_restorable(tenant) is None


def test_scheduled_backups_keep_the_newest(scratch_tenants, settings):
    scratch_tenants("bk-sched")
    settings.DBTOOLS_BACKUP_KEEP = 2
    tenant = provisioning.create_tenant("bk-sched", "Backup Sched")
    Tenant.objects.exclude(pk=tenant.pk).update(status=Tenant.Status.SUSPENDED)
    for _ in range(3):
        result = backup.run_scheduled(interval_hours=0.000001)
        assert result == {"backed_up": 1, "failed": 0}
    kept = list(tenant.backups.all())
    assert len(kept) == 2 and all(b.restore_test_ok for b in kept)
    assert all(b.kind == TenantBackup.Kind.SCHEDULED for b in kept)
    assert backup.run_scheduled() == {"backed_up": 0, "failed": 0}  # not due again yet


def test_backups_page_download_and_restore(scratch_tenants, make_user):
    from django.test import Client

    scratch_tenants("bk-page")
    tenant = provisioning.create_tenant("bk-page", "Backup Page")
    seed(tenant, 4)
    client = Client()
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    made = client.post("/admin/tenants/tenant/bk-page/backup/")
    assert made.status_code == 302
    assert made["Location"] == "/admin/tenants/tenant/backups/?tenant=bk-page"
    listing = client.get(made["Location"]).content.decode()
    assert "✓ restorable" in listing and "Backup Page" in listing
    taken = TenantBackup.objects.get(tenant=tenant)
    got = client.get(f"/admin/tenants/tenant/backups/{taken.pk}/download/")
    assert got.status_code == 200 and b"".join(got.streaming_content).startswith(b"PGDMP")
    assert "attachment" in got["Content-Disposition"]
    seed(tenant, 2)
    url = f"/admin/tenants/tenant/backups/{taken.pk}/restore/"
    wrong = client.post(url, {"confirm_slug": "bk-pag"})
    assert wrong.status_code == 400 and "nothing was changed" in wrong.content.decode()
    assert rows(tenant) == 6
    assert client.post(url, {"confirm_slug": "bk-page"}).status_code == 302
    assert rows(tenant) == 4
    # Staff who are not platform administrators get nothing.
    staff = Client()
    staff.force_login(make_user("staff", is_staff=True))
    assert staff.get(f"/admin/tenants/tenant/backups/{taken.pk}/download/").status_code == 403
    assert staff.get("/admin/tenants/tenant/backups/").status_code == 403

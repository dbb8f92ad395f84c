"""Per-tenant backups: pg_dump of the tenant's database by its own role, restore, restore tests.

A backup is a custom-format dump plus a JSON file beside it (and a TenantBackup row) with the
migrations applied and the row count of every table, read in the very snapshot pg_dump dumps. A
restore refuses a dump whose schema is newer than this DbTools (it knows migrations we do not)
and migrates an older one forward. A restore test restores a backup into a scratch database,
compares its row counts with the recorded ones and keeps the result: the tenant's "last proven
restorable" backup.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any

import psycopg
import structlog
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from psycopg import sql

from core import activity
from dbtools import crypto, tenancy
from engine import due
from tenants import provisioning
from tenants.models import Tenant, TenantBackup
from tenants.pgadmin import Endpoint, create_tenant_database, drop_tenant_database, tool

log = structlog.get_logger(__name__)


class BackupError(Exception):
    pass


def backup_dir() -> Path:
    configured = getattr(settings, "DBTOOLS_BACKUP_DIR", "")
    return Path(configured) if configured else Path(settings.VAR_DIR) / "backups"


def dbtools_version() -> str:
    try:
        with open(Path(settings.BASE_DIR) / "pyproject.toml", "rb") as fh:
            return tomllib.load(fh)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def _count_rows(cur: psycopg.Cursor) -> dict[str, int]:
    from tenants.move import _tables

    counts = {}
    for t in _tables(cur):
        if t["kind"] == "r":
            q = sql.SQL("SELECT count(*) FROM {}").format(sql.SQL(t["name"]))
            counts[t["name"]] = cur.execute(q).fetchone()[0]
    return counts


def _migrations(cur: psycopg.Cursor) -> list[str]:
    return [f"{a}.{n}" for a, n in cur.execute("SELECT app, name FROM django_migrations")]


def backup_tenant(
    tenant: Tenant,
    *,
    acting_user: AbstractBaseUser | None = None,
    kind: str = TenantBackup.Kind.MANUAL,
) -> TenantBackup:
    """Dump the tenant's database as its own role; counts and migrations from the same snapshot."""
    ep = Endpoint.of_tenant(tenant)
    folder = backup_dir() / tenant.slug
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    path = folder / f"{tenant.slug}-{stamp}-{secrets.token_hex(3)}.dump"
    started = time.monotonic()
    with ep.connect(autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = cur.execute("SELECT pg_export_snapshot()").fetchone()[0]
        migrations = sorted(_migrations(cur))
        counts = _count_rows(cur)
        dump = subprocess.run(
            [
                tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
                f"--file={path}",
            ],
            env=ep.env(),
            capture_output=True,
            text=True,
        )
        conn.rollback()
    if dump.returncode != 0:
        path.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {dump.stderr.strip()}")
    path.chmod(0o600)
    meta = {
        "tenant": tenant.slug,
        "name": tenant.name,
        "created_at": timezone.now().isoformat(),
        "dbtools_version": dbtools_version(),
        "migrations": migrations,
        "row_counts": counts,
        "format": "pg_dump custom",
    }
    Path(f"{path}.json").write_text(json.dumps(meta, indent=1))
    backup = TenantBackup.objects.create(
        tenant=tenant,
        kind=kind,
        path=str(path),
        size_bytes=path.stat().st_size,
        seconds=round(time.monotonic() - started, 3),
        dbtools_version=meta["dbtools_version"],
        migrations=migrations,
        row_counts=counts,
        requested_by=acting_user if getattr(acting_user, "is_authenticated", False) else None,
    )
    with contextlib.suppress(Exception), tenancy.use_tenant(tenant):
        activity.record(
            "tenant.backed_up",
            "tenant",
            tenant.pk,
            tenant.name,
            {"file": path.name, "bytes": backup.size_bytes},
            acting_user,
        )
    log.info("tenant.backed_up", slug=tenant.slug, path=str(path), bytes=backup.size_bytes)
    return backup


def read_meta(path: str | Path) -> dict[str, Any]:
    side = Path(f"{path}.json")
    if not side.exists():
        raise BackupError(f"{side} is missing: it records the dump's migrations.")
    return json.loads(side.read_text())


def known_migrations() -> set[str]:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {f"{app}.{name}" for app, name in loader.disk_migrations}


def check_schema(meta: dict[str, Any]) -> list[str]:
    """Migrations the dump has that this DbTools does not know: a dump from a newer DbTools."""
    return sorted(set(meta.get("migrations", [])) - known_migrations())


def _restore_into(ep: Endpoint, path: str | Path, clean: bool) -> None:
    """pg_restore into `ep` as the tenant's role, all or nothing: one transaction; `clean`
    empties the schema first (inside that same transaction)."""
    script = subprocess.run(
        [tool("pg_restore"), "--no-owner", "--no-privileges", "--file=-", str(path)],
        capture_output=True,
    )
    if script.returncode != 0:
        raise BackupError(f"pg_restore cannot read {path}: {script.stderr.decode().strip()}")
    prefix = b"DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n" if clean else b""
    load = subprocess.run(
        [
            tool("psql"),
            "-X",
            "-q",
            "--single-transaction",
            "-v",
            "ON_ERROR_STOP=1",
            "-o",
            "/dev/null",
        ],
        input=prefix + script.stdout,
        env=ep.env(),
        capture_output=True,
    )
    if load.returncode != 0:
        raise BackupError(f"restoring failed (nothing changed): {load.stderr.decode().strip()}")


def restore_tenant(
    slug: str,
    path: str | Path,
    *,
    acting_user: AbstractBaseUser | None = None,
    name: str | None = None,
    overwrite: bool = False,
) -> Tenant:
    """Restore a dump into a new tenant `slug`, or over the existing tenant `slug` when
    `overwrite` (the caller has had it confirmed). An older schema is migrated forward."""
    meta = read_meta(path)
    newer = check_schema(meta)
    if newer:
        raise BackupError(
            "The dump comes from a newer DbTools (its schema has migrations this one does not "
            f"know: {', '.join(newer[:5])}); upgrade DbTools first."
        )
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is not None and not overwrite:
        raise BackupError(f"Tenant {slug!r} exists: restoring over it needs confirmation.")
    if tenant is None:
        return _restore_new(slug, name or meta.get("name") or slug, path, acting_user)
    return _restore_over(tenant, path, meta, acting_user)


def _restore_new(
    slug: str, name: str, path: str | Path, acting_user: AbstractBaseUser | None
) -> Tenant:
    provisioning.validate_new_tenant(slug, name)
    db = tenancy.database_name(slug)
    password = secrets.token_urlsafe(32)
    admin = Endpoint.system()
    create_tenant_database(admin, db, password, db)
    tenant = Tenant(
        slug=slug,
        name=name.strip(),
        db_name=db,
        db_user=db,
        db_password_encrypted=crypto.encrypt(password),
        db_host=admin.host,
        db_port=admin.port,
    )
    try:
        _restore_into(Endpoint.of_tenant(tenant), path, clean=False)
        tenant.save()
        provisioning.migrate_tenant(tenant)
        with tenancy.use_tenant(tenant):
            activity.record(
                "tenant.restored",
                "tenant",
                tenant.pk,
                tenant.name,
                {"file": Path(path).name, "new_tenant": True},
                acting_user,
            )
    except BaseException:
        tenancy.unregister(slug)
        if tenant.pk:
            Tenant.objects.filter(pk=tenant.pk).delete()
        drop_tenant_database(admin, db, db)
        raise
    return tenant


def _restore_over(
    tenant: Tenant, path: str | Path, meta: dict[str, Any], acting_user: AbstractBaseUser | None
) -> Tenant:
    """Replace the tenant's data with the dump's. Background work pauses and writes get a 503
    meanwhile (the same freeze as a move); a failed restore changes nothing."""
    if tenant.status not in (Tenant.Status.ACTIVE, Tenant.Status.SUSPENDED):
        raise BackupError(f"Tenant {tenant.slug} is {tenant.status}; it cannot be restored now.")
    previous = tenant.status
    Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.MOVING)
    tenancy.unregister(tenant.slug)
    try:
        ep = Endpoint.of_tenant(tenant)
        with ep.connect() as conn:
            # Open sessions of the tenant would hold locks on the tables the restore drops.
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s "
                "AND datname = %s AND pid <> pg_backend_pid()",
                [tenant.db_user, tenant.db_name],
            )
        _restore_into(ep, path, clean=True)
        provisioning.migrate_tenant(tenant)
    finally:
        Tenant.objects.filter(pk=tenant.pk).update(status=previous)
        tenant.refresh_from_db()
        due.mark(tenant.pk)
    with tenancy.use_tenant(tenant):
        activity.record(
            "tenant.restored",
            "tenant",
            tenant.pk,
            tenant.name,
            {"file": Path(path).name, "from": meta.get("created_at")},
            acting_user,
        )
    return tenant


def restore_test(backup: TenantBackup) -> TenantBackup:
    """Restore the backup into a scratch database, compare row counts with those recorded at
    dump time, record the result, drop the scratch database."""
    tenant = backup.tenant
    scratch = f"{settings.DBTOOLS_TENANT_DB_PREFIX}_rt_{backup.pk}"[:63]
    admin = Endpoint.system()
    ok, detail = False, ""
    try:
        if not admin.same_server(Endpoint.of_tenant(tenant)):
            raise BackupError("restore tests run on the system database's server only")
        with admin.connect() as conn:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(tenant.db_user)))
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
            )
            conn.execute("RESET ROLE")
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(
                    sql.Identifier(scratch), sql.Identifier(tenant.db_user)
                )
            )
        ep = Endpoint.of_tenant(tenant).on(scratch)
        _restore_into(ep, backup.path, clean=False)
        with ep.connect() as conn, conn.cursor() as cur:
            counts = _count_rows(cur)
        wrong = {t: (n, counts.get(t)) for t, n in backup.row_counts.items() if counts.get(t) != n}
        ok = not wrong
        total = sum(backup.row_counts.values())
        detail = (
            f"{len(counts)} tables, {total} rows restored, counts equal"
            if ok
            else f"row counts differ: {wrong}"
        )
    except Exception as exc:
        detail = f"restore failed: {exc}"
    finally:
        with contextlib.suppress(Exception), admin.connect() as conn:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(tenant.db_user)))
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
            )
    backup.restore_tested_at = timezone.now()
    backup.restore_test_ok = ok
    backup.restore_test_detail = detail[:2000]
    backup.save(update_fields=["restore_tested_at", "restore_test_ok", "restore_test_detail"])
    log.info("tenant.restore_tested", slug=tenant.slug, backup=backup.pk, ok=ok)
    return backup


def last_proven_restorable(tenant: Tenant) -> TenantBackup | None:
    return tenant.backups.filter(restore_test_ok=True).order_by("-created_at").first()


def prune(tenant: Tenant, keep: int) -> int:
    """Keep the newest `keep` backups of the tenant (and always the last proven restorable)."""
    proven = last_proven_restorable(tenant)
    old = list(tenant.backups.order_by("-created_at")[keep:])
    removed = 0
    for b in old:
        if proven is not None and b.pk == proven.pk:
            continue
        for f in (Path(b.path), Path(f"{b.path}.json")):
            f.unlink(missing_ok=True)
        b.delete()
        removed += 1
    return removed


def run_scheduled(now: Any = None, interval_hours: float | None = None) -> dict[str, int]:
    """Back up every active tenant whose last backup is older than the interval, test the new
    backup's restore and apply the retention. For a periodic task or cron."""
    interval = interval_hours or float(getattr(settings, "DBTOOLS_BACKUP_INTERVAL_HOURS", 24))
    keep = int(getattr(settings, "DBTOOLS_BACKUP_KEEP", 7))
    now = now or timezone.now()
    done = failed = 0
    for tenant in Tenant.objects.filter(status=Tenant.Status.ACTIVE).order_by("pk"):
        last = tenant.backups.order_by("-created_at").first()
        if last and (now - last.created_at).total_seconds() < interval * 3600:
            continue
        try:
            backup = backup_tenant(tenant, kind=TenantBackup.Kind.SCHEDULED)
            restore_test(backup)
            prune(tenant, keep)
            done += 1
        except Exception:
            log.exception("tenant.scheduled_backup_failed", slug=tenant.slug)
            failed += 1
    return {"backed_up": done, "failed": failed}


def backup_task(tenant_id: int, user_id: int | None = None) -> str:
    """Django-Q entry point: a backup from the platform admin, then its restore test."""
    from django.contrib.auth import get_user_model

    tenant = Tenant.objects.get(pk=tenant_id)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    made = backup_tenant(tenant, acting_user=user)
    restore_test(made)
    return f"backup {made.pk}: restorable={made.restore_test_ok}"


def restore_test_task(backup_id: int) -> str:
    made = restore_test(TenantBackup.objects.select_related("tenant").get(pk=backup_id))
    return f"backup {made.pk}: restorable={made.restore_test_ok}"


def restore_task(backup_id: int, user_id: int | None = None) -> str:
    """Django-Q entry point: restore a listed backup over its own tenant (confirmed in the UI)."""
    from django.contrib.auth import get_user_model

    made = TenantBackup.objects.select_related("tenant").get(pk=backup_id)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    restore_tenant(made.tenant.slug, made.path, acting_user=user, overwrite=True)
    return f"restored backup {made.pk} over {made.tenant.slug}"


def scheduled_task() -> str:
    """Hourly: each tenant is backed up when its DBTOOLS_BACKUP_INTERVAL_HOURS has passed."""
    result = run_scheduled()
    return f"{result['backed_up']} backed up, {result['failed']} failed"

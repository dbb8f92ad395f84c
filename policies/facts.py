"""Compliance facts, read from each server itself: per database its recovery model, state and
creation date, the newest full, differential and log backup recorded in msdb (whoever made
them), and the last good CHECKDB from the database's boot page.

They change slowly, so they are read far less often than metrics (every `INTERVAL`), as routine
background work: a tick every minute claims, from the engine's due index (kind "facts"), the
tenants with servers due and queues one task for each on the routine cluster (a tenant with
nothing due costs no query on its database); the task claims the servers that are due with a
conditional UPDATE (so a task delivered twice reads each server once), reads them a few at a
time, and stores the tenant's next due time. Only the latest state is kept.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import structlog
from django.db.models import F, Q
from django.utils import timezone

from dbtools import tenancy
from policies.models import ComplianceSnapshot, DatabaseState, FactsCollection
from servers import actions as server_actions
from servers import sqlclient
from servers.models import Server

log = structlog.get_logger(__name__)

INTERVAL = dt.timedelta(minutes=15)
# A worker that dies mid-collection leaves its claim; another takes the server after this.
LEASE = dt.timedelta(minutes=5)
THREADS = 8
TIMEOUT = 30  # seconds per server: msdb history can be large on a busy server
# The fleet figure is recomputed when time alone changes a verdict (the snapshot's changes_at),
# after new facts, and at the latest this long after the last time, for what changed meanwhile
# in configuration (a group's members, a policy edited). Every 5 minutes for every tenant cost a
# routine task and a tenant connection per tenant per 5 minutes, most of them recomputing the
# same figure.
SNAPSHOT_AGE = dt.timedelta(minutes=15)
TENANTS_PER_TICK = 500
# The tick's claim on a tenant: the queued task should have run by then, or it was lost.
VISIT_LEASE = dt.timedelta(minutes=10)

# Per database. DATABASEPROPERTYEX(..., 'LastGoodCheckDbTime') is the documented way to read the
# boot page's last known good CHECKDB (SQL Server 2016 SP2 and later); it answers 1900-01-01 when
# no CHECKDB ever succeeded, and NULL on older versions and for databases that are not started.
# Times in msdb and on the boot page are the server's local time: the offset converts them.
DATABASES_SQL = """\
SELECT d.name, d.database_id, d.recovery_model_desc, d.state_desc, d.create_date,
       CAST(CASE WHEN d.replica_id IS NULL THEN 0 ELSE 1 END AS bit) AS in_availability_group,
       CAST(DATABASEPROPERTYEX(d.name, 'LastGoodCheckDbTime') AS datetime) AS last_good_checkdb,
       DATEDIFF(minute, GETUTCDATE(), GETDATE()) AS utc_offset_minutes
FROM sys.databases AS d
WHERE d.source_database_id IS NULL
ORDER BY d.name;"""

# The newest backup per database, type and copy-only flag. backupset.type is char(1): cast to
# nvarchar so every driver hands back a plain string.
BACKUPS_SQL = """\
WITH ranked AS (
    SELECT b.database_name, CAST(b.type AS nvarchar(1)) AS backup_type, b.is_copy_only,
           b.backup_start_date, b.backup_finish_date, b.backup_size, b.compressed_backup_size,
           b.has_backup_checksums, b.media_set_id,
           ROW_NUMBER() OVER (PARTITION BY b.database_name, b.type, b.is_copy_only
                              ORDER BY b.backup_finish_date DESC) AS rn
    FROM msdb.dbo.backupset AS b
    WHERE b.type IN ('D', 'I', 'L') AND b.backup_finish_date IS NOT NULL
)
SELECT r.database_name, r.backup_type, r.is_copy_only, r.backup_start_date,
       r.backup_finish_date, r.backup_size, r.compressed_backup_size, r.has_backup_checksums,
       mf.physical_device_name
FROM ranked AS r
LEFT JOIN msdb.dbo.backupmediafamily AS mf
       ON mf.media_set_id = r.media_set_id AND mf.family_sequence_number = 1
WHERE r.rn = 1
ORDER BY r.database_name, r.backup_type, r.is_copy_only;"""

KINDS = {"D": "full", "I": "diff", "L": "log"}
_NEVER = dt.datetime(1900, 1, 2)  # the boot page's "never": anything before this


@dataclass
class ServerReading:
    server_id: int
    databases: list[dict[str, Any]] = field(default_factory=list)
    utc_offset_minutes: int | None = None
    error: str = ""


def _utc(value: dt.datetime | None, offset: int) -> dt.datetime | None:
    if value is None or value < _NEVER:
        return None
    if value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    return (value - dt.timedelta(minutes=offset)).replace(tzinfo=dt.UTC)


def read(conn: sqlclient.SqlConnection, server_id: int = 0) -> ServerReading:
    """What one server knows about its databases' backups and integrity checks."""
    rows = conn.query_dicts(DATABASES_SQL)
    offset = int(rows[0]["utc_offset_minutes"] or 0) if rows else 0
    databases: dict[str, dict[str, Any]] = {}
    for r in rows:
        databases[r["name"]] = {
            "name": r["name"],
            "database_id": int(r["database_id"] or 0),
            "recovery_model": r["recovery_model_desc"] or "",
            "state": r["state_desc"] or "",
            "created": _utc(r["create_date"], offset),
            "in_availability_group": bool(r["in_availability_group"]),
            "last_good_checkdb": _utc(r["last_good_checkdb"], offset),
            "last_full": None,
            "last_diff": None,
            "last_log": None,
            "backups": {},
        }
    for b in conn.query_dicts(BACKUPS_SQL):
        db = databases.get(b["database_name"])
        kind = KINDS.get(b["backup_type"])
        if db is None or kind is None:  # history of a database dropped since
            continue
        finished = _utc(b["backup_finish_date"], offset)
        started = _utc(b["backup_start_date"], offset)
        copy_only = bool(b["is_copy_only"])
        db["backups"][kind + ("_copy_only" if copy_only else "")] = {
            "finished": finished.isoformat() if finished else None,
            "started": started.isoformat() if started else None,
            "duration_seconds": (
                int((finished - started).total_seconds()) if finished and started else None
            ),
            "size_bytes": int(b["backup_size"] or 0),
            "compressed_bytes": int(b["compressed_backup_size"] or 0),
            "checksum": bool(b["has_backup_checksums"]),
            "copy_only": copy_only,
            "device": b["physical_device_name"] or "",
        }
        if not copy_only:  # copy-only backups are outside the restore chain
            db["last_" + kind] = finished
    return ServerReading(server_id, list(databases.values()), offset)


def read_server(server: Server) -> ServerReading:
    """Read one server; a failure is kept as the reading's error, never raised."""
    try:
        with sqlclient.connect(server_actions.target_for(server), timeout=TIMEOUT) as conn:
            return read(conn, server.pk)
    except sqlclient.TargetError as exc:
        return ServerReading(server.pk, error=exc.message)


def store(reading: ServerReading, now: dt.datetime | None = None) -> None:
    """Replace the server's database states with this reading (or record why it failed)."""
    now = now or timezone.now()
    sid = reading.server_id
    with tenancy.atomic():
        if reading.error:
            FactsCollection.objects.filter(server_id=sid).update(
                attempted_at=now, claimed_until=None, error=reading.error
            )
            return
        names = [d["name"] for d in reading.databases]
        DatabaseState.objects.filter(server_id=sid).exclude(name__in=names).delete()
        DatabaseState.objects.bulk_create(
            [DatabaseState(server_id=sid, collected_at=now, **d) for d in reading.databases],
            update_conflicts=True,
            unique_fields=["server", "name"],
            update_fields=[
                "database_id",
                "recovery_model",
                "state",
                "created",
                "in_availability_group",
                "last_full",
                "last_diff",
                "last_log",
                "last_good_checkdb",
                "backups",
                "collected_at",
            ],
        )
        FactsCollection.objects.filter(server_id=sid).update(
            collected_at=now,
            attempted_at=now,
            claimed_until=None,
            error="",
            utc_offset_minutes=reading.utc_offset_minutes,
        )


def _ensure_rows() -> None:
    missing = (
        Server.objects.alive().filter(facts_collection__isnull=True).values_list("pk", flat=True)
    )
    FactsCollection.objects.bulk_create(
        [FactsCollection(server_id=pk) for pk in missing], ignore_conflicts=True
    )


def due(now: dt.datetime) -> list[int]:
    return list(
        FactsCollection.objects.filter(server__deleted_at__isnull=True)
        .filter(Q(attempted_at__isnull=True) | Q(attempted_at__lte=now - INTERVAL))
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by(F("attempted_at").asc(nulls_first=True))
        .values_list("server_id", flat=True)
    )


def claim(server_id: int, now: dt.datetime) -> bool:
    return bool(
        FactsCollection.objects.filter(server_id=server_id)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + LEASE)
    )


def collect(limit: int | None = None, now: dt.datetime | None = None) -> dict[str, int]:
    """Read every due server of the current tenant. Threads only talk to the servers; the
    tenant database is written from this thread (the tenant context does not cross threads)."""
    now = now or timezone.now()
    _ensure_rows()
    claimed = [sid for sid in due(now)[:limit] if claim(sid, now)]
    servers = list(Server.objects.filter(pk__in=claimed))
    failed = 0
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for reading in pool.map(read_server, servers):
            store(reading, now)
            failed += bool(reading.error)
    return {"servers": len(servers), "failed": failed}


def next_due() -> dt.datetime | None:
    """When the current tenant next has facts to read or a fleet figure to refresh (None: no
    servers). A claimed server counts from when its claim ends."""
    rows = FactsCollection.objects.filter(server__deleted_at__isnull=True).values_list(
        "attempted_at", "claimed_until"
    )
    now = timezone.now()
    times = [
        max(attempted + INTERVAL if attempted else now, claimed or now)
        for attempted, claimed in rows
    ]
    if Server.objects.alive().filter(facts_collection__isnull=True).exists():
        times.append(now)  # a server never read
    if not times:
        return None
    snapshot = ComplianceSnapshot.objects.filter(pk=1).values_list("computed_at", "changes_at")
    times.append(snapshot_due(*snapshot[0]) if snapshot else now)
    return min(times)


def snapshot_due(computed_at: dt.datetime, changes_at: dt.datetime | None) -> dt.datetime:
    """When the fleet figure computed at `computed_at` must be computed again."""
    return min(computed_at + SNAPSHOT_AGE, changes_at or computed_at + SNAPSHOT_AGE)


def collect_tenant(slug: str, owner: str = "") -> dict[str, Any]:
    """Routine task: one tenant's due servers, then its fleet compliance figure; then the
    tenant's next due time in the due index (releasing the tick's claim `owner`)."""
    from engine import due as due_index
    from policies import standing

    with tenancy.use_tenant_slug(slug) as ctx:
        result = collect()
        # The fleet figure follows new facts at once, and time passing (a log backup growing
        # late) when it changes a verdict; judging a large fleet takes seconds.
        snapshot = ComplianceSnapshot.objects.filter(pk=1).first()
        stale = (
            snapshot is None
            or snapshot_due(snapshot.computed_at, snapshot.changes_at) <= timezone.now()
        )
        if result["servers"] or stale:
            result["snapshot_ms"] = standing.refresh_snapshot().duration_ms
        due_index.refresh(ctx.id, due_index.FACTS, release=owner)
    log.info("compliance_facts.collected", tenant=slug, **result)
    return {"tenant": slug, **result}


def tick() -> int:
    """Periodic task: claim the tenants whose facts are due (one query on the due index) and
    queue each one's collection on the routine cluster. The claim lasts until the task has had
    time to run; a task lost on the way is retried once it runs out."""
    import os
    import socket
    import uuid

    from dbtools.tasks import enqueue
    from engine import due as due_index

    owner = f"{socket.gethostname()}:{os.getpid()}:facts:{uuid.uuid4().hex[:8]}"
    claimed = due_index.claim(
        owner, TENANTS_PER_TICK, timezone.now(), VISIT_LEASE.total_seconds(), kind=due_index.FACTS
    )
    tenants = tenancy.tenant_model().objects.in_bulk([tenant_id for tenant_id, _ in claimed])
    for tenant_id, _ in claimed:
        tenant = tenants.get(tenant_id)
        if tenant is None:
            due_index.release(tenant_id, owner, due_index.FACTS)
            continue
        enqueue("policies.facts.collect_tenant", tenant.slug, owner, kind="routine")
    return len(claimed)


def mark_due_on_commit() -> None:
    """A server's facts became due now (a policy ran on it, a server was added)."""
    from engine import due as due_index

    due_index.mark_on_commit(due_index.FACTS)


def invalidate_snapshot() -> None:
    """In a write's transaction: what the fleet figure judges changed (a deployment, an
    exemption); recompute it at the next tick rather than when it next ages out."""
    ComplianceSnapshot.objects.filter(pk=1).update(changes_at=timezone.now())
    mark_due_on_commit()

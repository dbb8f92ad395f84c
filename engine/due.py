"""The due index: per tenant and kind of work, when something is next due.

Tenant-side code keeps it current (after a collection batch is written, and on commit of anything
that changes what is due); collector slots find work with one indexed query here instead of
asking every tenant database. `repair` recomputes every active tenant's rows from its own
database, rarely, as a safety net.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import structlog
from django.db import connections, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from dbtools import tenancy
from engine.models import DueWork

log = structlog.get_logger(__name__)
COLLECT = DueWork.Kind.COLLECT
# kind -> function computing, inside the tenant's context, when that kind is next due (or None).
COMPUTERS = {COLLECT: "monitoring.collector.next_due_in_tenant"}


def _cursor() -> Any:
    return connections["default"].cursor()


def mark(tenant_id: int, kind: str = COLLECT, at: dt.datetime | None = None) -> None:
    """Something of `kind` became due at `at` (default now): bring the row forward, never back."""
    at = at or timezone.now()
    with _cursor() as cur:
        cur.execute(
            """INSERT INTO engine_due_work (tenant_id, kind, due_at, marked_at, claimed_by)
               VALUES (%s, %s, %s, now(), '')
               ON CONFLICT (tenant_id, kind) DO UPDATE SET
                 due_at = LEAST(engine_due_work.due_at, excluded.due_at), marked_at = now()""",
            [tenant_id, kind, at],
        )


def mark_on_commit(kind: str = COLLECT) -> None:
    """For action functions: mark the current tenant once its transaction commits."""
    ctx = tenancy.current()
    transaction.on_commit(lambda: mark(ctx.id, kind), using=ctx.alias)


def set_due(
    tenant_id: int,
    due_at: dt.datetime | None,
    computed_since: dt.datetime,
    kind: str = COLLECT,
    release: str = "",
) -> None:
    """Store an exact recomputation begun at `computed_since`. A mark that arrived meanwhile
    wins if it is earlier. `release`: also drop the visit claim held by that owner."""
    with _cursor() as cur:
        cur.execute(
            """INSERT INTO engine_due_work (tenant_id, kind, due_at, marked_at, claimed_by)
               VALUES (%(t)s, %(k)s, %(due)s, NULL, '')
               ON CONFLICT (tenant_id, kind) DO UPDATE SET
                 due_at = CASE WHEN engine_due_work.marked_at >= %(since)s
                               THEN LEAST(engine_due_work.due_at, excluded.due_at)
                               ELSE excluded.due_at END,
                 claimed_by = CASE WHEN engine_due_work.claimed_by = %(owner)s AND %(owner)s <> ''
                                   THEN '' ELSE engine_due_work.claimed_by END,
                 claimed_until = CASE WHEN engine_due_work.claimed_by = %(owner)s
                                           AND %(owner)s <> ''
                                      THEN NULL ELSE engine_due_work.claimed_until END""",
            {"t": tenant_id, "k": kind, "due": due_at, "since": computed_since, "owner": release},
        )


def claim(
    owner: str, limit: int, horizon: dt.datetime, lease_seconds: float, kind: str = COLLECT
) -> list[tuple[int, dt.datetime]]:
    """Claim up to `limit` active tenants with work due by `horizon`, oldest due first (fair:
    a tenant released with more work due goes back in line behind older ones). Returns
    (tenant_id, due_at) in that order."""
    if limit <= 0:
        return []
    now = timezone.now()
    with _cursor() as cur:
        cur.execute(
            """UPDATE engine_due_work d SET claimed_by = %(owner)s, claimed_until = %(until)s
               FROM (SELECT w.id FROM engine_due_work w JOIN tenants t ON t.id = w.tenant_id
                     WHERE w.kind = %(kind)s AND w.due_at <= %(horizon)s
                       AND (w.claimed_until IS NULL OR w.claimed_until < %(now)s)
                       AND t.status = 'active'
                     ORDER BY w.due_at LIMIT %(limit)s
                     FOR UPDATE OF w SKIP LOCKED) pick
               WHERE d.id = pick.id
               RETURNING d.tenant_id, d.due_at""",
            {
                "owner": owner,
                "until": now + dt.timedelta(seconds=lease_seconds),
                "kind": kind,
                "horizon": horizon,
                "now": now,
                "limit": limit,
            },
        )
        return sorted(cur.fetchall(), key=lambda r: r[1])


def refresh(
    tenant_id: int,
    kind: str = COLLECT,
    release: str = "",
    not_before: dt.datetime | None = None,
) -> dt.datetime | None:
    """Recompute the current tenant's row from its database and store it. `not_before` sends a
    tenant with more work due to the back of the line (fair: a big backlog goes in batches,
    taking turns with other tenants)."""
    since = timezone.now()
    compute: Callable[[], dt.datetime | None] = import_string(COMPUTERS[kind])
    due_at = compute()
    if due_at is not None and not_before is not None:
        due_at = max(due_at, not_before)
    set_due(tenant_id, due_at, since, kind, release)
    return due_at


def repair() -> dict[str, int]:
    """Recompute every active tenant's rows from its own database (the safety net: a lost
    on-commit mark or a bug can delay work by at most one repair interval)."""

    def refresh_all() -> None:
        tenant_id = tenancy.current().id
        for kind in COMPUTERS:
            refresh(tenant_id, kind)

    done, failed = tenancy.run_in_each_tenant(
        refresh_all, failure_event="due.repair_failed", active_only=True
    )
    return {"tenants": len(done), "failed": failed}


def release(tenant_id: int, owner: str, kind: str = COLLECT) -> None:
    """Give back a visit claim without touching the due time."""
    DueWork.objects.filter(tenant_id=tenant_id, kind=kind, claimed_by=owner).update(
        claimed_by="", claimed_until=None
    )

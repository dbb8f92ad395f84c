"""The due index: per tenant and kind of work, when something is next due.

Tenant-side code keeps it current (after a collection batch is written, and on commit of anything
that changes what is due); collector slots find work with one indexed query here instead of
asking every tenant database. `repair` recomputes every active tenant's rows from its own
database, rarely, as a safety net.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, NamedTuple

import structlog
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from dbtools import tenancy
from engine.models import DueWork

log = structlog.get_logger(__name__)
COLLECT = DueWork.Kind.COLLECT
JOBS = DueWork.Kind.JOBS
FACTS = DueWork.Kind.FACTS
# kind -> function computing, inside the tenant's context, when that kind is next due (or None).
# For a kind split into parts the function takes the part number.
COMPUTERS = {
    COLLECT: "monitoring.collector.next_due_in_tenant",
    JOBS: "scheduler.engine.next_due",
    FACTS: "policies.facts.next_due",
}


def parts(kind: str) -> int:
    """How many parts a kind of work is split into: collection has one per collector slot."""
    return settings.DBTOOLS_COLLECT_SLOTS if kind == COLLECT else 1


def _cursor() -> Any:
    return connections["default"].cursor()


def mark(tenant_id: int, kind: str = COLLECT, at: dt.datetime | None = None) -> None:
    """Something of `kind` became due at `at` (default now): bring the rows of every part
    forward, never back (the next visit of each part recomputes the exact time)."""
    at = at or timezone.now()
    with _cursor() as cur:
        cur.execute(
            """INSERT INTO engine_due_work (tenant_id, kind, part, due_at, marked_at, claimed_by)
               SELECT %s, %s, p, %s, now(), '' FROM generate_series(0, %s - 1) p
               ON CONFLICT (tenant_id, kind, part) DO UPDATE SET
                 due_at = LEAST(engine_due_work.due_at, excluded.due_at), marked_at = now()""",
            [tenant_id, kind, at, parts(kind)],
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
    part: int = 0,
) -> None:
    """Store an exact recomputation begun at `computed_since`. A mark that arrived meanwhile
    wins if it is earlier. `release`: also drop the visit claim held by that owner."""
    with _cursor() as cur:
        cur.execute(
            """INSERT INTO engine_due_work (tenant_id, kind, part, due_at, marked_at, claimed_by)
               VALUES (%(t)s, %(k)s, %(p)s, %(due)s, NULL, '')
               ON CONFLICT (tenant_id, kind, part) DO UPDATE SET
                 due_at = CASE WHEN engine_due_work.marked_at >= %(since)s
                               THEN LEAST(engine_due_work.due_at, excluded.due_at)
                               ELSE excluded.due_at END,
                 claimed_by = CASE WHEN engine_due_work.claimed_by = %(owner)s AND %(owner)s <> ''
                                   THEN '' ELSE engine_due_work.claimed_by END,
                 claimed_until = CASE WHEN engine_due_work.claimed_by = %(owner)s
                                           AND %(owner)s <> ''
                                      THEN NULL ELSE engine_due_work.claimed_until END""",
            {
                "t": tenant_id,
                "k": kind,
                "p": part,
                "due": due_at,
                "since": computed_since,
                "owner": release,
            },
        )


class Claim(NamedTuple):
    tenant_id: int
    part: int
    due_at: dt.datetime


def claim_parts(
    owner: str,
    limit: int,
    horizon: dt.datetime,
    lease_seconds: float,
    kind: str = COLLECT,
    *,
    part: int | None = None,
    steal_after: float | None = None,
) -> list[Claim]:
    """Claim up to `limit` rows of active tenants with work due by `horizon`, oldest due first
    (fair: a tenant released with more work due goes back in line behind older ones).

    `part`: only that part's rows, and, with `steal_after`, other parts' rows overdue by that
    many seconds: a part whose slot died or fell behind is taken over by the others."""
    if limit <= 0:
        return []
    now = timezone.now()
    steal = now - dt.timedelta(seconds=steal_after) if steal_after is not None else None
    with _cursor() as cur:
        cur.execute(
            """UPDATE engine_due_work d SET claimed_by = %(owner)s, claimed_until = %(until)s
               FROM (SELECT w.id FROM engine_due_work w JOIN tenants t ON t.id = w.tenant_id
                     WHERE w.kind = %(kind)s AND w.due_at <= %(horizon)s
                       AND (w.claimed_until IS NULL OR w.claimed_until < %(now)s)
                       AND t.status = 'active'
                       AND (%(part)s::int IS NULL OR w.part = %(part)s
                            OR w.due_at <= %(steal)s::timestamptz)
                     ORDER BY w.part IS DISTINCT FROM %(part)s, w.due_at
                     LIMIT %(limit)s
                     FOR UPDATE OF w SKIP LOCKED) pick
               WHERE d.id = pick.id
               RETURNING d.tenant_id, d.part, d.due_at""",
            {
                "owner": owner,
                "until": now + dt.timedelta(seconds=lease_seconds),
                "kind": kind,
                "horizon": horizon,
                "now": now,
                "limit": limit,
                "part": part,
                "steal": steal,
            },
        )
        return sorted((Claim(*row) for row in cur.fetchall()), key=lambda c: c.due_at)


def claim(
    owner: str, limit: int, horizon: dt.datetime, lease_seconds: float, kind: str = COLLECT
) -> list[tuple[int, dt.datetime]]:
    """Claim up to `limit` tenants with work of a one-part kind due by `horizon`, oldest due
    first. Returns (tenant_id, due_at) in that order."""
    return [
        (c.tenant_id, c.due_at) for c in claim_parts(owner, limit, horizon, lease_seconds, kind)
    ]


def refresh(
    tenant_id: int,
    kind: str = COLLECT,
    release: str = "",
    not_before: dt.datetime | None = None,
    part: int = 0,
) -> dt.datetime | None:
    """Recompute the current tenant's row from its database and store it. `not_before` sends a
    tenant with more work due to the back of the line (fair: a big backlog goes in batches,
    taking turns with other tenants)."""
    since = timezone.now()
    compute: Callable[..., dt.datetime | None] = import_string(COMPUTERS[kind])
    due_at = compute(part) if parts(kind) > 1 else compute()
    if due_at is not None and not_before is not None:
        due_at = max(due_at, not_before)
    set_due(tenant_id, due_at, since, kind, release, part)
    return due_at


def repair() -> dict[str, int]:
    """Recompute every active tenant's rows from its own database (the safety net: a lost
    on-commit mark or a bug can delay work by at most one repair interval)."""

    def refresh_all() -> None:
        tenant_id = tenancy.current().id
        for kind in COMPUTERS:
            for part in range(parts(kind)):
                refresh(tenant_id, kind, part=part)

    done, failed = tenancy.run_in_each_tenant(
        refresh_all, failure_event="due.repair_failed", active_only=True
    )
    # Parts beyond the current slot count (DBTOOLS_COLLECT_SLOTS was lowered) would never be
    # claimed by their own slot: their servers now belong to the remaining parts.
    for kind in COMPUTERS:
        DueWork.objects.filter(kind=kind, part__gte=parts(kind)).delete()
    return {"tenants": len(done), "failed": failed}


def release(tenant_id: int, owner: str, kind: str = COLLECT, part: int = 0) -> None:
    """Give back a visit claim without touching the due time."""
    DueWork.objects.filter(tenant_id=tenant_id, kind=kind, part=part, claimed_by=owner).update(
        claimed_by="", claimed_until=None
    )

"""Driving the scheduler engine from the background engine's clusters.

One *dispatcher* task runs in the routine cluster at a time on the whole installation (it holds a
PostgreSQL advisory lock on the system database for its life, so a second copy exits at once and
a dead one's lock goes with its connection). It runs for DBTOOLS_JOB_DISPATCHER_SECONDS, then
queues its successor; the per-minute `tick` (routine cluster) queues one when none holds the lock.
Every DBTOOLS_JOB_DISPATCH_POLL seconds it asks the due index (`engine.due`, kind "jobs") for
tenants with scheduler work due, claims them, and in each runs one engine `step` (fire due slots,
recover lost executions, start runs under the limits, claim executions) inside the tenant's
context. Each claimed execution becomes its own task: a "run now" of a job whose time limit fits
the interactive cluster's task limit on that cluster, so it starts within seconds whatever the
routine cluster is busy with; anything else (schedule, event, upstream job, and "run now" of a
long job) on the routine cluster, so an hour-long maintenance job never holds a worker that
interactive work needs. A tenant visit ends by recomputing the tenant's due time, which
includes its running executions' claim expiry: a worker that died is noticed by the next visit.

"Run now" does not wait for the next poll: its action queues a visit of that tenant on the
interactive cluster on commit.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
import uuid
from typing import Any

import structlog
from django.conf import settings
from django.db import connections
from django.db.models import Q
from django.utils import timezone

from dbtools import tenancy
from dbtools.tasks import enqueue
from engine import due
from engine.models import DueWork

log = structlog.get_logger(__name__)
JOBS = due.JOBS
# Any constant unique to this lock among the installation's advisory locks.
LOCK_KEY = 0x4A0B5D15
TENANTS_PER_CLAIM = 8
# A visit's claim on a tenant: long enough for one engine step on a large tenant.
VISIT_LEASE_SECONDS = 30
# Seconds a task may run past the job's own time limit (connect, bookkeeping) before the cluster
# kills its worker.
TASK_MARGIN_SECONDS = 60


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def _owner(role: str) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{role}:{uuid.uuid4().hex[:8]}"


# -- one tenant -----------------------------------------------------------------------------------
def visit(tenant: Any, owner: str) -> int:
    """One engine step in `tenant`, its claimed executions queued as tasks; the tenant's due time
    recomputed and the visit claim released. Returns how many executions were queued."""
    from scheduler import engine
    from scheduler.models import JobRun

    capacity = int(_setting("DBTOOLS_JOB_CLAIMS_PER_VISIT", 20))
    with tenancy.use_tenant(tenant):
        claimed = engine.step(owner, capacity)
        runs = {
            pk: (trigger, timeout)
            for pk, trigger, timeout in JobRun.objects.filter(
                pk__in={c.run_id for c in claimed}
            ).values_list("pk", "trigger", "job__timeout_seconds")
        }
        due.refresh(tenant.pk, JOBS, release=owner)
    for c in claimed:
        trigger, timeout = runs[c.run_id]
        kind = "interactive" if trigger == JobRun.Trigger.MANUAL and short(timeout) else "routine"
        enqueue(
            "scheduler.dispatch.run_execution",
            tenant.pk,
            c.execution_id,
            owner,
            kind=kind,
            # The job's own limit decides, not the cluster's: the engine ends the execution as
            # timed out (cancelling its statement) before the cluster would kill the worker.
            timeout=int(timeout) + TASK_MARGIN_SECONDS,
            task_name=f"job execution {c.execution_id}",
            group="jobs",
        )
    return len(claimed)


def short(timeout_seconds: int) -> bool:
    """Can a job with this time limit run on the interactive cluster? Only if it ends within
    that cluster's task limit: a manual run of a long job (an hour-long index rebuild) would
    otherwise hold one of its few workers, which connection tests and deploys need, for the
    whole run. Long ones go to the routine cluster like scheduled runs."""
    interactive = settings.Q_CLUSTER.get("ALT_CLUSTERS", {}).get("interactive", {})
    limit = interactive.get("timeout", settings.Q_CLUSTER.get("timeout", 0))
    return timeout_seconds + TASK_MARGIN_SECONDS <= limit


def claim_tenant(tenant_id: int, owner: str) -> bool:
    """Take the visit claim of one tenant (for "run now"); False while another visit holds it
    (that visit, or the dispatcher's next poll, sees the work: the action marked it due)."""
    now = timezone.now()
    DueWork.objects.get_or_create(tenant_id=tenant_id, kind=JOBS, defaults={"due_at": now})
    return bool(
        DueWork.objects.filter(tenant_id=tenant_id, kind=JOBS)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_by=owner, claimed_until=now + dt.timedelta(seconds=VISIT_LEASE_SECONDS))
    )


def visit_now(tenant_id: int) -> dict[str, Any]:
    """Interactive cluster: visit one tenant at once (queued by "run now" on commit)."""
    from tenants.models import Tenant

    tenant = Tenant.objects.filter(pk=tenant_id, status=Tenant.Status.ACTIVE).first()
    if tenant is None:
        return {"skipped": "tenant not active"}
    owner = _owner("visit")
    if not claim_tenant(tenant_id, owner):
        return {"skipped": "tenant being visited"}
    try:
        return {"queued": visit(tenant, owner)}
    except Exception:
        due.release(tenant_id, owner, JOBS)
        raise


def run_execution(tenant_id: int, execution_id: int, owner: str) -> str:
    """Run one claimed execution in its tenant; then ask for a visit, which starts what the end
    of this execution made due (a retry, the run's dependants, the next queued run)."""
    from scheduler import engine
    from tenants.models import Tenant

    tenant = Tenant.objects.get(pk=tenant_id)
    with tenancy.use_tenant(tenant):
        status = engine.execute(execution_id, owner)
    due.mark(tenant_id, JOBS)
    return status


# -- the dispatcher -------------------------------------------------------------------------------
def visit_due(owner: str, limit: int = TENANTS_PER_CLAIM) -> int:
    """Claim tenants with scheduler work due now and visit each; returns how many were visited."""
    from tenants.models import Tenant

    rows = due.claim(owner, limit, timezone.now(), VISIT_LEASE_SECONDS, kind=JOBS)
    tenants = Tenant.objects.in_bulk([t for t, _ in rows])
    for tenant_id, _ in rows:
        tenant = tenants.get(tenant_id)
        if tenant is None:
            due.release(tenant_id, owner, JOBS)
            continue
        try:
            visit(tenant, owner)
        except Exception:
            # The tenant's database is unreachable or broken: its claim runs out and the next
            # poll tries again; other tenants carry on.
            log.exception("scheduler.visit_failed", tenant=tenant.slug)
    return len(rows)


def _try_lock() -> bool:
    with connections["default"].cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
        return bool(cur.fetchone()[0])


def _unlock() -> None:
    with connections["default"].cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def running() -> bool:
    """Does some process hold the dispatcher lock right now?"""
    if not _try_lock():
        return True
    _unlock()
    return False


def dispatcher_task(seconds: float | None = None) -> dict[str, Any]:
    """Routine cluster: poll the due index and visit due tenants for `seconds`, then queue the
    successor. A copy started while another runs exits at once."""
    seconds = seconds if seconds is not None else _setting("DBTOOLS_JOB_DISPATCHER_SECONDS", 55)
    poll = _setting("DBTOOLS_JOB_DISPATCH_POLL", 0.5)
    if not _try_lock():
        return {"skipped": "another dispatcher is running"}
    owner = _owner("dispatcher")
    totals = {"polls": 0, "visits": 0}
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            totals["polls"] += 1
            visited = visit_due(owner)
            totals["visits"] += visited
            # A full claim means more may be due: ask again at once.
            if visited < TENANTS_PER_CLAIM:
                time.sleep(poll)
    finally:
        _unlock()
    # In sync mode (tests) a successor would run inside its predecessor, forever.
    if not settings.Q_CLUSTER.get("sync"):
        queue_dispatcher()
    log.info("scheduler.dispatcher_done", **totals)
    return totals


def queue_dispatcher() -> None:
    enqueue(
        "scheduler.dispatch.dispatcher_task",
        kind="routine",
        task_name="job dispatcher",
        group="jobs",
    )


def tick() -> dict[str, int]:
    """Every minute (routine cluster): queue a dispatcher if none is running. One queued while
    another starts exits at once, so two ticks racing cost one short task."""
    if running():
        return {"queued": 0}
    queue_dispatcher()
    return {"queued": 1}

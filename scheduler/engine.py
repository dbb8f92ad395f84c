"""The scheduler engine: turns due jobs into runs, runs into executions, and executions into
results, inside one tenant's database.

Every step is a claim by conditional UPDATE on rows of the tenant database, so two engines on two
nodes (or a broker that delivers a task twice) still fire each slot once and run each execution
once:

1. `fire_due` moves a job's `next_run_at` from the slot it saw to the next slot; only the engine
   whose UPDATE matched creates the run. Missed slots become one `missed` record, never a burst.
2. `start_runs` starts queued runs, highest priority first then oldest, under the tenant's limit
   of simultaneous runs, resolving the targets (servers, a group, a label) at that moment.
3. `claim_executions` hands out queued executions whose back-off has passed, never two heavy
   jobs on one server and never more than the per-server limit.
4. `execute` runs one execution (its claim is renewed while it runs); `finish` records the
   outcome, applies the retry policy, and when a run's last execution ends, ends the run and
   starts what depends on it.
5. `recover` marks executions whose worker stopped renewing their claim as interrupted; they then
   follow the retry policy like any failure.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.db.models import Min, Q
from django.utils import timezone

from core import activity
from dbtools import tenancy
from scheduler import timing
from scheduler.models import (
    ACTIVE,
    OUTPUT_LIMIT,
    Job,
    JobDependency,
    JobExecution,
    JobRun,
    RunStatus,
)
from servers import actions as server_actions
from servers import sqlclient, tsql
from servers.models import Server

log = structlog.get_logger(__name__)

# How long a claim on an execution lasts without renewal; a worker renews it every third of it.
CLAIM_SECONDS = 60
CANCEL_CHECK_SECONDS = 1.0
# Errors that no retry can fix: the same login, permission or version fails the same way again.
NOT_RETRYABLE = frozenset(
    {
        "login_failed",
        "permission_missing",
        "version_unsupported",
        "tls_failure",
        "cancelled",
        "bad_configuration",
    }
)
# First key of the per-node slot locks ("JN" << 16) + slot; the second key is the node's.
_NODE_LOCK_SPACE = 0x4A4E << 16
# How long an execution given back by a full node waits before it is claimed again.
NODE_FULL_WAIT_SECONDS = 5
FAILED = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED)


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _alias() -> str:
    return tenancy.current().alias


# -- 1. firing ------------------------------------------------------------------------------------
def fire_due(now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Create runs for enabled jobs whose slot has come; returns the new runs' ids."""
    now = now or timezone.now()
    created: list[int] = []
    due = Job.objects.alive().filter(is_enabled=True, next_run_at__lte=now)
    for job in due.order_by("next_run_at")[:limit]:
        slot = job.next_run_at
        assert slot is not None
        plan = timing.plan(
            job.schedule(),
            slot,
            now,
            misfire=timing.Misfire(job.misfire_policy),
            grace_seconds=_setting("DBTOOLS_JOB_GRACE_SECONDS", 60),
        )
        with transaction.atomic(using=_alias()):
            claimed = Job.objects.filter(pk=job.pk, next_run_at=slot, is_enabled=True).update(
                next_run_at=plan.next_at
            )
            if not claimed:
                continue  # another engine fired this slot
            if plan.missed:
                JobRun.objects.create(
                    job=job,
                    trigger=JobRun.Trigger.SCHEDULE,
                    status=RunStatus.MISSED,
                    scheduled_for=slot,
                    missed_slots=plan.missed,
                    finished_at=now,
                    reason=f"{plan.missed} scheduled run(s) passed while DbTools was not running"
                    + (" (ran once instead)." if plan.run_now else "."),
                )
            if plan.run_now:
                run = queue_run(job, JobRun.Trigger.SCHEDULE, scheduled_for=slot)
                if run is not None and run.status == RunStatus.QUEUED:
                    created.append(run.pk)
    return created


def queue_run(
    job: Job,
    trigger: str,
    *,
    scheduled_for: dt.datetime | None = None,
    reason: str = "",
    requested_by: str = "",
) -> JobRun | None:
    """A new run of `job`, unless its overlap policy says skip (then a skipped run says why)."""
    scheduled_for = scheduled_for or timezone.now()
    active = JobRun.objects.filter(job=job, status__in=ACTIVE)
    skip_reason = ""
    if job.overlap_policy == Job.Overlap.SKIP and active.exists():
        skip_reason = "The previous run was still active."
    elif (
        job.overlap_policy == Job.Overlap.QUEUE_ONE
        and active.filter(status=RunStatus.QUEUED).exists()
    ):
        skip_reason = "A run was already waiting to start."
    run = JobRun.objects.create(
        job=job,
        trigger=trigger,
        scheduled_for=scheduled_for,
        priority=job.priority,
        requested_by=requested_by,
        reason=skip_reason or reason,
        status=RunStatus.SKIPPED if skip_reason else RunStatus.QUEUED,
        finished_at=timezone.now() if skip_reason else None,
    )
    return run


def fire_event(event: str, details: dict[str, Any] | None = None) -> list[int]:
    """Queue a run of every enabled job waiting for `event` whose filters match `details`."""
    details = details or {}
    runs = []
    jobs = Job.objects.alive().filter(is_enabled=True, schedule_type=Job.ScheduleType.EVENT)
    for job in jobs:
        cfg = job.schedule_config or {}
        if cfg.get("event") != event:
            continue
        wanted = cfg.get("filters") or {}
        if any(str(details.get(k)) != str(v) for k, v in wanted.items()):
            continue
        with transaction.atomic(using=_alias()):
            run = queue_run(job, JobRun.Trigger.EVENT, reason=f"Event {event}.")
        if run and run.status == RunStatus.QUEUED:
            runs.append(run.pk)
    if runs:
        # Whoever reported the event: the dispatcher starts these at its next poll.
        from engine import due

        due.mark(tenancy.current().id, due.JOBS)
    return runs


# -- 2. starting runs -----------------------------------------------------------------------------
def targets(job: Job) -> list[Server]:
    """The job's servers as they are now: a server that joined its group since runs too."""
    if job.target_type == Job.TargetType.SERVERS:
        return list(Server.objects.alive().filter(jobs=job).order_by("name"))
    return resolve(job.target_type, group_id=job.group_id, label_id=job.label_id)


def resolve(
    target_type: str,
    *,
    group_id: int | None = None,
    label_id: int | None = None,
    server_ids: list[int] | None = None,
) -> list[Server]:
    """The servers a target means right now (for a job not saved yet too)."""
    servers = Server.objects.alive()
    if target_type == Job.TargetType.GROUP:
        servers = servers.filter(groups=group_id)
    elif target_type == Job.TargetType.LABEL:
        servers = servers.filter(labels=label_id)
    else:
        servers = servers.filter(pk__in=server_ids or [])
    return list(servers.order_by("name"))


def start_runs(now: dt.datetime | None = None) -> list[int]:
    """Start queued runs under the tenant's limit; highest priority first, then oldest."""
    now = now or timezone.now()
    limit = _setting("DBTOOLS_JOBS_PER_TENANT", 5)
    started: list[int] = []
    running = JobRun.objects.filter(status=RunStatus.RUNNING).count()
    queued = JobRun.objects.filter(status=RunStatus.QUEUED).select_related("job")
    for run in queued.order_by("-priority", "created_at", "id")[: max(0, limit - running)]:
        with transaction.atomic(using=_alias()):
            if not JobRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
                status=RunStatus.RUNNING, started_at=now
            ):
                continue
            if run.only_servers:
                alive = Server.objects.alive().filter(pk__in=run.only_servers)
                servers = list(alive.order_by("name"))
            else:
                servers = targets(run.job)
            if not servers:
                _end_run(run, RunStatus.SKIPPED, "The job has no target servers right now.")
                continue
            JobExecution.objects.bulk_create(
                JobExecution(run=run, job=run.job, server=s, server_name=s.name) for s in servers
            )
            started.append(run.pk)
    return started


# -- 3. claiming executions -----------------------------------------------------------------------
@dataclass(frozen=True)
class Claimed:
    execution_id: int
    run_id: int
    job_id: int
    server_id: int | None


def claim_executions(owner: str, limit: int, now: dt.datetime | None = None) -> list[Claimed]:
    """Claim up to `limit` queued executions that may start now. On one server: never two heavy
    jobs, and no more than DBTOOLS_JOBS_PER_SERVER executions at once."""
    now = now or timezone.now()
    per_server = _setting("DBTOOLS_JOBS_PER_SERVER", 1)
    busy = JobExecution.objects.filter(status=RunStatus.RUNNING)
    load: dict[int | None, int] = {}
    heavy_busy: set[int | None] = set()
    for server_id, heavy in busy.values_list("server_id", "job__heavy"):
        load[server_id] = load.get(server_id, 0) + 1
        if heavy:
            heavy_busy.add(server_id)
    candidates = (
        JobExecution.objects.filter(status=RunStatus.QUEUED, run__status=RunStatus.RUNNING)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .order_by("-run__priority", "run__created_at", "id")
        .values_list("pk", "run_id", "job_id", "server_id", "job__heavy")[: limit * 4 + 20]
    )
    claimed: list[Claimed] = []
    for pk, run_id, job_id, server_id, heavy in candidates:
        if len(claimed) >= limit:
            break
        if load.get(server_id, 0) >= per_server or (heavy and server_id in heavy_busy):
            continue
        # started_at stays empty until a worker really begins (`begin`): a claim whose task is
        # still waiting in the queue when it runs out is handed out again, not "interrupted".
        if not JobExecution.objects.filter(pk=pk, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING,
            claimed_by=owner,
            started_at=None,
            claimed_until=now + dt.timedelta(seconds=CLAIM_SECONDS),
        ):
            continue
        load[server_id] = load.get(server_id, 0) + 1
        if heavy:
            heavy_busy.add(server_id)
        claimed.append(Claimed(pk, run_id, job_id, server_id))
    return claimed


# -- 4. executing ---------------------------------------------------------------------------------
@dataclass
class Outcome:
    status: str
    result: dict[str, Any]
    output: str = ""
    error_kind: str = ""
    error_message: str = ""


Handler = Callable[[JobExecution, float, threading.Event], Outcome]


def _custom_script(execution: JobExecution, deadline: float, cancel: threading.Event) -> Outcome:
    config = execution.job.configuration
    batches = tsql.split_batches(config["script"])
    server = execution.server
    if server is None:
        raise sqlclient.QueryFailed("The server was deleted.")
    database = config.get("database") or "master"
    connect_timeout = max(1, min(sqlclient.default_timeout(), int(deadline - time.monotonic())))
    with sqlclient.connect(server_actions.target_for(server), timeout=connect_timeout) as conn:
        # The database is a sysname validated by the job type's schema; brackets quote it.
        script = sqlclient.run_script(
            conn,
            [f"USE [{database}]", *batches],
            deadline=deadline,
            cancel=cancel,
            limit=OUTPUT_LIMIT,
        )
    return Outcome(
        RunStatus.SUCCEEDED,
        {
            "batches": script.batches_run - 1,
            "row_counts": script.row_counts[:1000],
            "database": database,
        },
        output=script.output,
    )


def _not_available(execution: JobExecution, deadline: float, cancel: threading.Event) -> Outcome:
    return Outcome(
        RunStatus.FAILED,
        {},
        error_kind="bad_configuration",
        error_message=f"Jobs of type {execution.job.get_job_type_display()} cannot "
        "run in this version of DbTools yet.",
    )


HANDLERS: dict[str, Handler] = {
    Job.Type.CUSTOM_SCRIPT: _custom_script,
    Job.Type.DATA_COLLECTION: _not_available,
    Job.Type.ALERT_CHECK: _not_available,
    Job.Type.POLICY_EXECUTION: _not_available,
}


def failure(exc: sqlclient.TargetError) -> Outcome:
    """The outcome of an execution that ended with an error from the server or the driver."""
    partial = getattr(exc, "partial", None)
    status = {"timeout": RunStatus.TIMED_OUT, "cancelled": RunStatus.CANCELLED}.get(
        exc.kind, RunStatus.FAILED
    )
    number = getattr(exc, "number", None)
    return Outcome(
        status,
        {"error_number": number} if number else {},
        output=partial.output if partial else "",
        error_kind=exc.kind,
        # The server's own error number is what a DBA searches for; keep it in the text.
        error_message=f"{exc.message} (error {number})" if number else exc.message,
    )


def try_script(configuration: dict[str, Any], server: Server, seconds: int) -> Outcome:
    """Run a custom script's configuration once on `server` as a job would, for at most
    `seconds` (then its statement is cancelled), without any job or execution row."""
    job = Job(job_type=Job.Type.CUSTOM_SCRIPT, configuration=configuration)
    execution = JobExecution(job=job, server=server, server_name=server.name)
    try:
        return _custom_script(execution, time.monotonic() + seconds, threading.Event())
    except sqlclient.TargetError as exc:
        return failure(exc)


def register_handler(job_type: str, handler: Handler) -> None:
    """Apps that own a kind of job (policies, alerts) plug in how it runs."""
    HANDLERS[job_type] = handler


def begin(execution_id: int, owner: str) -> bool:
    """Mark a claimed execution as started by this worker, once: a task the broker delivers a
    second time (it outlived the cluster's retry period) finds it started and leaves it."""
    now = timezone.now()
    return bool(
        JobExecution.objects.filter(
            pk=execution_id, status=RunStatus.RUNNING, claimed_by=owner, started_at__isnull=True
        ).update(started_at=now, claimed_until=now + dt.timedelta(seconds=CLAIM_SECONDS))
    )


@contextlib.contextmanager
def node_slot() -> Iterator[bool]:
    """Hold one of this node's DBTOOLS_JOBS_PER_NODE execution slots while the block runs; yields
    False when every slot is taken. The slots are PostgreSQL advisory locks in the system
    database keyed by the host name, so every worker process of a node (whatever cluster it
    belongs to) counts against the same limit, and a process that dies frees its slot with its
    database session."""
    limit = _setting("DBTOOLS_JOBS_PER_NODE", 8)
    node = zlib.crc32(socket.gethostname().encode()) & 0x7FFFFFFF
    connection = connections[DEFAULT_DB_ALIAS]
    held: int | None = None
    with connection.cursor() as cur:
        # One statement per slot, so at most one lock is taken.
        for slot in range(max(1, limit)):
            cur.execute("SELECT pg_try_advisory_lock(%s, %s)", [_NODE_LOCK_SPACE + slot, node])
            if cur.fetchone()[0]:
                held = slot
                break
    try:
        yield held is not None
    finally:
        if held is not None:
            try:
                with connection.cursor() as cur:
                    cur.execute(
                        "SELECT pg_advisory_unlock(%s, %s)", [_NODE_LOCK_SPACE + held, node]
                    )
            except DatabaseError:
                connection.close()  # ending the session releases its locks too


def requeue(execution_id: int, owner: str, seconds: float = NODE_FULL_WAIT_SECONDS) -> bool:
    """Give a claimed execution that has not begun back to the queue, without using an attempt,
    to be claimed again after `seconds`."""
    return bool(
        JobExecution.objects.filter(
            pk=execution_id, status=RunStatus.RUNNING, claimed_by=owner, started_at__isnull=True
        ).update(
            status=RunStatus.QUEUED,
            claimed_by="",
            claimed_until=None,
            not_before=timezone.now() + dt.timedelta(seconds=seconds),
        )
    )


def execute(execution_id: int, owner: str) -> str:
    """Run one claimed execution to its end and record it; returns its final status. A node
    already running its limit of executions gives the execution back to the queue instead."""
    with node_slot() as free:
        if not free:
            requeue(execution_id, owner)
            log.info("scheduler.node_full", execution=execution_id)
            return RunStatus.QUEUED
        return _execute(execution_id, owner)


def _execute(execution_id: int, owner: str) -> str:
    if not begin(execution_id, owner):
        # Not ours (claimed elsewhere, cancelled, recovered) or already started elsewhere.
        found = JobExecution.objects.filter(pk=execution_id).values_list("status", flat=True)
        return found.first() or ""
    execution = JobExecution.objects.select_related("job", "server", "run").get(pk=execution_id)
    job = execution.job
    deadline = time.monotonic() + job.timeout_seconds
    cancel = threading.Event()
    stop = threading.Event()
    alias = _alias()
    renewer = threading.Thread(
        target=_renew,
        args=(execution_id, owner, cancel, stop, alias),
        name=f"renew-{execution_id}",
        daemon=True,
    )
    renewer.start()
    try:
        outcome = HANDLERS[job.job_type](execution, deadline, cancel)
    except sqlclient.TargetError as exc:
        outcome = failure(exc)
    except Exception as exc:  # a bug must end the execution, never leave it running
        log.exception("scheduler.execution_crashed", execution=execution_id)
        outcome = Outcome(
            RunStatus.FAILED,
            {},
            error_kind="internal",
            error_message=f"DbTools failed while running this job: {exc}",
        )
    finally:
        stop.set()
        renewer.join()
    return finish(execution_id, owner, outcome)


def _renew(
    execution_id: int, owner: str, cancel: threading.Event, stop: threading.Event, alias: str
) -> None:
    """Keep the claim alive while the work runs, and stop the work within a second or two when
    its run is cancelled or the claim was taken away (recovered as interrupted elsewhere)."""
    renewed = time.monotonic()
    try:
        while not stop.wait(CANCEL_CHECK_SECONDS):
            mine = JobExecution.objects.using(alias).filter(
                pk=execution_id,
                claimed_by=owner,
                status=RunStatus.RUNNING,
                run__status=RunStatus.RUNNING,
            )
            if time.monotonic() - renewed >= CLAIM_SECONDS / 3:
                until = timezone.now() + dt.timedelta(seconds=CLAIM_SECONDS)
                still = mine.update(claimed_until=until)
                renewed = time.monotonic()
            else:
                still = mine.exists()
            if not still:
                cancel.set()
                return
    finally:
        connections.close_all()


def finish(execution_id: int, owner: str, outcome: Outcome) -> str:
    """Record an execution's outcome; retry it or end it; end its run when it was the last."""
    now = timezone.now()
    with transaction.atomic(using=_alias()):
        execution = (
            JobExecution.objects.select_for_update()
            .select_related("job", "run")
            .get(pk=execution_id)
        )
        if execution.status != RunStatus.RUNNING or execution.claimed_by != owner:
            return execution.status
        job = execution.job
        if execution.run.status == RunStatus.CANCELLED and outcome.status != RunStatus.SUCCEEDED:
            outcome.status = RunStatus.CANCELLED
        execution.output = outcome.output[: OUTPUT_LIMIT + 100]
        execution.result = outcome.result
        execution.error_kind = outcome.error_kind
        execution.error_message = outcome.error_message[:4000]
        execution.claimed_by, execution.claimed_until = "", None
        if _retry(execution, job, outcome.status, now):
            execution.save()
            return execution.status
        execution.status = outcome.status
        execution.completed_at = now
        execution.save()
        _maybe_end_run(execution.run)
    return execution.status


def _retry(execution: JobExecution, job: Job, status: str, now: dt.datetime) -> bool:
    if status not in FAILED or execution.error_kind in NOT_RETRYABLE:
        return False
    if execution.attempt > job.retry_attempts or execution.run.status != RunStatus.RUNNING:
        return False
    execution.not_before = now + dt.timedelta(seconds=backoff(job, execution.attempt))
    execution.attempt += 1
    execution.status = RunStatus.QUEUED
    execution.started_at = None
    return True


def backoff(job: Job, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds before attempt `attempt + 1`: fixed, or doubling with full jitter, capped."""
    if job.retry_backoff == Job.Backoff.FIXED:
        return float(min(job.retry_delay_seconds, job.retry_max_delay_seconds))
    ceiling = min(job.retry_max_delay_seconds, job.retry_delay_seconds * 2 ** (attempt - 1))
    # Jitter keeps a fleet of retries from hitting the servers in the same second.
    return (rng or random).uniform(ceiling / 2, ceiling)


def _maybe_end_run(run: JobRun) -> None:
    """End a running run once none of its executions is queued or running. A cancelled run was
    ended by the cancel itself; its dependants do not start."""
    if run.status != RunStatus.RUNNING:
        return
    statuses = list(run.executions.values_list("status", flat=True))
    if any(s in ACTIVE for s in statuses):
        return
    bad = sum(s != RunStatus.SUCCEEDED for s in statuses)
    if not bad:
        status, reason = RunStatus.SUCCEEDED, ""
    elif RunStatus.FAILED in statuses or RunStatus.INTERRUPTED in statuses:
        status, reason = RunStatus.FAILED, f"Failed on {bad} of {len(statuses)} server(s)."
    elif RunStatus.TIMED_OUT in statuses:
        status, reason = RunStatus.TIMED_OUT, f"Timed out on {bad} of {len(statuses)} server(s)."
    else:
        status, reason = RunStatus.CANCELLED, "Cancelled."
    _end_run(run, status, reason)


def _end_run(run: JobRun, status: str, reason: str) -> None:
    updated = JobRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        status=status, reason=reason, finished_at=timezone.now()
    )
    if not updated:
        return
    run.status, run.reason = status, reason
    activity.record(
        f"job.run_{status}", "job", run.job_id, run.job.name, {"run": run.pk, "reason": reason}
    )
    _after_run(run)


def _after_run(run: JobRun) -> None:
    """Start or skip what depends on this run, and tell event jobs."""
    ok = run.status == RunStatus.SUCCEEDED
    for link in JobDependency.objects.filter(upstream_id=run.job_id).select_related("job"):
        downstream = link.job
        if downstream.deleted_at or not downstream.is_enabled:
            continue
        fires = (
            link.trigger_rule == JobDependency.Trigger.ON_COMPLETION
            or (link.trigger_rule == JobDependency.Trigger.ON_SUCCESS and ok)
            or (link.trigger_rule == JobDependency.Trigger.ON_FAILURE and not ok)
        )
        if fires:
            queue_run(
                downstream,
                JobRun.Trigger.DEPENDENCY,
                reason=f"After {run.job.name} ({run.get_status_display().lower()}).",
            )
        else:
            JobRun.objects.create(
                job=downstream,
                trigger=JobRun.Trigger.DEPENDENCY,
                status=RunStatus.SKIPPED,
                scheduled_for=timezone.now(),
                finished_at=timezone.now(),
                reason=f"{run.job.name} {run.get_status_display().lower()}; this job runs "
                f"{link.get_trigger_rule_display().lower()}.",
            )
    if run.status in (RunStatus.SUCCEEDED, *FAILED):
        event = "job_succeeded" if ok else "job_failed"
        transaction.on_commit(lambda: fire_event(event, {"job_id": run.job_id}), using=_alias())


# -- 5. recovery ----------------------------------------------------------------------------------
def recover(now: dt.datetime | None = None) -> int:
    """Executions whose worker stopped renewing the claim: interrupted, then retried or ended."""
    now = now or timezone.now()
    lost = JobExecution.objects.filter(status=RunStatus.RUNNING, claimed_until__lt=now)
    # Claimed but never begun: the task waited in a busy queue or its message was lost. Nothing
    # ran on the server, so it goes back in line without using an attempt.
    never_begun = lost.filter(started_at__isnull=True)
    never_begun.filter(run__status=RunStatus.RUNNING).update(
        status=RunStatus.QUEUED, claimed_by="", claimed_until=None
    )
    for pk, owner in never_begun.values_list("pk", "claimed_by"):
        finish(pk, owner, Outcome(RunStatus.CANCELLED, {}, error_kind="cancelled"))
    count = 0
    for pk, owner in lost.values_list("pk", "claimed_by"):
        outcome = Outcome(
            RunStatus.INTERRUPTED,
            {},
            error_kind="interrupted",
            error_message="The worker running this stopped (restart or crash).",
        )
        if finish(pk, owner, outcome) in (RunStatus.INTERRUPTED, RunStatus.QUEUED):
            count += 1
    return count


def next_due() -> dt.datetime | None:
    """When this tenant next has scheduler work: a job's slot, a queued run or execution, a retry
    back-off ending, or a claim that may expire. For the engine's due index."""
    now = timezone.now()
    times = [
        Job.objects.alive().filter(is_enabled=True).aggregate(t=Min("next_run_at"))["t"],
        now if JobRun.objects.filter(status=RunStatus.QUEUED).exists() else None,
        JobExecution.objects.filter(
            status=RunStatus.QUEUED, run__status=RunStatus.RUNNING
        ).aggregate(t=Min("not_before"))["t"],
        JobExecution.objects.filter(status=RunStatus.RUNNING).aggregate(t=Min("claimed_until"))[
            "t"
        ],
    ]
    queued_now = JobExecution.objects.filter(
        status=RunStatus.QUEUED, run__status=RunStatus.RUNNING, not_before__isnull=True
    ).exists()
    if queued_now:
        times.append(now)
    found = [t for t in times if t is not None]
    return min(found) if found else None


def step(owner: str, capacity: int, now: dt.datetime | None = None) -> list[Claimed]:
    """One pass of the engine over the current tenant: fire, start, recover, claim."""
    now = now or timezone.now()
    fire_due(now)
    recover(now)
    start_runs(now)
    return claim_executions(owner, capacity, now)

"""Every change to jobs goes through a function here: one transaction on the tenant database,
its activity entry in that transaction, and anything it sets off (starting a run) only after
commit."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import activity
from dbtools import tenancy
from dbtools.errors import ActionError
from dbtools.tasks import enqueue
from engine import due
from scheduler import engine, job_types, timing
from scheduler.models import ACTIVE, Job, JobDependency, JobRun, RunStatus
from servers.models import Server

User = AbstractBaseUser | None

FIELDS = (
    "name",
    "description",
    "job_type",
    "configuration",
    "schedule_type",
    "schedule_config",
    "timezone",
    "misfire_policy",
    "overlap_policy",
    "target_type",
    "group",
    "label",
    "priority",
    "heavy",
    "timeout_seconds",
    "retry_attempts",
    "retry_backoff",
    "retry_delay_seconds",
    "retry_max_delay_seconds",
    "is_enabled",
)


def _validated(job: Job, server_ids: list[int] | None) -> list[Server] | None:
    """Run every rule of a job; raise ActionError with field errors, write nothing."""
    errors: dict[str, list[str]] = {}
    config, config_errors = job_types.validate(job.job_type, job.configuration)
    errors.update(config_errors)
    job.configuration = config
    try:
        job.full_clean(exclude=["configuration"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    servers = None
    if server_ids is not None:
        found = list(Server.objects.alive().filter(pk__in=server_ids))
        missing = set(server_ids) - {s.pk for s in found}
        if missing:
            errors.setdefault("server_ids", []).append(f"Unknown server id(s): {sorted(missing)}")
        servers = found
    if job.target_type == Job.TargetType.SERVERS and not (
        servers or (job.pk and server_ids is None and job.servers.exists())
    ):
        errors.setdefault("server_ids", []).append("Choose at least one server.")
    if job.schedule_type == "once" and not errors:
        run_at = job.schedule().anchor
        if run_at and run_at <= timezone.now() and job.next_run_at is None and not job.pk:
            errors.setdefault("schedule_config", []).append("run_at is in the past.")
    taken = Job.objects.alive().filter(name__iexact=job.name).exclude(pk=job.pk).exists()
    if taken:
        errors.setdefault("name", []).append("A job with this name already exists.")
    if errors:
        raise ActionError(errors)
    return servers


def _plan_next(job: Job) -> None:
    job.next_run_at = (
        timing.next_run(job.schedule(), timezone.now())
        if job.is_enabled and job.schedule_type != "event"
        else None
    )


def _save(job: Job, servers: list[Server] | None) -> None:
    try:
        with transaction.atomic(using=tenancy.current().alias):
            job.save()
            if servers is not None:
                job.servers.set(servers)
    except IntegrityError as exc:  # a concurrent create with the same name
        raise ActionError({"name": ["A job with this name already exists."]}) from exc


def create_job(data: dict[str, Any], *, acting_user: User) -> Job:
    """Create a job from serializer-validated fields (`server_ids` for explicit targets)."""
    job = Job(
        **{k: data[k] for k in FIELDS if k in data}, created_by=activity.actor_name(acting_user)
    )
    job.created_at = timezone.now()  # interval slots count from here
    servers = _validated(job, data.get("server_ids", []))
    _plan_next(job)
    with tenancy.atomic():
        _save(job, servers)
        activity.record(
            "job.created",
            "job",
            job.pk,
            job.name,
            {"type": job.job_type, "schedule": job.describe_schedule()},
            acting_user,
        )
        due.mark_on_commit(due.JOBS)
    return job


def check_job(data: dict[str, Any], job: Job | None = None) -> None:
    """Every rule `create_job` (or `update_job` of `job`) applies, without writing: the wizard
    checks each step with it. Raises ActionError with field errors."""
    draft = copy.copy(job) if job is not None else Job()
    for key in FIELDS:
        if key in data:
            setattr(draft, key, data[key])
    _validated(draft, data.get("server_ids", [] if job is None else None))


def test_script(
    data: dict[str, Any], server: Server, *, acting_user: User, seconds: int
) -> engine.Outcome:
    """Run a custom script once on one server before the job is saved, for at most `seconds`,
    and say what happened. Nothing is stored but the activity entry, written before the script
    runs: the script may change the server."""
    configuration, errors = job_types.validate(Job.Type.CUSTOM_SCRIPT, data.get("configuration"))
    if errors:
        raise ActionError(errors)
    with tenancy.atomic():
        activity.record(
            "job.test_run",
            "server",
            server.pk,
            server.name,
            {"job": data.get("name", ""), "database": configuration["database"]},
            acting_user,
        )
    return engine.try_script(configuration, server, seconds)


def update_job(job: Job, data: dict[str, Any], *, acting_user: User) -> Job:
    before = {k: getattr(job, k if k not in ("group", "label") else f"{k}_id") for k in FIELDS}
    for key in FIELDS:
        if key in data:
            setattr(job, key, data[key])
    servers = _validated(job, data.get("server_ids"))
    after = {k: getattr(job, k if k not in ("group", "label") else f"{k}_id") for k in FIELDS}
    changed = sorted(k for k in FIELDS if before[k] != after[k])
    if servers is not None and set(job.servers.values_list("pk", flat=True)) != {
        s.pk for s in servers
    }:
        changed.append("servers")
    if not changed:
        return job
    if {"schedule_type", "schedule_config", "timezone", "is_enabled"} & set(changed):
        _plan_next(job)
    with tenancy.atomic():
        _save(job, servers)
        activity.record("job.updated", "job", job.pk, job.name, {"changed": changed}, acting_user)
        due.mark_on_commit(due.JOBS)
    return job


def set_enabled(job: Job, enabled: bool, *, acting_user: User) -> Job:
    if job.is_enabled == enabled:
        return job
    job.is_enabled = enabled
    _plan_next(job)
    with tenancy.atomic():
        job.save(update_fields=["is_enabled", "next_run_at", "updated_at"])
        activity.record(
            "job.enabled" if enabled else "job.disabled", "job", job.pk, job.name, {}, acting_user
        )
        due.mark_on_commit(due.JOBS)
    return job


def delete_job(job: Job, *, acting_user: User) -> None:
    """Soft delete: history stays; queued runs are cancelled; dependency links go."""
    with tenancy.atomic():
        job.deleted_at = timezone.now()
        job.is_enabled = False
        job.next_run_at = None
        job.save(update_fields=["deleted_at", "is_enabled", "next_run_at", "updated_at"])
        JobDependency.objects.filter(job=job).delete()
        JobDependency.objects.filter(upstream=job).delete()
        cancelled = JobRun.objects.filter(job=job, status=RunStatus.QUEUED).update(
            status=RunStatus.CANCELLED, reason="The job was deleted.", finished_at=timezone.now()
        )
        activity.record(
            "job.deleted", "job", job.pk, job.name, {"cancelled_runs": cancelled}, acting_user
        )
        due.mark_on_commit(due.JOBS)


def run_now(job: Job, *, acting_user: User, servers: list[Server] | None = None) -> JobRun:
    """Queue a run at once, whatever the schedule says; the overlap policy still applies.
    `servers`: run on these servers instead of the job's targets (the server list's bulk
    "run job")."""
    if servers is not None and not servers:
        raise ActionError({"servers": ["Select at least one server."]})
    if job.deleted_at:
        raise ActionError("This job was deleted.")
    if job.overlap_policy != Job.Overlap.ALLOW and job.runs.filter(status__in=ACTIVE).exists():
        raise ActionError("This job is already running; wait for it to finish or cancel it.")
    now = timezone.now()
    with tenancy.atomic():
        run = JobRun.objects.create(
            job=job,
            trigger=JobRun.Trigger.MANUAL,
            scheduled_for=now,
            priority=job.priority,
            requested_by=activity.actor_name(acting_user),
            only_servers=sorted(s.pk for s in servers) if servers else [],
        )
        details: dict[str, Any] = {"run": run.pk}
        if servers:
            details["servers"] = sorted(s.name for s in servers)
        activity.record("job.run_requested", "job", job.pk, job.name, details, acting_user)
        due.mark_on_commit(due.JOBS)
        # A user is waiting: visit the tenant now on the interactive cluster rather than at the
        # dispatcher's next poll (which still finds it if this visit cannot claim the tenant).
        ctx = tenancy.current()
        transaction.on_commit(
            lambda: enqueue(
                "scheduler.dispatch.visit_now", ctx.id, kind="interactive", task_name="job visit"
            ),
            using=ctx.alias,
        )
    return run


def cancel_run(run: JobRun, *, acting_user: User) -> JobRun:
    """Cancel a queued or running run; statements in flight are cancelled by their worker."""
    with tenancy.atomic():
        updated = JobRun.objects.filter(pk=run.pk, status__in=ACTIVE).update(
            status=RunStatus.CANCELLED,
            reason=f"Cancelled by {activity.actor_name(acting_user)}.",
            finished_at=timezone.now(),
        )
        if not updated:
            raise ActionError("This run has already finished.")
        run.executions.filter(status=RunStatus.QUEUED).update(
            status=RunStatus.CANCELLED, completed_at=timezone.now()
        )
        activity.record(
            "job.run_cancelled", "job", run.job_id, run.job.name, {"run": run.pk}, acting_user
        )
        due.mark_on_commit(due.JOBS)
    run.refresh_from_db()
    return run


def set_dependencies(
    job: Job, upstream: Iterable[tuple[int, str]], *, acting_user: User
) -> list[JobDependency]:
    """Replace the jobs `job` runs after; a cycle is refused and nothing changes."""
    wanted = dict(upstream)
    found = {j.pk: j for j in Job.objects.alive().filter(pk__in=wanted)}
    errors = []
    if missing := sorted(set(wanted) - set(found)):
        errors.append(f"Unknown job id(s): {missing}")
    if job.pk in wanted:
        errors.append("A job cannot run after itself.")
    if bad := sorted(r for r in wanted.values() if r not in JobDependency.Trigger.values):
        errors.append(f"Unknown trigger rule(s): {bad}")
    if not errors and (cycle := _cycle(job.pk, set(wanted))):
        names = dict(Job.objects.filter(pk__in=cycle).values_list("pk", "name"))
        errors.append("This would make a cycle: " + " → ".join(names[p] for p in cycle) + ".")
    if errors:
        raise ActionError({"upstream": errors})
    with tenancy.atomic():
        JobDependency.objects.filter(job=job).delete()
        links = JobDependency.objects.bulk_create(
            [JobDependency(job=job, upstream=found[p], trigger_rule=r) for p, r in wanted.items()]
        )
        activity.record(
            "job.dependencies_set",
            "job",
            job.pk,
            job.name,
            {"upstream": [{"job": found[p].name, "trigger_rule": r} for p, r in wanted.items()]},
            acting_user,
        )
    return links


def _cycle(job_id: int, upstream: set[int]) -> list[int]:
    """The path back to `job_id` if it ran after `upstream`, else []."""
    edges: dict[int, list[int]] = {}
    for down, up in JobDependency.objects.exclude(job_id=job_id).values_list(
        "job_id", "upstream_id"
    ):
        edges.setdefault(down, []).append(up)
    edges[job_id] = list(upstream)
    stack: list[tuple[int, list[int]]] = [(u, [job_id, u]) for u in upstream]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if node == job_id:
            return path
        if node in seen:
            continue
        seen.add(node)
        stack.extend((nxt, [*path, nxt]) for nxt in edges.get(node, []))
    return []

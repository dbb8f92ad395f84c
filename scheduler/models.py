"""Tenant-database models of the job scheduler: jobs, their dependencies, runs and executions.

A job says what to do (its type and configuration), where (servers, a group or a label, resolved
at each run) and when (its schedule). Each time it fires it gets a run; a run has one execution
per target server. Run and execution rows carry the whole state of the work, claimed by
conditional updates, so the broker is never trusted for exactly-once.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower

from scheduler import timing
from servers.models import Label, Server, ServerGroup

# Output a script prints is kept with its execution up to this size; the rest is cut with a note.
OUTPUT_LIMIT = 64 * 1024


class JobQuerySet(models.QuerySet):
    def alive(self) -> JobQuerySet:
        return self.filter(deleted_at__isnull=True)


class Job(models.Model):
    class Type(models.TextChoices):
        POLICY_EXECUTION = "policy_execution", "Policy execution"
        DATA_COLLECTION = "data_collection", "Data collection"
        CUSTOM_SCRIPT = "custom_script", "Custom T-SQL script"
        ALERT_CHECK = "alert_check", "Alert check"

    class ScheduleType(models.TextChoices):
        ONCE = "once", "Once"
        INTERVAL = "interval", "Interval"
        CRON = "cron", "Cron"
        EVENT = "event", "Event"

    class Event(models.TextChoices):
        SERVER_ADDED = "server_added", "A server is added"
        ALERT_TRIGGERED = "alert_triggered", "An alert fires"
        JOB_SUCCEEDED = "job_succeeded", "A job succeeds"
        JOB_FAILED = "job_failed", "A job fails"
        POLICY_DEPLOYED = "policy_deployed", "A policy is deployed"

    class TargetType(models.TextChoices):
        SERVERS = "servers", "Chosen servers"
        GROUP = "group", "A group"
        LABEL = "label", "A label"

    class Misfire(models.TextChoices):
        RUN_ONCE = timing.Misfire.RUN_ONCE.value, "Run once now"
        SKIP = timing.Misfire.SKIP.value, "Skip the missed run"

    class Overlap(models.TextChoices):
        SKIP = "skip", "Skip while the previous run is active"
        QUEUE_ONE = "queue_one", "Queue one run"
        ALLOW = "allow", "Allow overlapping runs"

    class Backoff(models.TextChoices):
        FIXED = "fixed", "Fixed delay"
        EXPONENTIAL = "exponential", "Exponential with jitter"

    name = models.CharField(max_length=128)
    description = models.CharField(max_length=1000, blank=True)
    job_type = models.CharField(max_length=32, choices=Type.choices)
    configuration = models.JSONField(default=dict, blank=True)

    schedule_type = models.CharField(max_length=16, choices=ScheduleType.choices)
    # interval: {"interval_seconds": 3600}; cron: {"expression": "0 2 * * *"};
    # once: {"run_at": ISO 8601}; event: {"event": "server_added", "filters": {...}}
    schedule_config = models.JSONField(default=dict, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    misfire_policy = models.CharField(
        max_length=16, choices=Misfire.choices, default=Misfire.RUN_ONCE
    )
    overlap_policy = models.CharField(max_length=16, choices=Overlap.choices, default=Overlap.SKIP)

    target_type = models.CharField(
        max_length=16, choices=TargetType.choices, default=TargetType.SERVERS
    )
    servers = models.ManyToManyField(Server, blank=True, related_name="jobs")
    group = models.ForeignKey(
        ServerGroup, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )

    priority = models.IntegerField(
        default=0, validators=[MinValueValidator(-100), MaxValueValidator(100)]
    )
    # Heavy jobs (backups, index and integrity maintenance) never overlap on one server.
    heavy = models.BooleanField(default=False)
    timeout_seconds = models.PositiveIntegerField(
        default=1800, validators=[MinValueValidator(10), MaxValueValidator(7 * 86400)]
    )
    retry_attempts = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(10)])
    retry_backoff = models.CharField(
        max_length=16, choices=Backoff.choices, default=Backoff.EXPONENTIAL
    )
    retry_delay_seconds = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(86400)]
    )
    retry_max_delay_seconds = models.PositiveIntegerField(
        default=3600, validators=[MinValueValidator(1), MaxValueValidator(7 * 86400)]
    )

    is_enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        db_table = "jobs"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"), condition=models.Q(deleted_at__isnull=True), name="job_name_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_run_at"],
                name="job_next_run",
                condition=models.Q(is_enabled=True, deleted_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    # -- schedule ---------------------------------------------------------------------------
    def schedule(self) -> timing.Schedule:
        cfg = self.schedule_config or {}
        run_at = cfg.get("run_at")
        anchor = None
        if isinstance(run_at, str) and run_at:
            anchor = dt.datetime.fromisoformat(run_at)
        elif isinstance(run_at, dt.datetime):
            anchor = run_at
        if self.schedule_type == "interval":
            anchor = self.created_at  # None before the first save: slots count from now
        return timing.Schedule(
            type=timing.ScheduleType(self.schedule_type),
            tz=self.timezone,
            expression=str(cfg.get("expression", "")),
            interval_seconds=int(cfg.get("interval_seconds") or 0),
            anchor=anchor,
        )

    def upcoming(self, count: int = 5, after: dt.datetime | None = None) -> list[timing.Slot]:
        """The next runs by the clock (none for event jobs), with DST notes."""
        from django.utils import timezone

        return timing.slots_after(self.schedule(), after or timezone.now(), count)

    def schedule_errors(self) -> dict[str, list[str]]:
        """What is wrong with the schedule alone (the wizard's preview asks before saving)."""
        cfg = self.schedule_config if isinstance(self.schedule_config, dict) else None
        if cfg is None:
            return {"schedule_config": ['An object, e.g. {"expression": "0 2 * * *"}.']}
        if self.schedule_type == "event":
            if cfg.get("event") not in self.Event.values:
                return {
                    "schedule_config": [
                        "event must be one of: " + ", ".join(self.Event.values) + "."
                    ]
                }
            return {}
        return _schedule_errors(self, cfg)

    def describe_schedule(self) -> str:
        if self.schedule_type == "event":
            event = (self.schedule_config or {}).get("event", "")
            return f"When {self.Event(event).label.lower()}" if event in self.Event.values else ""
        return timing.describe(self.schedule())

    def clean(self) -> None:
        """The rules of a job, one place for the page's form and the API's serializer."""
        errors = self.schedule_errors()
        for field, message in _target_errors(self).items():
            errors.setdefault(field, []).append(message)
        if self.retry_max_delay_seconds < self.retry_delay_seconds:
            errors.setdefault("retry_max_delay_seconds", []).append(
                "The maximum delay must not be below the first delay."
            )
        if errors:
            raise ValidationError(errors)


def _schedule_errors(job: Job, cfg: dict) -> dict[str, list[str]]:
    if job.schedule_type == "once":
        run_at = cfg.get("run_at")
        try:
            when = dt.datetime.fromisoformat(run_at) if isinstance(run_at, str) else None
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            return {"schedule_config": ["run_at: an ISO 8601 time with its offset."]}
    if job.schedule_type == "interval":
        seconds = cfg.get("interval_seconds")
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            return {"schedule_config": ["interval_seconds: a whole number of seconds."]}
    if job.schedule_type == "cron" and not isinstance(cfg.get("expression"), str):
        return {"schedule_config": ["expression: a cron expression such as 0 2 * * *."]}
    schedule = job.schedule()
    if job.schedule_type == "interval":
        schedule = timing.Schedule(
            timing.ScheduleType.INTERVAL,
            tz=job.timezone,
            interval_seconds=int(cfg["interval_seconds"]),
        )
    try:
        timing.validate(schedule)
    except timing.ScheduleError as exc:
        field = "timezone" if exc.field == "timezone" else "schedule_config"
        return {field: [exc.message]}
    return {}


def _target_errors(job: Job) -> dict[str, str]:
    if job.target_type == Job.TargetType.GROUP and job.group_id is None:
        return {"group": "Choose the group this job runs on."}
    if job.target_type == Job.TargetType.LABEL and job.label_id is None:
        return {"label": "Choose the label whose servers this job runs on."}
    return {}


class JobDependency(models.Model):
    """`job` runs after `upstream` finishes, as `trigger_rule` says."""

    class Trigger(models.TextChoices):
        ON_SUCCESS = "on_success", "When it succeeds"
        ON_FAILURE = "on_failure", "When it fails"
        ON_COMPLETION = "on_completion", "When it completes"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="upstream_links")
    upstream = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="downstream_links")
    trigger_rule = models.CharField(
        max_length=16, choices=Trigger.choices, default=Trigger.ON_SUCCESS
    )

    class Meta:
        db_table = "job_dependencies"
        constraints = [
            models.UniqueConstraint(fields=["job", "upstream"], name="job_dependency_unique"),
            models.CheckConstraint(
                condition=~models.Q(job=models.F("upstream")), name="job_dependency_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} after {self.upstream_id}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    TIMED_OUT = "timed_out", "Timed out"
    SKIPPED = "skipped", "Skipped"
    MISSED = "missed", "Missed"
    INTERRUPTED = "interrupted", "Interrupted"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
FINISHED = tuple(s for s in RunStatus if s not in ACTIVE)


class JobRun(models.Model):
    """One firing of a job: scheduled, run now, triggered by an event or an upstream job."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Run now"
        EVENT = "event", "Event"
        DEPENDENCY = "dependency", "Upstream job"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    reason = models.CharField(max_length=500, blank=True)
    scheduled_for = models.DateTimeField()
    missed_slots = models.PositiveIntegerField(default=0)
    priority = models.IntegerField(default=0)
    requested_by = models.CharField(max_length=150, blank=True)
    # Server ids a run asked for on chosen servers runs on (the server list's bulk "run job");
    # empty: the job's own targets as they are when the run starts.
    only_servers = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "job_runs"
        ordering = ["-scheduled_for", "-id"]
        indexes = [
            models.Index(fields=["job", "-scheduled_for"], name="job_run_recent"),
            models.Index(
                fields=["-priority", "created_at"],
                name="job_run_active",
                condition=models.Q(status__in=["queued", "running"]),
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of job {self.job_id}"


class JobExecution(models.Model):
    """The work of one run on one server, with its attempts, output and result."""

    run = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="executions")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="executions")
    server = models.ForeignKey(
        Server, null=True, on_delete=models.SET_NULL, related_name="job_executions"
    )
    server_name = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    attempt = models.PositiveSmallIntegerField(default=1)
    not_before = models.DateTimeField(null=True, blank=True)  # retry back-off
    claimed_by = models.CharField(max_length=128, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    output = models.TextField(blank=True)
    error_kind = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)

    class Meta:
        db_table = "job_executions"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["run"], name="job_execution_run"),
            models.Index(
                fields=["server", "status"],
                name="job_execution_server",
                condition=models.Q(status__in=["queued", "running"]),
            ),
        ]

    def __str__(self) -> str:
        return f"execution {self.pk} of run {self.run_id}"

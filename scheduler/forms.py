"""The job form of the Jobs pages: flat fields a person fills in, turned into what
`scheduler.actions` takes (the API's shape), whose rules decide; their errors come back here on
the field they concern."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django import forms

from scheduler import job_types
from scheduler.models import Job, JobDependency
from servers.forms import ServerIdsForm
from servers.models import Label, Server, ServerGroup

CRON_TEMPLATES = [
    ("0 2 * * *", "Every day at 02:00"),
    ("0 3 * * 0", "Every Sunday at 03:00"),
    ("0 4 1 * *", "On the 1st of every month at 04:00"),
    ("*/15 * * * *", "Every 15 minutes"),
]
# Where an action's error on a nested or API-only field shows on this form.
ERROR_FIELDS = {
    "schedule_config": "expression",
    "configuration.script": "script",
    "configuration.database": "database",
    "configuration.policy_id": "policy",
    "configuration.policy_version": "policy",
    "configuration.task": "policy",
    "server_ids": "servers",
    "upstream": None,
}


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    fields: tuple[str, ...]


# The wizard's steps and the fields each one asks for; the review is the step after the last.
STEPS = (
    Step(1, "Type", ("job_type", "name", "description")),
    Step(
        2,
        "Configuration",
        ("policy", "script", "database", "target_type", "servers", "group", "label"),
    ),
    Step(
        3,
        "Schedule",
        ("schedule_type", "timezone", "expression", "interval_seconds", "run_at", "event"),
    ),
    Step(
        4,
        "Options",
        (
            "timeout_seconds",
            "priority",
            "retry_attempts",
            "retry_backoff",
            "retry_delay_seconds",
            "retry_max_delay_seconds",
            "overlap_policy",
            "misfire_policy",
            "heavy",
            "is_enabled",
        ),
    ),
)
REVIEW = len(STEPS) + 1


def step_of(field: str | None) -> int:
    """The step that asks for `field`; errors of no field show on the review."""
    return next((st.number for st in STEPS if field in st.fields), REVIEW)


# Fields that go to the job as they are.
SIMPLE_FIELDS = (
    "name",
    "description",
    "job_type",
    "target_type",
    "schedule_type",
    "timezone",
    "timeout_seconds",
    "retry_attempts",
    "retry_backoff",
    "retry_delay_seconds",
    "retry_max_delay_seconds",
    "priority",
    "overlap_policy",
    "misfire_policy",
    "heavy",
    "is_enabled",
)


def time_zones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


class JobForm(forms.Form):
    name = forms.CharField(max_length=128)
    description = forms.CharField(max_length=1000, required=False)
    job_type = forms.ChoiceField(
        label="Type",
        choices=Job.Type.choices,
        initial=Job.Type.CUSTOM_SCRIPT,
        widget=forms.RadioSelect,
    )
    policy = forms.ChoiceField(
        label="Policy",
        required=False,
        help_text="An active policy's latest version; deploying a policy to a group also "
        "creates its jobs.",
    )
    script = forms.CharField(
        label="T-SQL script",
        required=False,
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "code"}),
        help_text="GO on a line of its own separates batches. PRINT output is kept with the run.",
    )
    database = forms.CharField(max_length=128, required=False, initial="master")

    target_type = forms.ChoiceField(
        label="Run on", choices=Job.TargetType.choices, initial=Job.TargetType.SERVERS
    )
    servers = forms.ModelMultipleChoiceField(
        queryset=Server.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    group = forms.ModelChoiceField(queryset=ServerGroup.objects.none(), required=False)
    label = forms.ModelChoiceField(queryset=Label.objects.none(), required=False)

    schedule_type = forms.ChoiceField(
        label="Schedule", choices=Job.ScheduleType.choices, initial=Job.ScheduleType.CRON
    )
    expression = forms.CharField(
        label="Cron expression",
        required=False,
        max_length=120,
        initial="0 2 * * *",
        help_text="minute hour day-of-month month day-of-week, in the job's time zone.",
    )
    interval_seconds = forms.IntegerField(
        label="Every (seconds)", required=False, min_value=1, initial=3600
    )
    run_at = forms.DateTimeField(
        label="Run at (local time)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    event = forms.ChoiceField(label="Event", choices=Job.Event.choices, required=False)
    timezone = forms.CharField(
        label="Time zone",
        max_length=64,
        initial="UTC",
        widget=forms.TextInput(attrs={"list": "time-zones", "autocomplete": "off"}),
    )

    timeout_seconds = forms.IntegerField(label="Time limit (seconds)", initial=1800)
    retry_attempts = forms.IntegerField(label="Retries", initial=0, min_value=0)
    retry_backoff = forms.ChoiceField(
        label="Back-off", choices=Job.Backoff.choices, initial=Job.Backoff.EXPONENTIAL
    )
    retry_delay_seconds = forms.IntegerField(label="First retry after (seconds)", initial=60)
    retry_max_delay_seconds = forms.IntegerField(label="Longest wait (seconds)", initial=3600)
    priority = forms.IntegerField(initial=0, help_text="-100 to 100; higher starts first.")
    overlap_policy = forms.ChoiceField(
        label="While a run is active", choices=Job.Overlap.choices, initial=Job.Overlap.SKIP
    )
    misfire_policy = forms.ChoiceField(
        label="After downtime", choices=Job.Misfire.choices, initial=Job.Misfire.RUN_ONCE
    )
    heavy = forms.BooleanField(
        label="Heavy maintenance (never with another heavy job on a server)", required=False
    )
    is_enabled = forms.BooleanField(label="Enabled", required=False, initial=True)

    def __init__(self, *args: Any, job: Job | None = None, **kwargs: Any) -> None:
        self.job = job
        if job is not None and "initial" not in kwargs:
            kwargs["initial"] = initial_for(job)
        super().__init__(*args, **kwargs)
        self.fields["servers"].queryset = Server.objects.alive().order_by("name")
        self.fields["group"].queryset = ServerGroup.objects.order_by("name")
        self.fields["label"].queryset = Label.objects.order_by("name")
        self.picks = {p.value: p for p in job_types.picks(Job.Type.POLICY_EXECUTION)}
        self.fields["policy"].choices = [("", "Choose a policy…")] + [
            (p.value, p.label) for p in self.picks.values()
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("job_type") == Job.Type.POLICY_EXECUTION and not data.get("policy"):
            self.add_error(
                "policy",
                "Choose a policy." if self.picks else "There is no active policy to run yet.",
            )
        return data

    def clean_timezone(self) -> str:
        tz = self.cleaned_data["timezone"].strip()
        if tz not in zoneinfo.available_timezones():
            raise forms.ValidationError("An IANA time zone such as Europe/Berlin.")
        return tz

    def schedule_config(self) -> dict[str, Any]:
        data = self.cleaned_data
        kind = data.get("schedule_type")
        if kind == Job.ScheduleType.CRON:
            return {"expression": (data.get("expression") or "").strip()}
        if kind == Job.ScheduleType.INTERVAL:
            return {"interval_seconds": data.get("interval_seconds")}
        if kind == Job.ScheduleType.ONCE:
            when = data.get("run_at")
            if when is None:
                return {}
            # The wall-clock time means the job's zone, whatever the browser's zone is.
            local = when.replace(tzinfo=None).replace(tzinfo=zoneinfo.ZoneInfo(data["timezone"]))
            return {"run_at": local.isoformat()}
        return {"event": data.get("event") or ""}

    def action_data(self) -> dict[str, Any]:
        """What `scheduler.actions.create_job` / `update_job` take."""
        data = self.cleaned_data
        out: dict[str, Any] = {k: data[k] for k in SIMPLE_FIELDS}
        out["schedule_config"] = self.schedule_config()
        out["configuration"] = {}
        if data["job_type"] == Job.Type.CUSTOM_SCRIPT:
            out["configuration"] = {
                "script": data.get("script") or "",
                "database": data.get("database") or "master",
            }
        elif data["job_type"] == Job.Type.POLICY_EXECUTION and data.get("policy") in self.picks:
            chosen = dict(self.picks[data["policy"]].configuration)
            current = (self.job.configuration or {}) if self.job else {}
            same = ("policy_id", "task")
            if all(current.get(k) == chosen[k] for k in same) and "policy_version" in current:
                # Saving other changes keeps the version the job runs (a deployment pins it);
                # only picking another policy takes that one's latest.
                chosen["policy_version"] = current["policy_version"]
            out["configuration"] = chosen
        out["group"] = data.get("group") if data["target_type"] == Job.TargetType.GROUP else None
        out["label"] = data.get("label") if data["target_type"] == Job.TargetType.LABEL else None
        servers = data.get("servers") or []
        out["server_ids"] = (
            [s.pk for s in servers] if data["target_type"] == Job.TargetType.SERVERS else []
        )
        return out

    def add_action_errors(self, errors: dict[str, list[str]]) -> None:
        kind = self.cleaned_data.get("schedule_type")
        for key, messages in errors.items():
            field = ERROR_FIELDS.get(key, key)
            if key == "schedule_config":
                field = {"interval": "interval_seconds", "once": "run_at", "event": "event"}.get(
                    str(kind), "expression"
                )
            if field not in self.fields:
                field = None
            for message in messages:
                self.add_error(field, message)


def initial_for(job: Job) -> dict[str, Any]:
    cfg = job.schedule_config or {}
    conf = job.configuration or {}
    run_at = cfg.get("run_at")
    local = None
    if isinstance(run_at, str) and run_at:
        local = dt.datetime.fromisoformat(run_at).astimezone(zoneinfo.ZoneInfo(job.timezone))
    return {
        **{f: getattr(job, f) for f in SIMPLE_FIELDS},
        "script": conf.get("script", ""),
        "database": conf.get("database", "master"),
        "servers": list(job.servers.values_list("pk", flat=True)),
        "group": job.group_id,
        "label": job.label_id,
        "expression": cfg.get("expression", "0 2 * * *"),
        "interval_seconds": cfg.get("interval_seconds", 3600),
        "run_at": local.replace(tzinfo=None) if local else None,
        "event": cfg.get("event", ""),
        "policy": f"{conf['policy_id']}:{conf.get('task', '')}" if "policy_id" in conf else "",
    }


class DependencyForm(forms.Form):
    """One job this job runs after, and when."""

    upstream = forms.ModelChoiceField(
        label="Runs after", queryset=Job.objects.none(), required=False, empty_label="—"
    )
    trigger_rule = forms.ChoiceField(
        label="When",
        choices=JobDependency.Trigger.choices,
        initial=JobDependency.Trigger.ON_SUCCESS,
    )

    def __init__(self, *args: Any, job: Job, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["upstream"].queryset = Job.objects.alive().exclude(pk=job.pk).order_by("name")


DependencyFormSet = forms.formset_factory(DependencyForm, extra=0, max_num=100)


def dependency_forms(job: Job, data: Any = None, blank_rows: int = 2) -> Any:
    """The formset of `job`'s upstream links (as saved, or as posted), with blank rows to add."""
    initial = [
        {"upstream": d.upstream_id, "trigger_rule": d.trigger_rule}
        for d in JobDependency.objects.filter(job=job, upstream__deleted_at__isnull=True)
        .select_related("upstream")
        .order_by("upstream__name")
    ]
    if data is None:
        initial += [{} for _ in range(blank_rows)]
    return DependencyFormSet(
        data, initial=initial if data is None else None, form_kwargs={"job": job}, prefix="dep"
    )


class BulkRunForm(ServerIdsForm):
    """The server list's bulk "run job": one job, run now on the ticked servers."""

    job = forms.ModelChoiceField(
        queryset=Job.objects.none(),
        error_messages={"required": "Choose a job to run.", "invalid_choice": "Unknown job."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["job"].queryset = Job.objects.alive()

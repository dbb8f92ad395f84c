"""Jobs pages: the list, a job's page with its runs, a run's page (live while it runs), and the
job form with its schedule preview.

Thin views: the form shapes input, `scheduler.actions` decides and writes. A viewer sees every
page; an operator runs, cancels, enables and disables; an admin creates, edits and deletes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Exists, F, Max, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from core import settings_store
from dbtools import roles
from dbtools.decorators import refusal, role_required
from dbtools.errors import ActionError
from dbtools.filterbar import Control, filter_bar
from dbtools.pages import back_to, query_without, sort_headers, vary_on_htmx, wants_partial
from dbtools.roles import Role
from scheduler import actions
from scheduler.filters import SORTABLE, JobFilter
from scheduler.forms import CRON_TEMPLATES, BulkRunForm, JobForm, time_zones
from scheduler.models import ACTIVE, Job, JobDependency, JobExecution, JobRun, RunStatus

RUNS_PER_PAGE = 20
LIVE_SECONDS = 2  # a running run's page refreshes this often
# Status -> (icon, css modifier): every status shows an icon and its name, never colour alone.
STATUS_LOOK = {
    RunStatus.QUEUED: ("hourglass", "queued"),
    RunStatus.RUNNING: ("loader-circle", "running"),
    RunStatus.SUCCEEDED: ("circle-check", "ok"),
    RunStatus.FAILED: ("octagon-x", "crit"),
    RunStatus.TIMED_OUT: ("clock-alert", "crit"),
    RunStatus.INTERRUPTED: ("triangle-alert", "crit"),
    RunStatus.SKIPPED: ("circle-dashed", "muted"),
    RunStatus.MISSED: ("calendar-clock", "warn"),
    RunStatus.CANCELLED: ("x", "muted"),
}
COLUMNS = [
    ("name", "Name"),
    ("job_type", "Type"),
    ("schedule", "Schedule"),
    ("targets", "Targets"),
    ("next_run_at", "Next run"),
    ("last_run_at", "Last run"),
    ("state", "State"),
]


FILTER_BAR = [
    Control(
        "q",
        "id_q",
        "Search jobs",
        input_type="search",
        attrs={"placeholder": "Search by name…", "autocomplete": "off"},
    ),
    Control("job_type", "f-type", "Type", any="Any type"),
    Control("state", "f-state", "Status", any="Any status"),
]


def jobs_with_runs() -> QuerySet[Job]:
    """Live jobs with their targets, last finished run (when, status) and whether one runs."""
    last = JobRun.objects.filter(job=OuterRef("pk")).exclude(status__in=ACTIVE)
    last = last.order_by("-scheduled_for", "-id")
    return (
        Job.objects.alive()
        .select_related("group", "label")
        .prefetch_related("servers")
        .annotate(
            last_run_at=Max("runs__scheduled_for"),
            last_status=Subquery(last.values("status")[:1]),
            last_run_id=Subquery(last.values("pk")[:1]),
            is_running=Exists(JobRun.objects.filter(job=OuterRef("pk"), status__in=ACTIVE)),
        )
        .order_by("name", "pk")
    )


def _job(pk: int) -> Job:
    return get_object_or_404(jobs_with_runs(), pk=pk)


# The page's shared status colours (the deploy states'): green, red, yellow, the spinning blue.
CSS = {
    "ok": "mon-monitored",
    "crit": "mon-failed",
    "warn": "mon-queued",
    "queued": "mon-queued",
    "running": "mon-deploying",
    "muted": "",
}


def look(status: str) -> dict[str, str]:
    icon, kind = STATUS_LOOK.get(status, ("circle-dashed", "muted"))
    text = RunStatus(status).label if status else ""
    return {"icon": icon, "kind": kind, "css": CSS[kind], "text": text}


def targets_text(job: Job) -> str:
    if job.target_type == Job.TargetType.GROUP:
        return f"Group {job.group.name}" if job.group else "A group"
    if job.target_type == Job.TargetType.LABEL:
        return f"Label {job.label.name}" if job.label else "A label"
    names = [s.name for s in job.servers.all()]
    if len(names) > 3:
        return ", ".join(names[:3]) + f" and {len(names) - 3} more"
    return ", ".join(names) or "No servers"


def decorate(job: Job) -> Job:
    """What a row shows besides the model: the last run's look, the targets in words."""
    job.last_look = look(job.last_status) if getattr(job, "last_status", None) else None
    job.targets_text = targets_text(job)
    return job


# -- list -----------------------------------------------------------------------------------------
def job_list(request: HttpRequest) -> HttpResponse:
    params = request.GET.copy()
    ordering = params.get("ordering") or "next_run_at"
    params["ordering"] = ordering
    filterset = JobFilter(params, queryset=jobs_with_runs())
    qs = filterset.qs if filterset.is_valid() else jobs_with_runs().none()
    if ordering.lstrip("-") in ("next_run_at", "last_run_at"):
        # Jobs with no next (or last) run go last whichever way the column is sorted.
        field = ordering.lstrip("-")
        desc = ordering.startswith("-")
        key = F(field).desc(nulls_last=True) if desc else F(field).asc(nulls_last=True)
        qs = qs.order_by(key, "name")
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    for job in page:
        decorate(job)
    headers = sort_headers(request, COLUMNS, SORTABLE, ordering)
    filtered = any(request.GET.get(k) for k in ("q", "job_type", "state"))
    bar = filter_bar(
        filterset,
        FILTER_BAR,
        form_id="job-filters",
        url=reverse("jobs"),
        target="#job-rows",
        ordering=ordering,
        clear=filtered,
        clear_icon=True,
    )
    context = {
        "filter": filterset,
        "filter_bar": bar,
        "page": page,
        "ordering": ordering,
        "headers": headers,
        # Operators also get the column of row buttons.
        "column_count": len(headers) + roles.request_has_role(request, Role.OPERATOR),
        "query_no_page": query_without(request),
        "filtered": filtered,
        "refresh_seconds": settings_store.get("dashboard_refresh_seconds"),
    }
    template = "scheduler/list.html#rows" if wants_partial(request) else "scheduler/list.html"
    return vary_on_htmx(render(request, template, context))


# -- job page -------------------------------------------------------------------------------------
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = decorate(_job(pk))
    runs = Paginator(JobRun.objects.filter(job=job).order_by("-created_at", "-id"), RUNS_PER_PAGE)
    page = runs.get_page(request.GET.get("page"))
    for run in page:
        run.look = look(run.status)
        run.duration = _duration(run.started_at, run.finished_at)
    tz = job.schedule().zone()
    upcoming = [
        {"at": s.at, "local": f"{s.at.astimezone(tz):%a %Y-%m-%d %H:%M %Z}", "note": s.note}
        for s in (job.upcoming(5) if job.is_enabled else [])
    ]
    links = JobDependency.objects.filter(
        job__deleted_at__isnull=True, upstream__deleted_at__isnull=True
    ).select_related("job", "upstream")
    context = {
        "job": job,
        "page": page,
        "upcoming": upcoming,
        "upstream": links.filter(job=job),
        "downstream": links.filter(upstream=job),
        "active_run": JobRun.objects.filter(job=job, status__in=ACTIVE).first(),
        "refresh_seconds": settings_store.get("dashboard_refresh_seconds"),
    }
    template = "scheduler/detail.html#runs" if wants_partial(request) else "scheduler/detail.html"
    return vary_on_htmx(render(request, template, context))


def _duration(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None:
        return ""
    seconds = ((end or timezone.now()) - start).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def run_detail(request: HttpRequest, pk: int, run_id: int) -> HttpResponse:
    job = _job(pk)
    run = get_object_or_404(JobRun, job=job, pk=run_id)
    run.look = look(run.status)
    run.duration = _duration(run.started_at, run.finished_at)
    executions = list(JobExecution.objects.filter(run=run).order_by("server_name", "id"))
    for ex in executions:
        ex.look = look(ex.status)
        ex.duration = _duration(ex.started_at, ex.completed_at)
    context = {
        "job": job,
        "run": run,
        "executions": executions,
        # A cancelled run's statements stop a moment later: follow them until they have.
        "live": run.status in ACTIVE or any(ex.status in ACTIVE for ex in executions),
        "live_seconds": LIVE_SECONDS,
        "cancellable": run.status in ACTIVE,
    }
    template = "scheduler/run.html#run" if wants_partial(request) else "scheduler/run.html"
    return vary_on_htmx(render(request, template, context))


# -- actions --------------------------------------------------------------------------------------
def _done(request: HttpRequest, text: str, to: str, level: int = messages.SUCCESS) -> HttpResponse:
    messages.add_message(request, level, text)
    return redirect(to)


@role_required(Role.OPERATOR)
def job_run(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(pk)
    try:
        run = actions.run_now(job, acting_user=request.user)
    except ActionError as exc:
        text = " ".join(m for msgs in exc.errors.values() for m in msgs)
        return _done(request, text, reverse("jobs-detail", args=[pk]), messages.ERROR)
    return _done(request, f"{job.name} started.", reverse("jobs-run", args=[pk, run.pk]))


@role_required(Role.OPERATOR)
def job_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(pk)
    enable = request.POST.get("enabled") == "1"
    actions.set_enabled(job, enable, acting_user=request.user)
    text = f"{job.name} {'enabled' if enable else 'disabled'}."
    back = request.POST.get("next", "")
    # Back to the list it came from (with its filters), never to another site.
    if not (back.startswith("/jobs/") and url_has_allowed_host_and_scheme(back, None)):
        back = reverse("jobs-detail", args=[pk])
    return _done(request, text, back)


@role_required(Role.OPERATOR)
def run_cancel(request: HttpRequest, pk: int, run_id: int) -> HttpResponse:
    job = _job(pk)
    run = get_object_or_404(JobRun, job=job, pk=run_id)
    to = reverse("jobs-run", args=[pk, run.pk])
    try:
        actions.cancel_run(run, acting_user=request.user)
    except ActionError as exc:
        text = " ".join(m for msgs in exc.errors.values() for m in msgs)
        return _done(request, text, to, messages.ERROR)
    return _done(request, "Run cancelled; statements in flight are being stopped.", to)


@role_required(Role.ADMIN)
def job_delete(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(pk)
    actions.delete_job(job, acting_user=request.user)
    return _done(request, f"{job.name} deleted; its history stays.", reverse("jobs"))


# -- form -----------------------------------------------------------------------------------------
def _form_page(
    request: HttpRequest, form: JobForm, job: Job | None, status: int = 200
) -> HttpResponse:
    context = {
        "form": form,
        "job": job,
        "cron_templates": CRON_TEMPLATES,
        "time_zones": time_zones(),
        "preview": _preview_from(form.data if form.is_bound else _initial_data(form)),
    }
    return render(request, "scheduler/form.html", context, status=status)


def _initial_data(form: JobForm) -> dict[str, Any]:
    data = {name: form[name].value() for name in form.fields}
    if data.get("run_at"):
        data["run_at"] = data["run_at"].strftime("%Y-%m-%dT%H:%M")
    return data


def _save(request: HttpRequest, job: Job | None) -> HttpResponse:
    form = JobForm(request.POST, job=job)
    if form.is_valid():
        try:
            if job is None:
                job = actions.create_job(form.action_data(), acting_user=request.user)
                text = f"Job {job.name} created."
            else:
                job = actions.update_job(job, form.action_data(), acting_user=request.user)
                text = f"Job {job.name} saved."
        except ActionError as exc:
            form.add_action_errors(exc.errors)
        else:
            return _done(request, text, reverse("jobs-detail", args=[job.pk]))
    return _form_page(request, form, job, status=400)


def job_new(request: HttpRequest) -> HttpResponse:
    if denied := refusal(request, Role.ADMIN):
        return denied
    if request.method == "POST":
        return _save(request, None)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "POST"])
    return _form_page(request, JobForm(), None)


def job_edit(request: HttpRequest, pk: int) -> HttpResponse:
    if denied := refusal(request, Role.ADMIN):
        return denied
    job = _job(pk)
    if request.method == "POST":
        return _save(request, job)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "POST"])
    return _form_page(request, JobForm(job=job), job)


def _preview_from(data: Any) -> dict[str, Any]:
    """The schedule in words and its next five runs, from the form's schedule fields alone."""
    form = JobForm(data)
    form.is_valid()  # only the schedule fields matter here
    cleaned = form.cleaned_data
    if "timezone" not in cleaned:
        return {"error": "Choose a valid time zone."}
    if cleaned.get("schedule_type") not in Job.ScheduleType.values:
        return {"error": "Choose a schedule type."}
    job = Job(
        schedule_type=cleaned["schedule_type"],
        schedule_config=form.schedule_config(),
        timezone=cleaned["timezone"],
    )
    if errors := job.schedule_errors():
        return {"error": " ".join(m for msgs in errors.values() for m in msgs)}
    tz = job.schedule().zone()
    runs = [
        {"local": f"{s.at.astimezone(tz):%a %Y-%m-%d %H:%M %Z}", "note": s.note}
        for s in job.upcoming(5)
    ]
    return {
        "description": job.describe_schedule(),
        "runs": runs,
        "event": job.schedule_type == "event",
    }


def schedule_preview(request: HttpRequest) -> HttpResponse:
    """GET, from the form's schedule fields as they are typed (HTMX): never writes."""
    context = {"preview": _preview_from(request.GET)}
    return render(request, "scheduler/form.html#preview", context)


@role_required(Role.OPERATOR)
def bulk_run(request: HttpRequest) -> HttpResponse:
    """The server list's bulk "run job": the chosen job now, on the ticked servers only."""
    back = back_to(request, reverse("servers"), reverse("servers"))
    form = BulkRunForm(request.POST)
    if not form.is_valid():
        errors = [e for errs in form.errors.values() for e in errs]
        return _done(request, " ".join(errors), back, messages.ERROR)
    job, servers = form.cleaned_data["job"], form.cleaned_data["servers"]
    try:
        run = actions.run_now(job, acting_user=request.user, servers=servers)
    except ActionError as exc:
        text = " ".join(m for msgs in exc.errors.values() for m in msgs)
        return _done(request, text, back, messages.ERROR)
    count = len(servers)
    text = f"{job.name} started on {count} server{'s' if count != 1 else ''}."
    return _done(request, text, reverse("jobs-run", args=[job.pk, run.pk]))

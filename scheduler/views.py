"""Jobs pages: the list, a job's page with its runs, a run's page (live while it runs), and the
job form with its schedule preview.

Thin views: the form shapes input, `scheduler.actions` decides and writes. A viewer sees every
page; an operator runs, cancels, enables and disables; an admin creates, edits and deletes."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Exists, F, Max, OuterRef, QuerySet, Subquery
from django.forms.forms import NON_FIELD_ERRORS
from django.forms.utils import ErrorDict
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from core import settings_store
from dbtools import roles
from dbtools.decorators import refusal, role_required
from dbtools.errors import ActionError
from dbtools.filterbar import Control, filter_bar
from dbtools.pages import back_to, query_without, sort_headers, vary_on_htmx, wants_partial
from dbtools.roles import Role
from scheduler import actions, engine, timeline
from scheduler.filters import SORTABLE, JobFilter
from scheduler.forms import (
    CRON_TEMPLATES,
    REVIEW,
    STEPS,
    BulkRunForm,
    JobForm,
    dependency_forms,
    step_of,
    time_zones,
)
from scheduler.models import ACTIVE, Job, JobDependency, JobExecution, JobRun, RunStatus
from servers import target_limits
from servers.models import Server

RUNS_PER_PAGE = 20
SERVERS_PER_RUN_ROW = 5  # a run on a large group links to its page for the rest
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
    if status == timeline.PLANNED:
        return {"icon": "chevron-right", "kind": "muted", "css": "", "text": "Planned"}
    icon, kind = STATUS_LOOK.get(status, ("circle-dashed", "muted"))
    text = RunStatus(status).label if status else ""
    return {"icon": icon, "kind": kind, "css": CSS[kind], "text": text}


def _timeline(
    request: HttpRequest, jobs: list[Job], tz: dt.tzinfo, zone_name: str
) -> dict[str, Any]:
    """The context of `_timeline.html`: seven days of `jobs`, from ?from= or today."""
    now = timezone.now()
    win = timeline.window(tz, now, request.GET.get("from"))
    rows = timeline.rows(jobs, win, now)
    seen: set[str] = set()
    for row in rows:
        for day in row.days:
            for m in day.marks:
                m.look = look(m.status)
                seen.add(m.status)
            day.count_looks = [(look(s), n) for s, n in day.counts()]
    today = now.astimezone(tz).date()
    order = [timeline.PLANNED, *RunStatus.values]
    return {
        "rows": rows,
        "window": win,
        "dates": win.dates(),
        "last": win.dates()[-1],
        "today": today,
        "is_current": win.first == today,
        "zone": zone_name,
        "legend": [look(s) for s in order if s in seen],
        # The list's filters stay on the week links.
        "query": _keep_query(request, ("from", "page")),
    }


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


def _keep_query(request: HttpRequest, drop: tuple[str, ...]) -> str:
    """The request's parameters but `drop`, as "&a=1&b=2" to follow a link's own parameter."""
    kept = [(k, v) for k, vals in request.GET.lists() if k not in drop for v in vals if v]
    return "&" + urlencode(kept) if kept else ""


# -- the fleet's week ----------------------------------------------------------------------------
TIMELINE_JOBS = 25


def fleet_timeline(request: HttpRequest) -> HttpResponse:
    """Every job's runs over seven days (UTC), filtered like the list, 25 jobs a page."""
    filterset = JobFilter(request.GET, queryset=jobs_with_runs())
    first = request.GET.get("from", "")
    bar = filter_bar(
        filterset,
        FILTER_BAR,
        form_id="timeline-filters",
        url=reverse("jobs-timeline"),
        target="#timeline-body",
        clear=any(request.GET.get(k) for k in ("q", "job_type", "state")),
        clear_icon=True,
        hidden={"from": first} if first else {},
    )
    qs = filterset.qs if filterset.is_valid() else jobs_with_runs().none()
    page = Paginator(qs.order_by("name", "pk"), TIMELINE_JOBS).get_page(request.GET.get("page"))
    context = {
        "filter": filterset,
        "filter_bar": bar,
        "page": page,
        "timeline": _timeline(request, list(page), dt.UTC, "UTC"),
    }
    partial = "scheduler/timeline.html#body" if wants_partial(request) else None
    return vary_on_htmx(render(request, partial or "scheduler/timeline.html", context))


# -- job page -------------------------------------------------------------------------------------
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = decorate(_job(pk))
    runs = Paginator(JobRun.objects.filter(job=job).order_by("-created_at", "-id"), RUNS_PER_PAGE)
    page = runs.get_page(request.GET.get("page"))
    by_run: dict[int, list[JobExecution]] = {}
    executions = JobExecution.objects.filter(run__in=[r.pk for r in page]).order_by(
        "server_name", "id"
    )
    for ex in executions.only("pk", "run_id", "server_name", "status"):
        ex.look = look(ex.status)
        by_run.setdefault(ex.run_id, []).append(ex)
    for run in page:
        run.look = look(run.status)
        run.duration = _duration(run.started_at, run.finished_at)
        found = by_run.get(run.pk, [])
        run.shown_executions = found[:SERVERS_PER_RUN_ROW]
        run.more_executions = max(0, len(found) - SERVERS_PER_RUN_ROW)
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
        "timeline": _timeline(request, [job], tz, job.timezone),
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


ERROR_KINDS = {
    "login_failed": "Login failed",
    "permission_missing": "Permission missing",
    "version_unsupported": "Version not supported",
    "tls_failure": "Encryption (TLS) failed",
    "unreachable": "Server unreachable",
    "timeout": "Time limit reached",
    "query_failed": "Error from the server",
    "cancelled": "Cancelled",
    "interrupted": "Worker stopped",
    "bad_configuration": "Not runnable as configured",
    "internal": "DbTools error",
}


def execution_detail(request: HttpRequest, pk: int, run_id: int, execution_id: int) -> HttpResponse:
    """One server's part of a run: its status, attempts, times, error, messages and result. A
    dialog over the run page (HTMX), or a page of its own."""
    job = _job(pk)
    run = get_object_or_404(JobRun, job=job, pk=run_id)
    ex = get_object_or_404(JobExecution, run=run, pk=execution_id)
    ex.look = look(ex.status)
    ex.duration = _duration(ex.started_at, ex.completed_at)
    context = {
        "job": job,
        "run": run,
        "ex": ex,
        "error_kind": ERROR_KINDS.get(ex.error_kind, ex.error_kind),
        "retryable": ex.error_kind not in engine.NOT_RETRYABLE,
        "result_json": json.dumps(ex.result, indent=2, sort_keys=True) if ex.result else "",
        "live": ex.status in ACTIVE,
        "live_seconds": LIVE_SECONDS,
        "cancellable": run.status in ACTIVE,
    }
    partial = "scheduler/execution.html#body" if wants_partial(request) else None
    return vary_on_htmx(render(request, partial or "scheduler/execution.html", context))


def job_dependencies(request: HttpRequest, pk: int) -> HttpResponse:
    """Choose the jobs this one runs after and when; a cycle is refused with the reason."""
    if denied := refusal(request, Role.ADMIN):
        return denied
    job = _job(pk)
    status = 200
    if request.method == "POST":
        formset = dependency_forms(job, request.POST)
        if request.POST.get("go") == "add":
            formset = _with_blank_row(formset, job)
        elif formset.is_valid():
            wanted = [
                (f.cleaned_data["upstream"].pk, f.cleaned_data["trigger_rule"])
                for f in formset.forms
                if f.cleaned_data.get("upstream")
            ]
            try:
                actions.set_dependencies(job, wanted, acting_user=request.user)
            except ActionError as exc:
                formset.action_errors = [m for msgs in exc.errors.values() for m in msgs]
                status = 400
            else:
                return _done(request, "Dependencies saved.", reverse("jobs-detail", args=[pk]))
        else:
            status = 400
    elif request.method in ("GET", "HEAD"):
        formset = dependency_forms(job)
    else:
        return HttpResponseNotAllowed(["GET", "POST"])
    context = {"job": job, "formset": formset, "downstream": _downstream(job)}
    return render(request, "scheduler/dependencies.html", context, status=status)


def _with_blank_row(formset: Any, job: Job) -> Any:
    """The posted rows as they were, plus an empty one (the "Add a row" button)."""
    data = formset.data.copy()
    total = int(data.get("dep-TOTAL_FORMS", "0") or 0)
    data["dep-TOTAL_FORMS"] = str(min(total + 1, 100))
    fresh = dependency_forms(job, data)
    fresh._errors = []  # adding a row is not a save: no errors yet
    fresh._non_form_errors = fresh.error_class()
    for form in fresh.forms:
        form._errors = ErrorDict()
        form.cleaned_data = {}
    return fresh


def _downstream(job: Job) -> QuerySet[JobDependency]:
    return JobDependency.objects.filter(upstream=job, job__deleted_at__isnull=True).select_related(
        "job"
    )


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


# -- the wizard -----------------------------------------------------------------------------------
# Every step's fields stay in the one form (the steps not shown are hidden), so Back and Next
# keep what was typed without any state on the server; Next checks the steps up to the one it
# leaves with the same rules the save applies (`actions.check_job`).
TEST_RUN_SECONDS = 30  # a test run holds a web request: never longer than this


def _wizard_page(
    request: HttpRequest,
    form: JobForm,
    job: Job | None,
    step: int = 1,
    status: int = 200,
    quiet: bool = False,
    checked: int | None = None,
) -> HttpResponse:
    """The wizard at `step`, with the errors of the steps up to `checked` (default: `step`);
    the others are not asked about yet."""
    checked = step if checked is None else checked
    if quiet or not form.is_bound:
        form._errors = ErrorDict()  # moving back shows no errors of steps not asked for again
        form.cleaned_data = {}
    else:
        for name in list(form.errors):
            if step_of(None if name == NON_FIELD_ERRORS else name) > checked:
                del form.errors[name]
    data = form.data if form.is_bound else _initial_data(form)
    context = {
        "form": form,
        "job": job,
        "steps": STEPS,
        "step": step,
        "review_step": REVIEW,
        "cron_templates": CRON_TEMPLATES,
        "time_zones": time_zones(),
        "preview": _preview_from(data),
        "focus_step": form.is_bound,
        "review": _review(form) if step == REVIEW else None,
    }
    return render(request, "scheduler/form.html", context, status=status)


def _initial_data(form: JobForm) -> dict[str, Any]:
    data = {name: form[name].value() for name in form.fields}
    if data.get("run_at"):
        data["run_at"] = data["run_at"].strftime("%Y-%m-%dT%H:%M")
    return data


def _first_error_step(form: JobForm, job: Job | None) -> int | None:
    """Check the whole job; the first step with an error, or None."""
    if form.is_valid():
        try:
            actions.check_job(form.action_data(), job)
        except ActionError as exc:
            form.add_action_errors(exc.errors)
    if not form.errors:
        return None
    return min(step_of(None if n == NON_FIELD_ERRORS else n) for n in form.errors)


def _review(form: JobForm) -> dict[str, Any] | None:
    if not form.is_bound or not form.is_valid():
        return None
    data = form.action_data()
    servers = engine.resolve(
        data["target_type"],
        group_id=data["group"].pk if data["group"] else None,
        label_id=data["label"].pk if data["label"] else None,
        server_ids=data["server_ids"],
    )
    pick = form.picks.get(form.cleaned_data.get("policy") or "")
    return {
        "data": data,
        "type": Job.Type(data["job_type"]).label,
        "policy": pick.label if pick else "",
        "servers": servers,
        "can_test": data["job_type"] == Job.Type.CUSTOM_SCRIPT and bool(servers),
        "test_seconds": min(TEST_RUN_SECONDS, data["timeout_seconds"]),
    }


def _wizard(request: HttpRequest, job: Job | None) -> HttpResponse:
    if request.method in ("GET", "HEAD"):
        return _wizard_page(request, JobForm(job=job), job)
    if request.method != "POST":
        return HttpResponseNotAllowed(["GET", "POST"])
    form = JobForm(request.POST, job=job)
    try:
        current = min(max(int(request.POST.get("step", "1")), 1), REVIEW)
    except ValueError:
        current = 1
    go = request.POST.get("go", "next")
    if go == "back":
        return _wizard_page(request, form, job, step=max(1, current - 1), quiet=True)
    if go.startswith("step-") and go[5:].isdigit():
        target = min(max(int(go[5:]), 1), REVIEW)
    elif go == "save":
        target = REVIEW + 1
    else:
        target = min(current + 1, REVIEW)
    if target <= current:
        return _wizard_page(request, form, job, step=target, quiet=True)
    # Moving on checks every step before the one asked for.
    failed = _first_error_step(form, job)
    if failed is not None and failed < target:
        return _wizard_page(request, form, job, step=failed, status=400)
    if target <= REVIEW:
        return _wizard_page(request, form, job, step=target, checked=target - 1)
    try:
        if job is None:
            job = actions.create_job(form.action_data(), acting_user=request.user)
            text = f"Job {job.name} created."
        else:
            job = actions.update_job(job, form.action_data(), acting_user=request.user)
            text = f"Job {job.name} saved."
    except ActionError as exc:
        form.add_action_errors(exc.errors)
        failed = min(step_of(None if n == NON_FIELD_ERRORS else n) for n in form.errors)
        return _wizard_page(request, form, job, step=failed, status=400)
    return _done(request, text, reverse("jobs-detail", args=[job.pk]))


def job_new(request: HttpRequest) -> HttpResponse:
    if denied := refusal(request, Role.ADMIN):
        return denied
    return _wizard(request, None)


def job_edit(request: HttpRequest, pk: int) -> HttpResponse:
    if denied := refusal(request, Role.ADMIN):
        return denied
    return _wizard(request, _job(pk))


@role_required(Role.ADMIN)
def test_run(request: HttpRequest) -> HttpResponse:
    """The wizard's test run: the script as it stands, once, on one of the targets, before the
    job is saved. Holds the request, so it is short and counts against the limits of requests
    waiting on instances."""
    form = JobForm(request.POST)
    form.is_valid()
    context: dict[str, Any] = {}
    server = Server.objects.alive().filter(pk=_int(request.POST.get("test_server"))).first()
    if server is None:
        context["error"] = "Choose a server to test on."
    elif form.cleaned_data.get("job_type") != Job.Type.CUSTOM_SCRIPT:
        context["error"] = "Only T-SQL scripts can be tried before saving; use Run now after."
    else:
        data = {
            "name": form.cleaned_data.get("name", ""),
            "configuration": {
                "script": form.cleaned_data.get("script") or "",
                "database": form.cleaned_data.get("database") or "master",
            },
        }
        seconds = min(TEST_RUN_SECONDS, form.cleaned_data.get("timeout_seconds") or 30)
        started = timezone.now()
        try:
            with target_limits.target_slot(request.user):
                outcome = actions.test_script(
                    data, server, acting_user=request.user, seconds=seconds
                )
        except target_limits.TargetsBusy as exc:
            context["error"] = exc.message
        except ActionError as exc:
            context["error"] = " ".join(m for msgs in exc.errors.values() for m in msgs)
        else:
            context.update(
                outcome=outcome,
                look=look(outcome.status),
                server=server,
                duration=_duration(started, timezone.now()),
            )
    return render(request, "scheduler/form.html#test_result", context)


def _int(raw: str | None) -> int | None:
    try:
        return int(raw or "")
    except ValueError:
        return None


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

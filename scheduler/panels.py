"""Jobs on the dashboard (failed in the last day), the server page (the jobs that target it, a
maintenance running on it) and the group page. Registered in `SchedulerConfig.ready()` (see
`dbtools.sections`); the queries are the Jobs pages' own (`views.jobs_with_runs`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from scheduler.models import Job, JobExecution, JobRun, RunStatus
from scheduler.views import decorate, jobs_with_runs, look

FAILED = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED)
DASHBOARD_ROWS = 8


def dashboard(request: HttpRequest, obj: Any = None) -> dict[str, Any]:
    since = timezone.now() - dt.timedelta(hours=24)
    failed = JobRun.objects.filter(status__in=FAILED, finished_at__gte=since)
    runs = list(failed.select_related("job").order_by("-finished_at", "-pk")[:DASHBOARD_ROWS])
    for run in runs:
        run.look = look(run.status)
    return {"runs": runs, "count": failed.count() if len(runs) == DASHBOARD_ROWS else len(runs)}


def targeting(server: Any) -> Q:
    """Jobs whose targets include `server` now: chosen directly, through a group or a label."""
    return (
        Q(target_type=Job.TargetType.SERVERS, servers=server)
        | Q(target_type=Job.TargetType.GROUP, group__servers=server)
        | Q(target_type=Job.TargetType.LABEL, label__servers=server)
    )


def _rows(jobs: Any) -> list[Job]:
    return [decorate(j) for j in jobs]


def server_section(request: HttpRequest, server: Any) -> dict[str, Any]:
    ids = Job.objects.alive().filter(targeting(server)).values("pk")
    jobs = jobs_with_runs().filter(pk__in=ids).order_by("next_run_at", "name", "pk")
    return {"jobs": _rows(jobs), "back": request.get_full_path()}


def server_header(request: HttpRequest, server: Any) -> dict[str, Any]:
    running = (
        JobExecution.objects.filter(server=server, status=RunStatus.RUNNING)
        .select_related("job")
        .order_by("started_at")
    )
    return {"running": list(running[:3])}


def group_section(request: HttpRequest, group: Any) -> dict[str, Any]:
    jobs = jobs_with_runs().filter(target_type=Job.TargetType.GROUP, group=group)
    return {"jobs": _rows(jobs.order_by("next_run_at", "name", "pk")), "group": group}


def bulk_run(request: HttpRequest, obj: Any = None) -> dict[str, Any]:
    return {"jobs": list(Job.objects.alive().order_by("name").only("pk", "name"))}

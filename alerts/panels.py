"""Alerts on the dashboard, the server page (section and header count) and the group page.
Registered in `AlertsConfig.ready()` (see `dbtools.sections`); the queries are the Alerts
pages' own (`views.alerts_with_silence`, `views.decorate`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count
from django.http import HttpRequest
from django.utils import timezone

from alerts import evaluator
from alerts.models import Alert
from alerts.views import ACK_LIMIT, alerts_with_silence, decorate

DASHBOARD_ROWS = 8
DASHBOARD_FIELDS = (
    "severity",
    "status",
    "triggered_at",
    "resolved_at",
    "acknowledged_at",
    "rule",
    "server",
)
RECENT_DAYS = 7
SERVER_RECENT_ROWS = 10


def _firing() -> Any:
    return alerts_with_silence().filter(status=Alert.Status.FIRING)


def dashboard(request: HttpRequest, obj: Any = None) -> dict[str, Any]:
    """The newest firing alerts first, then those resolved in the last day, up to a screenful.
    Without the silence check the Alerts pages make: the panel does not show it, and the
    dashboard is redrawn every few seconds."""
    rows = Alert.objects.select_related("rule", "server").only(
        *DASHBOARD_FIELDS, "rule__name", "rule__metric", "server__name"
    )
    firing = list(
        rows.filter(status=Alert.Status.FIRING).order_by("-triggered_at", "-pk")[:DASHBOARD_ROWS]
    )
    recent: list[Alert] = []
    if len(firing) < DASHBOARD_ROWS:
        since = timezone.now() - dt.timedelta(days=1)
        recent = list(
            rows.filter(status=Alert.Status.RESOLVED, resolved_at__gte=since).order_by(
                "-resolved_at", "-pk"
            )[: DASHBOARD_ROWS - len(firing)]
        )
    decorate(firing + recent)
    counts = dict.fromkeys(("critical", "warning", "info"), 0)
    firing_counts = (
        Alert.objects.filter(status=Alert.Status.FIRING)
        .values_list("severity")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for severity, n in firing_counts:
        counts[severity] = n
    return {
        "alerts": firing + recent,
        "firing": sum(counts.values()),
        "counts": counts,
    }


def server_section(request: HttpRequest, server: Any) -> dict[str, Any]:
    since = timezone.now() - dt.timedelta(days=RECENT_DAYS)
    active = list(_firing().filter(server=server).order_by("-triggered_at", "-pk"))
    recent = list(
        alerts_with_silence()
        .filter(server=server, status=Alert.Status.RESOLVED, resolved_at__gte=since)
        .order_by("-resolved_at", "-pk")[:SERVER_RECENT_ROWS]
    )
    decorate(active + recent)
    return {
        "active": active,
        "recent": recent,
        # Heavy maintenance DbTools runs here now, which holds the alerts of quiet rules.
        "work": evaluator.running_work([server.pk]).get(server.pk),
        "recent_days": RECENT_DAYS,
        "ack_limit": ACK_LIMIT,
        "back": request.get_full_path(),
    }


def server_header(request: HttpRequest, server: Any) -> dict[str, Any]:
    firing = Alert.objects.filter(server=server, status=Alert.Status.FIRING)
    severities = set(firing.values_list("severity", flat=True))
    worst = next((s for s in ("critical", "warning", "info") if s in severities), "")
    return {"server": server, "count": firing.count(), "worst": worst}


def group_section(request: HttpRequest, group: Any) -> dict[str, Any]:
    active = list(
        _firing()
        .filter(server__groups=group, server__deleted_at__isnull=True)
        .order_by("-triggered_at", "-pk")
    )
    decorate(active)
    return {"active": active, "group": group}

"""The live Dashboard, and the server page's Health, Metrics and Collection parts."""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from core import settings_store
from dbtools import sections
from dbtools.decorators import role_required
from dbtools.pages import render_page
from dbtools.roles import Role
from monitoring import health, series
from monitoring.actions import config_for, save_config
from monitoring.detail import dba_context
from monitoring.forms import CollectionForm
from monitoring.models import CollectorState
from servers.health import ORDER, Health
from servers.models import Server, ServerGroup, ServerGroupMember

RATE_CHARTS = {"batch_requests", "waits", "io"}
# One server's tile on the dashboard: name, health in words and its icon (never colour alone).
TILE = (
    '<li><a class="tile tile-{status}" data-server="{id}" data-status="{status}" href="{href}"'
    ' title="{title}"><span class="tile-name">{icon}<span class="truncate">{name}</span></span>'
    '<span class="tile-metrics">{metrics}</span></a></li>'
)
STATUS_ORDER = sorted(ORDER, key=ORDER.get)


def _board() -> dict[str, Any]:
    items = health.fleet_health()
    items.sort(key=lambda h: (ORDER[h["status"]], h["name"].lower()))
    by_id = {h["server_id"]: h["status"] for h in items}
    groups: dict[tuple[int, str], Counter] = {}
    for group_id, group_name, server_id in ServerGroupMember.objects.filter(
        server__deleted_at__isnull=True
    ).values_list("group_id", "group__name", "server_id"):
        groups.setdefault((group_id, group_name), Counter())[by_id.get(server_id, "unknown")] += 1
    group_rows = [
        {
            "id": gid,
            "name": name,
            "total": sum(c.values()),
            "counts": [(s, c.get(s, 0), Health(s).label.lower()) for s in STATUS_ORDER],
            "text": " · ".join(
                f"{c[s]} {Health(s).label.lower()}"
                for s in STATUS_ORDER
                if c.get(s) and s != health.HEALTHY
            ),
        }
        for (gid, name), c in sorted(groups.items(), key=lambda kv: kv[0][1].lower())
    ]
    # Built here rather than in the template (TILE): a thousand tiles is where template tags
    # add up.
    base = reverse("servers-detail", args=[0]).replace("/0/", "/")
    # Each health's icon drawn once, not once per tile (an include and a static lookup each).
    icons = {
        h["icon"]: render_to_string("_icon.html", {"name": h["icon"]})
        for h in {h["icon"]: h for h in items}.values()
    }
    tiles = []
    for h in items:
        cpu, mem = h["cpu"], h["memory"]
        # The status in words on every tile: colour alone says nothing to some users.
        if h["status"] == health.STALE:
            metrics = "Not collected" + (
                f" for {h['stale_minutes']} min" if h["stale_minutes"] is not None else ""
            )
        else:
            metrics = h["label"]
            if cpu is not None and h["status"] != health.OFFLINE:
                metrics += f" · CPU {cpu:.0f}%" + (f" · mem {mem:.0f}%" if mem is not None else "")
        title = f"{h['name']}: {metrics}"
        if h["error"]:
            title += f" — {h['error']}"
        href = f"{base}{h['server_id']}/"
        # The standard library's escaping: Django's lazy-aware wrappers cost more than the rest
        # of a tile, and nothing here is lazy.
        tiles.append(
            TILE.format(
                id=int(h["server_id"]),
                name=escape(h["name"]),
                status=escape(h["status"]),
                icon=icons[h["icon"]],
                href=escape(href),
                metrics=escape(metrics),
                title=escape(title),
            )
        )
    return {
        "refresh_seconds": settings_store.get("dashboard_refresh_seconds"),
        # One string: at a thousand tiles the template's per-variable rendering (escaping,
        # localisation) cost more than everything else on the page.
        "tiles_html": mark_safe("".join(tiles)),  # noqa: S308 - every value escaped above
        "health": items,
        "summary": health.summary(items),
        "groups": group_rows,
        "updated_at": timezone.now(),
    }


def dashboard(request: HttpRequest) -> HttpResponse:
    context = _board()
    context["panels"] = sections.build(sections.DASHBOARD, request)
    return render_page(request, "monitoring/dashboard.html", context, part="board")


def health_context(server: Server) -> dict[str, Any]:
    """What the server page's header badge and Health card show."""
    return {
        "server": server,
        "h": health.fleet_health(server.pk)[0],
        "refresh_seconds": settings_store.get("dashboard_refresh_seconds"),
        "now": timezone.now(),
    }


def detail_context(server: Server) -> dict[str, Any]:
    """The server page's health and its blocking, space, Agent jobs and availability groups."""
    return {**health_context(server), **dba_context(server)}


def server_health(request: HttpRequest, pk: int) -> HttpResponse:
    """The Health card alone (and the header badge), for live refreshes."""
    server = get_object_or_404(Server.objects.alive(), pk=pk)
    context = {**health_context(server), "oob": True}
    return render(request, "monitoring/server_health.html", context)


def server_metrics(request: HttpRequest, pk: int) -> HttpResponse:
    """The Metrics tab: one chart per metric for the chosen range (data embedded as JSON)."""
    server = get_object_or_404(Server.objects.alive(), pk=pk)
    range_ = request.GET.get("range", "1h")
    if range_ not in series.RANGES:
        range_ = "1h"
    charts = [
        ("cpu", "CPU %", "%"),
        ("memory", "Memory %", "%"),
        ("connections", "Connections", ""),
        ("batch_requests", "Batch requests / s", "/s"),
        ("waits", "Wait time (ms per s)", "ms/s"),
        ("io", "File I/O", ""),
        ("blocking", "Blocking and deadlocks", ""),
        ("space", "Space: fullest volume free, fullest log used (%)", "%"),
        ("ag", "Availability group queues (KB)", "KB"),
    ]
    state = CollectorState.objects.filter(server=server).first()
    next_due = state.next_due_at if state else None
    rate_note = "Rates need two samples" + (
        f"; next collection at {next_due:%H:%M:%S} UTC." if next_due else "."
    )
    panels = [
        {
            "key": key,
            "title": title,
            "unit": unit,
            "id": f"series-{key}",
            "data": series.series(server.pk, key, range_),
            # A rate is a difference between two collections: say so rather than "No data".
            "empty": rate_note if key in RATE_CHARTS else "No data",
        }
        for key, title, unit in charts
    ]
    context = {
        **health_context(server),
        "range": range_,
        "ranges": list(series.RANGES),
        "charts": panels,
        "has_data": any(s["points"] for p in panels for s in p["data"]["series"]),
        "top_waits": series.top_waits(server.pk, range_),
    }
    return render_page(request, "monitoring/server_metrics.html", context, part="panel")


def _collection_context(server: Server, form: CollectionForm | None = None) -> dict[str, Any]:
    config = config_for(server)
    state = CollectorState.objects.filter(server=server).first()
    return {
        "server": server,
        "config": config,
        "state": state,
        "form": form
        or CollectionForm(
            initial={"enabled": config.enabled, "interval_seconds": config.interval_seconds}
        ),
    }


def collection_card(request: HttpRequest, pk: int) -> HttpResponse:
    """The Collection card of the server page: on/off, interval, last collection."""
    server = get_object_or_404(Server.objects.alive(), pk=pk)
    return render(request, "monitoring/collection_card.html", _collection_context(server))


@role_required(Role.OPERATOR)
def collection_save(request: HttpRequest, pk: int) -> HttpResponse:
    server = get_object_or_404(Server.objects.alive(), pk=pk)
    form = CollectionForm(request.POST)
    if not form.is_valid():
        context = _collection_context(server, form)
        return render(request, "monitoring/collection_card.html", context, status=400)
    save_config(config_for(server), form.cleaned_data, acting_user=request.user)
    context = _collection_context(server)
    context["saved"] = True
    return render(request, "monitoring/collection_card.html", context)


GROUP_CHARTS = [
    ("cpu", "CPU %", "%"),
    ("memory", "Memory %", "%"),
    ("batch_requests", "Batch requests / s", "/s"),
    ("waits", "Wait time (ms per s)", "ms/s"),
]


def group_metrics(request: HttpRequest, pk: int) -> HttpResponse:
    """The group page's Metrics section: members' average or worst member, per range."""
    group = get_object_or_404(ServerGroup, pk=pk)
    range_ = request.GET.get("range", "1h")
    if range_ not in series.RANGES:
        range_ = "1h"
    aggregate = request.GET.get("agg", "avg")
    if aggregate not in series.GROUP_AGGREGATES:
        aggregate = "avg"
    charts = [
        {
            "key": key,
            "title": title,
            "unit": unit,
            "id": f"group-series-{key}",
            "data": series.group_series(group.pk, key, range_, aggregate),
        }
        for key, title, unit in GROUP_CHARTS
    ]
    context = {
        "group": group,
        "range": range_,
        "ranges": list(series.RANGES),
        "aggregate": aggregate,
        "aggregates": list(series.GROUP_AGGREGATES.items()),
        "charts": charts,
        "has_data": any(s["points"] for c in charts for s in c["data"]["series"]),
    }
    return render(request, "monitoring/panels/group_metrics_charts.html", context)

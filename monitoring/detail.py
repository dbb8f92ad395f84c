"""What the server page shows of the latest blocking, space, SQL Agent and availability group
detail (`server_details`, written by the collector from `monitoring.extra`). GET only: reads one
row."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.template.defaultfilters import filesizeformat

from monitoring import extra
from monitoring.models import ServerDetail
from servers.models import Server

# Free space of a volume: below these, warning and critical (icon and text, not colour alone).
VOLUME_WARNING_PERCENT, VOLUME_CRITICAL_PERCENT = 15.0, 5.0
LOG_WARNING_PERCENT = 80
DATABASES_SHOWN = 8


def _level(bad: bool, worse: bool = False) -> str:
    return "critical" if worse else "warning" if bad else "healthy"


def _kb(value: int | None) -> str:
    return "–" if value is None else str(filesizeformat(int(value) * 1024))


def _when(value: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def dba_context(server: Server) -> dict[str, Any]:
    """`dba`: None before the first collection of version 12, else the four sections."""
    row = ServerDetail.objects.filter(server=server).first()
    if row is None:
        return {"dba": None}
    volumes = [
        {
            **v,
            "level": _level(
                (v["free_percent"] or 0) < VOLUME_WARNING_PERCENT,
                (v["free_percent"] or 0) < VOLUME_CRITICAL_PERCENT,
            ),
        }
        for v in row.volumes
    ]
    databases = sorted(row.databases, key=lambda d: -(d.get("log_used_percent") or 0))
    for d in databases:
        d["level"] = _level((d.get("log_used_percent") or 0) >= LOG_WARNING_PERCENT)
        d["data"], d["log"] = _kb(d.get("data_kb")), _kb(d.get("log_kb"))
    jobs = [{**j, "last_run": _when(j.get("last_run_at"))} for j in row.jobs]
    availability = [
        {
            **a,
            "level": _level(a["health"] != extra.HEALTHY, a["health"] == "NOT_HEALTHY"),
            "health_label": str(a["health"] or "unknown").replace("_", " ").lower(),
            "send": _kb(a["log_send_queue_kb"]),
            "redo": _kb(a["redo_queue_kb"]),
        }
        for a in row.availability
    ]
    return {
        "dba": {
            "collected_at": row.collected_at,
            "blockers": row.blockers,
            "space_collected_at": row.space_collected_at,
            "space_every_min": extra.space_interval_seconds() // 60,
            "volumes": volumes,
            "databases": databases[:DATABASES_SHOWN],
            "database_count": len(databases),
            "agent_status": row.agent_status,
            "agent_label": extra.agent_label(row.agent_status),
            "jobs_read": row.agent_status in extra.JOBS_READ,
            "jobs": jobs,
            "failed_jobs": [j for j in jobs if j["outcome"] == "failed"],
            "hadr_enabled": row.hadr_enabled,
            "availability": availability,
        }
    }

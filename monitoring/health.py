"""Server health from the latest snapshot and the tenant's thresholds (story 3.6)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connections
from django.utils import timezone

from core import settings_store
from dbtools import tenancy

HEALTHY, WARNING, CRITICAL, OFFLINE, UNKNOWN = (
    "healthy",
    "warning",
    "critical",
    "offline",
    "unknown",
)
ORDER = {CRITICAL: 0, OFFLINE: 1, WARNING: 2, UNKNOWN: 3, HEALTHY: 4}

# The latest snapshot of every live server in one index-backed pass (LATERAL on the
# (server_id, collected_at) primary key), with its collection state.
LATEST_SQL = """
SELECT s.id, s.name, s.host, s.instance_name, s.port, s.status,
       coalesce(cc.enabled, true) AS enabled, st.last_success_at, st.last_attempt_at,
       st.last_error, snap.collected_at, snap.cpu_percent, snap.memory_percent,
       snap.connection_count, snap.batch_requests_sec
FROM servers s
LEFT JOIN collection_config cc ON cc.server_id = s.id
LEFT JOIN collector_state st ON st.server_id = s.id
LEFT JOIN LATERAL (
    SELECT collected_at, cpu_percent, memory_percent, connection_count, batch_requests_sec
    FROM server_snapshots ss
    WHERE ss.server_id = s.id AND ss.collected_at > %s
    ORDER BY ss.collected_at DESC LIMIT 1
) snap ON true
WHERE s.deleted_at IS NULL {where}
ORDER BY s.name
"""


def classify(row: dict[str, Any], thresholds: dict[str, Any], now: dt.datetime) -> str:
    if not row["enabled"] or row["last_success_at"] is None:
        return UNKNOWN if row["last_attempt_at"] is None or not row["enabled"] else OFFLINE
    if (now - row["last_success_at"]).total_seconds() > thresholds["offline_after_seconds"]:
        return OFFLINE
    cpu, mem = row["cpu_percent"], row["memory_percent"]
    if (cpu is not None and cpu > thresholds["cpu_critical_percent"]) or (
        mem is not None and mem > thresholds["memory_critical_percent"]
    ):
        return CRITICAL
    if (cpu is not None and cpu > thresholds["cpu_warning_percent"]) or (
        mem is not None and mem > thresholds["memory_warning_percent"]
    ):
        return WARNING
    return HEALTHY


def fleet_health(server_id: int | None = None) -> list[dict[str, Any]]:
    now = timezone.now()
    values = settings_store.get_all()
    # Snapshots older than the offline window cannot decide anything but "offline".
    since = now - dt.timedelta(seconds=max(values["offline_after_seconds"] * 2, 3600))
    where, params = ("AND s.id = %s", [since, server_id]) if server_id else ("", [since])
    with connections[tenancy.current().alias].cursor() as cur:
        cur.execute(LATEST_SQL.format(where=where), params)
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    out = []
    for row in rows:
        health = classify(row, values, now)
        out.append(
            {
                "server_id": row["id"],
                "name": row["name"],
                "host": row["host"],
                "instance_name": row["instance_name"],
                "status": health,
                "connection_status": row["status"],
                "last_collected_at": row["last_success_at"],
                "cpu": row["cpu_percent"],
                "memory": row["memory_percent"],
                "connections": row["connection_count"],
                "batch_requests_sec": row["batch_requests_sec"],
                "error": row["last_error"] or "",
            }
        )
    return out


def summary(health: list[dict[str, Any]]) -> dict[str, int]:
    counts = {HEALTHY: 0, WARNING: 0, CRITICAL: 0, OFFLINE: 0, UNKNOWN: 0}
    for h in health:
        counts[h["status"]] += 1
    return {"total": len(health), **counts}

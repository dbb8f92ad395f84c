"""Server health from the latest snapshot and the tenant's thresholds."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connections
from django.utils import timezone

from core import settings_store
from dbtools import tenancy
from servers.health import ICONS, Health

HEALTHY, WARNING, CRITICAL, OFFLINE, STALE, UNKNOWN = (
    Health.HEALTHY,
    Health.WARNING,
    Health.CRITICAL,
    Health.OFFLINE,
    Health.STALE,
    Health.UNKNOWN,
)
# A server is late when its collection is overdue by more than this (or its interval if longer).
LATE_GRACE_SECONDS = 60


# The latest snapshot of every live server in one index-backed pass (LATERAL on the
# (server_id, collected_at) primary key), with its collection state.
LATEST_SQL = """
SELECT s.id, s.name, s.host, s.instance_name, s.port, s.status, s.monitoring_status,
       coalesce(cc.enabled, true) AS enabled, coalesce(cc.interval_seconds, 60) AS interval,
       st.next_due_at, st.last_success_at, st.last_attempt_at,
       st.last_error, snap.collected_at, snap.cpu_percent, snap.memory_percent,
       snap.connection_count, snap.batch_requests_sec, al.alert_rank
FROM servers s
LEFT JOIN collection_config cc ON cc.server_id = s.id
LEFT JOIN collector_state st ON st.server_id = s.id
LEFT JOIN LATERAL (
    SELECT collected_at, cpu_percent, memory_percent, connection_count, batch_requests_sec
    FROM server_snapshots ss
    WHERE ss.server_id = s.id AND ss.collected_at > %s
    ORDER BY ss.collected_at DESC LIMIT 1
) snap ON true
-- The worst alert firing on the server (2 critical, 1 warning): a rule a DBA wrote says more
-- about this server's health than the default CPU and memory thresholds. Read as a table, as
-- alerting reads the collector's: the apps sit side by side, neither imports the other.
LEFT JOIN LATERAL (
    SELECT max(CASE a.severity WHEN 'critical' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END)
           AS alert_rank
    FROM alerts a
    WHERE a.server_id = s.id AND a.status = 'firing'
) al ON true
WHERE s.deleted_at IS NULL {where}
ORDER BY s.name
"""


def late_by(row: dict[str, Any], now: dt.datetime) -> float | None:
    """Seconds DbTools is behind on collecting this server, None when it is not behind."""
    if not row["enabled"] or row["monitoring_status"] != "monitored":
        return None
    due = row["next_due_at"]
    if due is None and row["last_attempt_at"] is not None:
        due = row["last_attempt_at"] + dt.timedelta(seconds=row["interval"])
    if due is None:
        return None
    late = (now - due).total_seconds()
    return late if late > max(LATE_GRACE_SECONDS, row["interval"]) else None


def classify(row: dict[str, Any], thresholds: dict[str, Any], now: dt.datetime) -> str:
    # Stale before offline: when DbTools did not try, it cannot say the instance is down.
    if late_by(row, now) is not None:
        return STALE
    if not row["enabled"] or row["last_success_at"] is None:
        return UNKNOWN if row["last_attempt_at"] is None or not row["enabled"] else OFFLINE
    if (now - row["last_success_at"]).total_seconds() > thresholds["offline_after_seconds"]:
        return OFFLINE
    cpu, mem = row["cpu_percent"], row["memory_percent"]
    alert = row.get("alert_rank") or 0
    if (
        alert >= 2
        or (cpu is not None and cpu > thresholds["cpu_critical_percent"])
        or (mem is not None and mem > thresholds["memory_critical_percent"])
    ):
        return CRITICAL
    if (
        alert >= 1
        or (cpu is not None and cpu > thresholds["cpu_warning_percent"])
        or (mem is not None and mem > thresholds["memory_warning_percent"])
    ):
        return WARNING
    return HEALTHY


def fleet_health(
    server_id: int | None = None, server_ids: list[int] | None = None
) -> list[dict[str, Any]]:
    now = timezone.now()
    values = settings_store.get_all()
    # Snapshots older than the offline window cannot decide anything but "offline".
    since = now - dt.timedelta(seconds=max(values["offline_after_seconds"] * 2, 3600))
    where, params = ("AND s.id = %s", [since, server_id]) if server_id else ("", [since])
    if server_ids is not None:
        where, params = "AND s.id = ANY(%s)", [since, list(server_ids)]
    with connections[tenancy.current().alias].cursor() as cur:
        cur.execute(LATEST_SQL.format(where=where), params)
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    out = []
    for row in rows:
        health = Health(classify(row, values, now))
        seen = row["last_attempt_at"] or row["last_success_at"]
        out.append(
            {
                "server_id": row["id"],
                "name": row["name"],
                "host": row["host"],
                "instance_name": row["instance_name"],
                "status": health.value,
                "label": health.label,
                "icon": ICONS[health],
                "last_attempt_at": row["last_attempt_at"],
                # "not collected for 6 min": how long since DbTools last tried this server.
                "stale_minutes": round((now - seen).total_seconds() / 60)
                if health == STALE and seen is not None
                else None,
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
    counts = {h.value: 0 for h in Health}
    for h in health:
        counts[h["status"]] += 1
    return {"total": len(health), **counts}


LATE_SQL = """
SELECT count(*), min(st.next_due_at)
FROM collector_state st
JOIN servers s ON s.id = st.server_id
LEFT JOIN collection_config cc ON cc.server_id = s.id
WHERE s.deleted_at IS NULL AND s.monitoring_status = 'monitored' AND coalesce(cc.enabled, true)
  AND st.next_due_at < %s - make_interval(secs => greatest(%s, coalesce(cc.interval_seconds, 60)))
"""


def collection_lag() -> dict[str, Any] | None:
    """How far DbTools itself is behind on collecting the current tenant (None when on time):
    the platform banner tells admins, so stale servers are not mistaken for down ones."""
    now = timezone.now()
    with connections[tenancy.current().alias].cursor() as cur:
        cur.execute(LATE_SQL, [now, LATE_GRACE_SECONDS])
        late, oldest = cur.fetchone()
        if not late:
            return None
    # How many collector slots are beating now (they serve every tenant): none means the
    # workers are down, all of them beating means they are overloaded.
    from django.conf import settings

    from engine.models import CollectorSlot
    from monitoring.collector import SLOT_STALE_SECONDS

    alive = now - dt.timedelta(seconds=SLOT_STALE_SECONDS)
    slots = CollectorSlot.objects.filter(slot__lt=settings.DBTOOLS_COLLECT_SLOTS)
    held = slots.filter(heartbeat_at__gte=alive).exclude(owner="").count()
    last_beat = max((b for b in slots.values_list("heartbeat_at", flat=True) if b), default=None)
    minutes = round((now - oldest).total_seconds() / 60)
    return {
        "late": late,
        "since": oldest,
        "minutes": minutes,
        "held": held,
        "slots": settings.DBTOOLS_COLLECT_SLOTS,
        "last_beat": last_beat,
    }

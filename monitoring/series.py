"""Time series for charts and the metrics API: raw samples up to 24 h, 5-minute rollups beyond."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connections
from django.utils import timezone

from dbtools import tenancy
from monitoring.store import metric_type_ids

RANGES = {"1h": 1, "6h": 6, "24h": 24, "7d": 24 * 7, "30d": 24 * 30}
RAW_UP_TO_HOURS = 24
# Beyond 24 h, rollups re-bucketed so a chart gets at most ~2,000 points (what a chart can show).
BUCKET_MINUTES = {"7d": 5, "30d": 30}
METRICS = {
    "cpu": ["cpu_percent", "cpu_other_percent"],
    "memory": ["memory_percent", "memory_pressure_percent"],
    "connections": ["connection_count", "user_sessions"],
    "batch_requests": ["batch_requests_sec", "sql_compilations_sec"],
    "waits": ["wait_time_ms"],
    "io": ["disk_io_reads", "disk_io_writes", "read_latency_ms", "write_latency_ms"],
    "blocking": ["blocked_requests", "longest_block_seconds", "deadlocks_sec"],
    "space": ["volume_free_min_percent", "log_used_max_percent"],
    "ag": ["ag_log_send_queue_kb", "ag_redo_queue_kb"],
}


def series(server_id: int, metric: str, range_: str) -> dict[str, Any]:
    hours = RANGES[range_]
    now = timezone.now()
    since = now - dt.timedelta(hours=hours)
    alias = tenancy.current().alias
    types = metric_type_ids(alias)
    names = [n for n in METRICS[metric] if n in types]
    ids = [types[n] for n in names]
    rollup = hours > RAW_UP_TO_HOURS
    if rollup:
        width = BUCKET_MINUTES[range_]
        sql = f"""SELECT metric_type_id, date_bin('{width} minutes', bucket, '2000-01-01') AS b,
                         sum(total) / sum(samples), min(minimum), max(maximum)
                  FROM metric_rollups_5m
                  WHERE server_id = %s AND metric_type_id = ANY(%s) AND bucket >= %s
                  GROUP BY 1, 2 ORDER BY 2"""
    else:
        sql = """SELECT metric_type_id, collected_at, value, NULL, NULL FROM metrics
                 WHERE server_id = %s AND metric_type_id = ANY(%s) AND collected_at >= %s
                 ORDER BY collected_at"""
    by_id: dict[int, list[list[Any]]] = {i: [] for i in ids}
    with connections[alias].cursor() as cur:
        cur.execute(sql, [server_id, ids, since])
        for type_id, at, value, lo, hi in cur.fetchall():
            point = [at.isoformat(), round(value, 3)]
            if rollup:
                point += [round(lo, 3), round(hi, 3)]
            by_id[type_id].append(point)
    return {
        "server_id": server_id,
        "metric": metric,
        "range": range_,
        "resolution": f"{BUCKET_MINUTES[range_]}m" if rollup else "raw",
        "from": since.isoformat(),
        "to": now.isoformat(),
        "series": [{"name": n, "points": by_id[types[n]]} for n in names],
    }


def top_waits(server_id: int, range_: str, limit: int = 10) -> list[dict[str, Any]]:
    since = timezone.now() - dt.timedelta(hours=RANGES[range_])
    with connections[tenancy.current().alias].cursor() as cur:
        cur.execute(
            """SELECT wait_type, sum(wait_time_ms), sum(waiting_tasks), sum(signal_wait_time_ms)
               FROM wait_stats WHERE server_id = %s AND collected_at >= %s
               GROUP BY wait_type ORDER BY 2 DESC LIMIT %s""",
            [server_id, since, limit],
        )
        return [
            {
                "wait_type": w,
                "wait_time_ms": int(ms),
                "waiting_tasks": int(n),
                "signal_wait_time_ms": int(sig),
            }
            for w, ms, n, sig in cur.fetchall()
        ]


# Group charts: one metric per chart, aggregated over the group's live members.
GROUP_METRICS = {
    "cpu": "cpu_percent",
    "memory": "memory_percent",
    "batch_requests": "batch_requests_sec",
    "waits": "wait_time_ms",
}
# How a group chart reduces its members at each instant: their average, or the worst member.
GROUP_AGGREGATES = {"avg": "Average of members", "max": "Worst member"}
# Raw samples are put in buckets first, so members collected a few seconds apart line up.
GROUP_RAW_BUCKET_MINUTES = {"1h": 1, "6h": 2, "24h": 5}

GROUP_RAW_SQL = """
WITH per_server AS (
    SELECT m.server_id, date_bin(%(width)s, m.collected_at, '2000-01-01') AS b, avg(m.value) AS v
    FROM metrics m
    JOIN server_group_members g ON g.server_id = m.server_id AND g.group_id = %(group)s
    JOIN servers s ON s.id = m.server_id AND s.deleted_at IS NULL
    WHERE m.metric_type_id = %(type)s AND m.collected_at >= %(since)s
    GROUP BY 1, 2
)
SELECT b, avg(v), max(v) FROM per_server GROUP BY b ORDER BY b
"""
GROUP_ROLLUP_SQL = """
WITH per_server AS (
    SELECT r.server_id, date_bin(%(width)s, r.bucket, '2000-01-01') AS b,
           sum(r.total) / sum(r.samples) AS v
    FROM metric_rollups_5m r
    JOIN server_group_members g ON g.server_id = r.server_id AND g.group_id = %(group)s
    JOIN servers s ON s.id = r.server_id AND s.deleted_at IS NULL
    WHERE r.metric_type_id = %(type)s AND r.bucket >= %(since)s
    GROUP BY 1, 2
)
SELECT b, avg(v), max(v) FROM per_server GROUP BY b ORDER BY b
"""


def group_series(group_id: int, metric: str, range_: str, aggregate: str) -> dict[str, Any]:
    """A group's metric over `range_`: at each bucket each member's average, then their
    average (`avg`) or the highest of them (`max`, the worst member), in `series()`'s shape."""
    hours = RANGES[range_]
    now = timezone.now()
    since = now - dt.timedelta(hours=hours)
    alias = tenancy.current().alias
    types = metric_type_ids(alias)
    name = GROUP_METRICS[metric]
    rollup = hours > RAW_UP_TO_HOURS
    width = BUCKET_MINUTES[range_] if rollup else GROUP_RAW_BUCKET_MINUTES[range_]
    points: list[list[Any]] = []
    if name in types:
        params = {
            "width": dt.timedelta(minutes=width),
            "group": group_id,
            "type": types[name],
            "since": since,
        }
        with connections[alias].cursor() as cur:
            cur.execute(GROUP_ROLLUP_SQL if rollup else GROUP_RAW_SQL, params)
            column = 1 if aggregate == "avg" else 2
            points = [[row[0].isoformat(), round(row[column], 3)] for row in cur.fetchall()]
    return {
        "group_id": group_id,
        "metric": metric,
        "range": range_,
        "aggregate": aggregate,
        "resolution": f"{width}m",
        "from": since.isoformat(),
        "to": now.isoformat(),
        "series": [{"name": GROUP_AGGREGATES[aggregate], "points": points}],
    }

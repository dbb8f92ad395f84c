"""How often a rule would have fired over the last 24 hours of stored data.

The rule is replayed on the 5-minute rollups (`metric_rollups_5m`), not the raw samples: a day
of 2,000 servers is about 600,000 rollup rows against 3 million samples, and a DBA tuning a
threshold wants the answer while the form is open. Each bucket end is one check: the window
aggregate (avg from the buckets' totals, min and max from theirs; "latest value" uses the bucket
average), the threshold, the recovery threshold, pending and resolve checks, through the same
counting as the evaluator. The figure is therefore an estimate at 5-minute resolution, and the
page says so. Reachability and collection-staleness rules have no stored series to replay.
"""

from __future__ import annotations

import datetime as dt
import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import connections
from django.utils import timezone

from alerts.metrics import COLLECTION_STALE, SERVER_OFFLINE
from dbtools import tenancy
from monitoring.models import MetricType
from servers.models import Server

if TYPE_CHECKING:
    from alerts.models import AlertRule

HOURS = 24
BUCKET_MINUTES = 5
COMPARE = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
}

SERIES_SQL = """
SELECT server_id, bucket, value FROM (
    SELECT r.server_id, r.bucket,
           CASE %(agg)s WHEN 'min' THEN min(r.minimum) OVER w
                        WHEN 'max' THEN max(r.maximum) OVER w
                        ELSE sum(r.total) OVER w / nullif(sum(r.samples) OVER w, 0) END AS value
    FROM metric_rollups_5m r
    WHERE r.metric_type_id = %(type)s AND r.server_id = ANY(%(servers)s)
      AND r.bucket >= %(since)s - make_interval(mins => %(window)s)
    WINDOW w AS (PARTITION BY r.server_id ORDER BY r.bucket
                 RANGE BETWEEN make_interval(mins => %(window)s - 5) PRECEDING AND CURRENT ROW)
) s
WHERE bucket >= %(since)s
ORDER BY server_id, bucket
"""


@dataclass
class Backtest:
    available: bool
    reason: str = ""
    fired: int = 0
    servers: int = 0  # servers on which it would have fired
    checked: int = 0  # servers in scope with data
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    resolution_minutes: int = BUCKET_MINUTES
    per_server: dict[str, int] = field(default_factory=dict)


def in_scope(rule: AlertRule) -> list[Server]:
    servers = Server.objects.alive()
    if rule.scope == "group":
        servers = servers.filter(groups=rule.group_id)
    elif rule.scope == "label":
        servers = servers.filter(labels=rule.label_id)
    elif rule.scope == "server":
        servers = servers.filter(pk=rule.server_id)
    return list(servers.only("id", "name"))


def replay(rule: AlertRule, values: list[float | None]) -> int:
    """Times the rule fires over one server's series of checks (the evaluator's counting)."""
    compare = COMPARE[rule.operator]
    recovery = rule.recovery_threshold if rule.recovery_threshold is not None else rule.threshold
    firing, breaches, normals, fired = False, 0, 0, 0
    for value in values:
        if value is None:
            continue  # no data: counters held, nothing fires or resolves
        breaches = breaches + 1 if compare(value, rule.threshold) else 0
        normals = normals + 1 if not compare(value, recovery) else 0
        if not firing and breaches >= rule.pending_checks:
            firing, fired = True, fired + 1
        elif firing and normals >= rule.resolve_checks:
            firing = False
    return fired


def backtest(rule: AlertRule, now: dt.datetime | None = None) -> Backtest:
    """Replay `rule` (saved or not) over the last 24 hours in the current tenant."""
    if rule.metric in (SERVER_OFFLINE, COLLECTION_STALE):
        return Backtest(False, "Reachability and staleness are not stored as a series to replay.")
    metric_type = MetricType.objects.filter(name=rule.metric).values_list("pk", flat=True).first()
    if metric_type is None:
        return Backtest(False, "No data has been collected for this metric yet.")
    now = now or timezone.now()
    since = now - dt.timedelta(hours=HOURS)
    servers = {s.pk: s.name for s in in_scope(rule)}
    # A window shorter than a bucket is one bucket; longer ones are whole buckets.
    window = max(BUCKET_MINUTES, -(-rule.window_minutes // BUCKET_MINUTES) * BUCKET_MINUTES)
    if rule.aggregation == "last":
        window = BUCKET_MINUTES
    series: dict[int, list[float | None]] = {}
    with connections[tenancy.current().alias].cursor() as cur:
        cur.execute(
            SERIES_SQL,
            {
                "agg": rule.aggregation,
                "type": metric_type,
                "servers": list(servers),
                "since": since,
                "window": window,
            },
        )
        for server_id, _bucket, value in cur.fetchall():
            series.setdefault(server_id, []).append(value)
    result = Backtest(True, since=since, until=now, checked=len(series))
    for server_id, values in series.items():
        times = replay(rule, values)
        if times:
            result.per_server[servers[server_id]] = times
    result.fired = sum(result.per_server.values())
    result.servers = len(result.per_server)
    return result

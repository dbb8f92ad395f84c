"""The alert evaluator: every enabled rule on every server in its scope, in three statements
over the latest collected data, not row by row in Python.

1. Values and counters: each (rule, server) pair's value (the latest sample, or an average,
   minimum or maximum over the rule's window), compared with its thresholds, folded into the
   pair's consecutive breach and normal counts (an upsert on alert_states).
2. Fire: pairs whose breaches reached the rule's pending checks get an alert, unless one is
   active (a partial unique index keeps it to one).
3. Resolve: active alerts whose pair had `resolve_checks` normal checks in a row.

A server DbTools could not collect has no data: nothing fires or resolves on it. An offline
server fires its own offline alert and its metric rules are held as no data (inhibition), so one
fact raises one alert, not five.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from core import settings_store
from core.models import ActivityLog
from dbtools import tenancy

if TYPE_CHECKING:
    from alerts.models import AlertRule

PAIRS_SQL = """
WITH rules AS (
    SELECT r.*, mt.id AS metric_type_id FROM alert_rules r
    LEFT JOIN metric_types mt ON mt.name = r.metric
    WHERE r.enabled
), targets AS (
    -- The rule's fields travel with each pair: joining the rules back costs a pass per pair.
    SELECT r.id AS rule_id, s.id AS server_id, r.metric_type_id, r.aggregation, r.window_minutes,
           r.metric, r.operator, r.threshold, r.recovery_threshold, r.pending_checks,
           r.resolve_checks
    FROM rules r JOIN servers s ON s.deleted_at IS NULL
    WHERE (%(servers)s::int[] IS NULL OR s.id = ANY(%(servers)s::int[]))
      AND (r.scope = 'all'
           OR (r.scope = 'server' AND s.id = r.server_id)
           OR (r.scope = 'group' AND EXISTS (
                 SELECT 1 FROM server_group_members m
                 WHERE m.group_id = r.group_id AND m.server_id = s.id))
           OR (r.scope = 'label' AND EXISTS (
                 SELECT 1 FROM server_labels l
                 WHERE l.label_id = r.label_id AND l.server_id = s.id)))
), reach AS (
    SELECT s.id AS server_id, st.last_success_at,
           coalesce(cc.enabled, true) AND st.last_attempt_at IS NOT NULL AS collected,
           st.last_success_at IS NULL
             OR st.last_success_at < %(now)s - make_interval(secs => %(offline_after)s) AS offline
    FROM servers s
    LEFT JOIN collector_state st ON st.server_id = s.id
    LEFT JOIN collection_config cc ON cc.server_id = s.id
    WHERE s.deleted_at IS NULL
      AND (%(servers)s::int[] IS NULL OR s.id = ANY(%(servers)s::int[]))
), wins AS (
    -- Each metric's distinct aggregate windows, shortest first, and the widest window of any of
    -- its rules: the samples are read once per (server, metric), however many rules use them.
    SELECT metric_type_id, max(window_minutes) AS widest,
           array_agg(DISTINCT window_minutes ORDER BY window_minutes)
             FILTER (WHERE aggregation <> 'last') AS bands,
           -- the windows' first instants, widest first (a microsecond after `now - window`,
           -- as a window holds the samples strictly after its start)
           array_agg(DISTINCT %(now)s - make_interval(mins => window_minutes, secs => -0.000001)
                     ORDER BY %(now)s - make_interval(mins => window_minutes, secs => -0.000001))
             FILTER (WHERE aggregation <> 'last') AS starts
    FROM rules WHERE metric_type_id IS NOT NULL
    GROUP BY metric_type_id
), samples AS (
    -- `band` counts the windows a sample is outside of: their number less the windows that
    -- started before it (width_bucket over the sorted start instants, plain timestamp
    -- comparisons). The server and metric lists make the metrics primary key (server, metric,
    -- time) serve the read as ranges, not a scan of the day's partition.
    SELECT m.server_id, m.metric_type_id, m.collected_at, m.value,
           cardinality(w.starts) - width_bucket(m.collected_at, w.starts) AS band,
           coalesce(cardinality(w.starts), 0) AS outside
    FROM metrics m JOIN wins w ON w.metric_type_id = m.metric_type_id
    WHERE m.collected_at > %(now)s - make_interval(mins => (SELECT max(widest) FROM wins))
      AND m.collected_at > %(now)s - make_interval(mins => w.widest)
      AND m.metric_type_id = ANY((SELECT array_agg(metric_type_id) FROM wins)::int[])
      AND m.server_id = ANY(coalesce(%(servers)s::int[], (
            SELECT array_agg(id) FROM servers WHERE deleted_at IS NULL)))
), banded AS (
    -- Partial aggregates per band, and the band's newest sample time: one hash aggregation over
    -- the samples, no sort (samples outside every window are there for the newest only).
    SELECT server_id, metric_type_id, band, outside, sum(value) AS total, count(*) AS n,
           min(value) AS lo, max(value) AS hi, max(collected_at) AS newest
    FROM samples
    GROUP BY server_id, metric_type_id, band, outside
), cumulative AS (
    -- Window bands[j] holds bands 0 .. j-1: running totals over the few bands of each (server,
    -- metric); a band's totals also serve the windows up to the next band that has samples.
    SELECT b.server_id, b.metric_type_id, b.band, w.bands,
           coalesce(lead(b.band) OVER c, b.outside) AS next_band,
           sum(b.total) OVER c / sum(b.n) OVER c AS avg_value,
           min(b.lo) OVER c AS min_value, max(b.hi) OVER c AS max_value
    FROM banded b JOIN wins w ON w.metric_type_id = b.metric_type_id
    WHERE b.band < b.outside
    WINDOW c AS (PARTITION BY b.server_id, b.metric_type_id ORDER BY b.band)
), windows AS MATERIALIZED (
    -- Expanded before the pairs join it, so the join is one hash join on (server, metric,
    -- window) rather than a per-pair function call.
    SELECT c.server_id, c.metric_type_id, c.bands[j] AS window_minutes,
           c.avg_value, c.min_value, c.max_value
    FROM cumulative c, generate_series(c.band + 1, c.next_band) j
), latest AS MATERIALIZED (
    -- The newest sample of each (server, metric), before the pairs join it.
    SELECT s.server_id, s.metric_type_id, s.collected_at, s.value
    FROM samples s
    JOIN (SELECT server_id, metric_type_id, max(newest) AS collected_at
          FROM banded GROUP BY server_id, metric_type_id) n
      USING (server_id, metric_type_id, collected_at)
), vals AS (
    SELECT t.rule_id, t.server_id, t.operator, t.threshold, t.recovery_threshold,
           t.pending_checks, t.resolve_checks,
           CASE
             WHEN NOT reach.collected THEN NULL
             WHEN t.metric = 'server_offline' THEN CASE WHEN reach.offline THEN 1.0 ELSE 0.0 END
             WHEN t.metric = 'collection_stale_minutes'
               THEN extract(epoch FROM %(now)s - reach.last_success_at) / 60
             WHEN reach.offline THEN NULL  -- held behind the server's offline alert
             WHEN t.aggregation = 'avg' THEN w.avg_value
             WHEN t.aggregation = 'min' THEN w.min_value
             WHEN t.aggregation = 'max' THEN w.max_value
             ELSE l.value
           END AS value
    FROM targets t
    JOIN reach ON reach.server_id = t.server_id
    -- each pair finds its window's aggregates, or its newest sample, by equality: hash joins
    LEFT JOIN windows w ON t.aggregation <> 'last' AND w.server_id = t.server_id
                       AND w.metric_type_id = t.metric_type_id
                       AND w.window_minutes = t.window_minutes
    LEFT JOIN latest l ON t.aggregation = 'last' AND l.server_id = t.server_id
                      AND l.metric_type_id = t.metric_type_id
                      AND l.collected_at > %(now)s - make_interval(mins => t.window_minutes)
), judged AS (
    SELECT v.rule_id, v.server_id, v.value, v.value IS NULL AS no_data,
           v.pending_checks, v.resolve_checks,
           coalesce(st.breach_count, 0) AS old_breach, coalesce(st.normal_count, 0) AS old_normal,
           st.rule_id IS NULL AS fresh, st.no_data AS old_no_data,
           CASE v.operator WHEN 'gt' THEN v.value > v.threshold
                           WHEN 'gte' THEN v.value >= v.threshold
                           WHEN 'lt' THEN v.value < v.threshold
                           WHEN 'lte' THEN v.value <= v.threshold
                           ELSE v.value = v.threshold END AS breach,
           NOT CASE v.operator
                 WHEN 'gt' THEN v.value > coalesce(v.recovery_threshold, v.threshold)
                 WHEN 'gte' THEN v.value >= coalesce(v.recovery_threshold, v.threshold)
                 WHEN 'lt' THEN v.value < coalesce(v.recovery_threshold, v.threshold)
                 WHEN 'lte' THEN v.value <= coalesce(v.recovery_threshold, v.threshold)
                 ELSE v.value = coalesce(v.recovery_threshold, v.threshold) END AS normal
    FROM vals v
    -- The batch's servers again, on the stored side: without them the hash join reads every
    -- state of the tenant for a batch of 50 servers (40,000 rows at 2,000 servers).
    LEFT JOIN alert_states st ON st.rule_id = v.rule_id AND st.server_id = v.server_id
      AND (%(servers)s::int[] IS NULL OR st.server_id = ANY(%(servers)s::int[]))
), counted AS (
    -- Counters saturate at the rule's limits, so a pair that stays as it is writes nothing.
    SELECT rule_id, server_id, value, no_data, fresh, old_breach, old_normal, old_no_data,
           CASE WHEN no_data THEN old_breach
                WHEN breach THEN least(old_breach + 1, pending_checks) ELSE 0 END AS breach_count,
           CASE WHEN no_data THEN old_normal
                WHEN normal THEN least(old_normal + 1, resolve_checks) ELSE 0 END AS normal_count
    FROM judged
), touch AS (
    UPDATE alerts a SET last_value = c.value
    FROM counted c
    WHERE a.status = 'firing' AND a.rule_id = c.rule_id AND a.server_id = c.server_id
      AND (%(servers)s::int[] IS NULL OR a.server_id = ANY(%(servers)s::int[]))
      AND c.value IS NOT NULL AND a.last_value IS DISTINCT FROM c.value
)
INSERT INTO alert_states AS a (rule_id, server_id, breach_count, normal_count, no_data,
                               last_value, checked_at)
SELECT rule_id, server_id, breach_count, normal_count, no_data, value, %(now)s FROM counted
-- Only new and changed pairs reach the insert: most checks change nothing, and each row sent
-- to ON CONFLICT costs an index probe and a row lock even when its WHERE then skips it.
WHERE fresh OR (breach_count, normal_count, no_data)
               IS DISTINCT FROM (old_breach, old_normal, old_no_data)
ON CONFLICT (rule_id, server_id) DO UPDATE SET
    breach_count = excluded.breach_count, normal_count = excluded.normal_count,
    no_data = excluded.no_data, last_value = coalesce(excluded.last_value, a.last_value),
    checked_at = excluded.checked_at
WHERE (a.breach_count, a.normal_count, a.no_data)
      IS DISTINCT FROM (excluded.breach_count, excluded.normal_count, excluded.no_data)
"""

FIRE_SQL = """
INSERT INTO alerts (rule_id, server_id, severity, status, value, last_value, threshold,
                    triggered_at, acknowledged_by, ack_comment)
SELECT st.rule_id, st.server_id, r.severity, 'firing', st.last_value, st.last_value,
       r.threshold, %(now)s, '', ''
FROM alert_states st JOIN alert_rules r ON r.id = st.rule_id
WHERE NOT st.no_data AND st.breach_count >= r.pending_checks AND r.enabled
  AND (%(servers)s::int[] IS NULL OR st.server_id = ANY(%(servers)s::int[]))
  AND NOT EXISTS (SELECT 1 FROM alerts f WHERE f.status = 'firing'
                  AND f.rule_id = st.rule_id AND f.server_id = st.server_id)
ON CONFLICT (rule_id, server_id) WHERE status = 'firing' DO NOTHING
RETURNING id
"""

RESOLVE_SQL = """
UPDATE alerts a SET status = 'resolved', resolved_at = %(now)s, last_value = st.last_value
FROM alert_states st JOIN alert_rules r ON r.id = st.rule_id
WHERE a.status = 'firing' AND a.rule_id = st.rule_id AND a.server_id = st.server_id
  AND NOT st.no_data AND st.normal_count >= r.resolve_checks
  AND (%(servers)s::int[] IS NULL OR st.server_id = ANY(%(servers)s::int[]))
RETURNING a.id, a.rule_id, a.server_id
"""


# DbTools' own heavy maintenance (a scheduler execution of a heavy job: backups, index and
# integrity maintenance) running on a server, or finished there within the grace period, marks
# the alerts of rules that are quiet during maintenance. Marked alerts still fire, resolve and
# are kept; notification planning leaves them out until the grace period after the work. The
# label is the Maintenance Solution procedure a policy job runs, else the job's name.
WORK_SQL = """
    SELECT DISTINCT ON (e.server_id) e.server_id, e.id, e.started_at, e.completed_at,
           e.job_id, e.run_id,
           CASE WHEN j.job_type = 'policy_execution' THEN
               CASE coalesce(j.configuration->>'task', p.policy_type)
                   WHEN 'index_maintenance' THEN 'IndexOptimize'
                   WHEN 'integrity_check' THEN 'DatabaseIntegrityCheck'
                   WHEN 'backup' THEN 'DatabaseBackup'
                   WHEN 'full' THEN 'DatabaseBackup (full)'
                   WHEN 'diff' THEN 'DatabaseBackup (differential)'
                   WHEN 'log' THEN 'DatabaseBackup (log)'
                   ELSE j.name END
           ELSE j.name END AS what
    FROM job_executions e
    JOIN jobs j ON j.id = e.job_id AND j.heavy
    LEFT JOIN policies p
      ON j.job_type = 'policy_execution' AND p.id = (j.configuration->>'policy_id')::int
    WHERE e.server_id IS NOT NULL AND e.started_at IS NOT NULL
      AND (e.status = 'running' OR e.completed_at > %(now)s - make_interval(mins => %(grace)s))
      AND (%(servers)s::int[] IS NULL OR e.server_id = ANY(%(servers)s::int[]))
    -- what still runs first, then what ended last
    ORDER BY e.server_id, e.status = 'running' DESC, e.completed_at DESC NULLS FIRST
"""
SUPPRESS_SQL = f"""
WITH work AS ({WORK_SQL}), marked AS (
    UPDATE alerts a SET suppressed_by = w.what, suppressed_execution_id = w.id,
                        suppressed_since = w.started_at, suppressed_until = w.completed_at
    FROM work w, alert_rules r
    WHERE a.server_id = w.server_id AND r.id = a.rule_id AND r.quiet_during_maintenance
      AND (a.status = 'firing' OR a.suppressed_execution_id = w.id)
      AND (a.suppressed_execution_id, a.suppressed_until) IS DISTINCT FROM (w.id, w.completed_at)
    RETURNING a.id
)
-- work that vanished without an end (its execution deleted): closed now
UPDATE alerts a SET suppressed_until = %(now)s
WHERE a.suppressed_by <> '' AND a.suppressed_until IS NULL
  AND (%(servers)s::int[] IS NULL OR a.server_id = ANY(%(servers)s::int[]))
  AND NOT EXISTS (SELECT 1 FROM work w WHERE w.server_id = a.server_id)
"""


PREVIEW_SQL = (
    PAIRS_SQL[: PAIRS_SQL.index("), touch AS (")]
    + """)
SELECT j.server_id, s.name, j.value, j.breach
FROM judged j JOIN servers s ON s.id = j.server_id
WHERE j.rule_id = %(rule)s AND NOT j.no_data
ORDER BY j.breach DESC, j.value DESC NULLS LAST, s.name
"""
)


@dataclass
class PreviewRow:
    server_id: int
    server_name: str
    value: float
    breach: bool


def preview(rule: AlertRule) -> list[PreviewRow]:
    """Each server in the rule's scope with data now: its value and whether it breaches. The
    rule is judged as saved here, in a transaction that is rolled back: nothing is written."""
    alias = tenancy.current().alias
    params = {
        "now": timezone.now(),
        "servers": None,
        "offline_after": settings_store.get("offline_after_seconds"),
    }
    rows: list[PreviewRow] = []
    try:
        with transaction.atomic(using=alias), connections[alias].cursor() as cur:
            cur.execute("SET LOCAL enable_nestloop = off")
            cur.execute("SET LOCAL jit = off")
            # Only this rule is judged: the others are switched off inside the transaction.
            cur.execute("UPDATE alert_rules SET enabled = false WHERE enabled")
            fields = [f for f in type(rule)._meta.concrete_fields if f.name != "id"]
            draft = type(rule)(**{f.attname: getattr(rule, f.attname) for f in fields})
            draft.name = f"preview {uuid.uuid4().hex}"
            draft.enabled = True
            draft.save(using=alias)
            cur.execute(PREVIEW_SQL, {**params, "rule": draft.pk})
            rows = [PreviewRow(*row) for row in cur.fetchall()]
            raise _Rollback
    except _Rollback:
        pass
    return rows


class _Rollback(Exception):
    pass


@dataclass
class Result:
    fired: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)


def evaluate(server_ids: list[int] | None = None, now: dt.datetime | None = None) -> Result:
    """Evaluate every enabled rule for `server_ids` (default: all servers), in the current
    tenant; new and resolved alerts are written to the activity log in the same transaction."""
    now = now or timezone.now()
    params = {
        "now": now,
        "servers": server_ids,
        "offline_after": settings_store.get("offline_after_seconds"),
    }
    alias = tenancy.current().alias
    result = Result()
    with transaction.atomic(using=alias), connections[alias].cursor() as cur:
        # One round trip for the settings and the lock (this runs after every collected batch):
        # - the planner cannot estimate the (rule, server) pairs the scope rules produce (it
        #   guesses one) and would rescan the aggregates once per pair in nested loops; every
        #   join here is between whole sets, which hash joins do in one pass;
        # - the penalty that setting adds to plan costs would otherwise trigger JIT
        #   compilation, which costs more than the whole evaluation;
        # - the window's samples are sorted and grouped per pair: 500 servers x 20 rules is
        #   about 100,000 rows, which spill to disk with the default 4 MB of sort memory;
        # - two batches of one tenant evaluated at once would fold the same checks twice into
        #   the counters they share (the offline rule, a server in both): one at a time.
        cur.execute(
            """SELECT set_config('enable_nestloop', 'off', true), set_config('jit', 'off', true),
                      set_config('work_mem', '64MB', true),
                      pg_advisory_xact_lock(hashtext('alerts.evaluate'))"""
        )
        cur.execute(PAIRS_SQL, params)
        cur.execute(FIRE_SQL, params)
        result.fired = [row[0] for row in cur.fetchall()]
        cur.execute(RESOLVE_SQL, params)
        result.resolved = [row[0] for row in cur.fetchall()]
        cur.execute(SUPPRESS_SQL, {**params, "grace": maintenance_grace_minutes()})
        _log(result, alias)
    return result


@dataclass
class Work:
    """Heavy maintenance DbTools runs on a server now, as the pages name it."""

    server_id: int
    execution_id: int
    started_at: dt.datetime
    completed_at: dt.datetime | None
    job_id: int
    run_id: int
    what: str


def running_work(server_ids: list[int]) -> dict[int, Work]:
    """The heavy maintenance running now on each of `server_ids` (those with none left out)."""
    alias = tenancy.current().alias
    params = {"now": timezone.now(), "grace": 0, "servers": server_ids}
    with connections[alias].cursor() as cur:
        cur.execute(WORK_SQL, params)
        found = [Work(*row) for row in cur.fetchall()]
    return {w.server_id: w for w in found if w.completed_at is None}


def maintenance_grace_minutes() -> int:
    return int(getattr(settings, "DBTOOLS_ALERT_MAINTENANCE_GRACE_MINUTES", 10))


def _log(result: Result, alias: str) -> None:
    from alerts.models import Alert

    changed = result.fired + result.resolved
    if not changed:
        return
    alerts = Alert.objects.using(alias).filter(pk__in=changed).select_related("rule", "server")
    ActivityLog.objects.using(alias).bulk_create(
        ActivityLog(
            action="alert.triggered" if a.status == Alert.Status.FIRING else "alert.resolved",
            entity_type="server",
            entity_id=str(a.server_id),
            entity_name=a.server.name,
            details={
                "rule": a.rule.name,
                "severity": a.severity,
                "value": a.last_value,
                "threshold": a.threshold,
                "alert": a.pk,
                **({"suppressed": a.suppression} if a.suppression else {}),
            },
            user_id=None,
            user_name="system",
        )
        for a in alerts
    )

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
from dataclasses import dataclass, field

from django.db import connections, transaction
from django.utils import timezone

from core import settings_store
from core.models import ActivityLog
from dbtools import tenancy

PAIRS_SQL = """
WITH rules AS (
    SELECT * FROM alert_rules WHERE enabled
), targets AS (
    SELECT r.id AS rule_id, s.id AS server_id
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
    SELECT s.id AS server_id, st.last_success_at, st.last_attempt_at,
           coalesce(cc.enabled, true) AND st.last_attempt_at IS NOT NULL AS collected,
           st.last_success_at IS NULL
             OR st.last_success_at < %(now)s - make_interval(secs => %(offline_after)s) AS offline
    FROM servers s
    LEFT JOIN collector_state st ON st.server_id = s.id
    LEFT JOIN collection_config cc ON cc.server_id = s.id
    WHERE s.deleted_at IS NULL
), vals AS (
    SELECT t.rule_id, t.server_id, r.operator, r.threshold, r.recovery_threshold,
           CASE
             WHEN NOT reach.collected THEN NULL
             WHEN r.metric = 'server_offline' THEN CASE WHEN reach.offline THEN 1.0 ELSE 0.0 END
             WHEN r.metric = 'collection_stale_minutes'
               THEN extract(epoch FROM %(now)s - reach.last_success_at) / 60
             WHEN reach.offline THEN NULL  -- inhibited by the server's offline alert
             ELSE agg.value
           END AS value
    FROM targets t
    JOIN rules r ON r.id = t.rule_id
    JOIN reach ON reach.server_id = t.server_id
    LEFT JOIN LATERAL (
        SELECT CASE r.aggregation
                 WHEN 'avg' THEN avg(m.value) WHEN 'min' THEN min(m.value)
                 WHEN 'max' THEN max(m.value)
                 ELSE (array_agg(m.value ORDER BY m.collected_at DESC))[1]
               END AS value
        FROM metrics m
        WHERE m.server_id = t.server_id
          AND m.metric_type_id = (SELECT id FROM metric_types WHERE name = r.metric)
          AND m.collected_at > %(now)s - make_interval(mins => r.window_minutes)
    ) agg ON r.metric NOT IN ('server_offline', 'collection_stale_minutes')
), judged AS (
    SELECT rule_id, server_id, value, value IS NULL AS no_data,
           CASE operator WHEN 'gt' THEN value > threshold WHEN 'gte' THEN value >= threshold
                         WHEN 'lt' THEN value < threshold WHEN 'lte' THEN value <= threshold
                         ELSE value = threshold END AS breach,
           NOT CASE operator
                 WHEN 'gt' THEN value > coalesce(recovery_threshold, threshold)
                 WHEN 'gte' THEN value >= coalesce(recovery_threshold, threshold)
                 WHEN 'lt' THEN value < coalesce(recovery_threshold, threshold)
                 WHEN 'lte' THEN value <= coalesce(recovery_threshold, threshold)
                 ELSE value = coalesce(recovery_threshold, threshold) END AS normal
    FROM vals
)
INSERT INTO alert_states AS a (rule_id, server_id, breach_count, normal_count, no_data,
                               last_value, checked_at)
SELECT rule_id, server_id,
       CASE WHEN no_data THEN 0 WHEN breach THEN 1 ELSE 0 END,
       CASE WHEN no_data THEN 0 WHEN normal THEN 1 ELSE 0 END,
       no_data, value, %(now)s
FROM judged
ON CONFLICT (rule_id, server_id) DO UPDATE SET
    breach_count = CASE WHEN excluded.no_data THEN a.breach_count
                        WHEN excluded.breach_count = 1 THEN a.breach_count + 1 ELSE 0 END,
    normal_count = CASE WHEN excluded.no_data THEN a.normal_count
                        WHEN excluded.normal_count = 1 THEN a.normal_count + 1 ELSE 0 END,
    no_data = excluded.no_data,
    last_value = coalesce(excluded.last_value, a.last_value),
    checked_at = excluded.checked_at
"""

FIRE_SQL = """
INSERT INTO alerts (rule_id, server_id, severity, status, value, last_value, threshold,
                    triggered_at, acknowledged_by, ack_comment)
SELECT st.rule_id, st.server_id, r.severity, 'firing', st.last_value, st.last_value,
       r.threshold, %(now)s, '', ''
FROM alert_states st JOIN alert_rules r ON r.id = st.rule_id
WHERE st.checked_at = %(now)s AND NOT st.no_data AND st.breach_count >= r.pending_checks
ON CONFLICT (rule_id, server_id) WHERE status = 'firing'
DO UPDATE SET last_value = excluded.last_value
RETURNING id, rule_id, server_id, (xmax = 0) AS created
"""

RESOLVE_SQL = """
UPDATE alerts a SET status = 'resolved', resolved_at = %(now)s, last_value = st.last_value
FROM alert_states st JOIN alert_rules r ON r.id = st.rule_id
WHERE a.status = 'firing' AND a.rule_id = st.rule_id AND a.server_id = st.server_id
  AND st.checked_at = %(now)s AND NOT st.no_data AND st.normal_count >= r.resolve_checks
RETURNING a.id, a.rule_id, a.server_id
"""


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
        cur.execute(PAIRS_SQL, params)
        cur.execute(FIRE_SQL, params)
        result.fired = [row[0] for row in cur.fetchall() if row[3]]
        cur.execute(RESOLVE_SQL, params)
        result.resolved = [row[0] for row in cur.fetchall()]
        _log(result, alias)
    return result


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
            },
            user_id=None,
            user_name="system",
        )
        for a in alerts
    )

"""The backtest replays a rule over the last day of 5-minute rollups with the evaluator's
counting: separate episodes fire separately, a pending period skips short spikes, hysteresis
keeps a value hovering at the threshold to one alert, and scope is honoured."""

import datetime as dt

import pytest
from django.db import connections
from django.utils import timezone

from alerts import backtest
from alerts.models import AlertRule
from dbtools import tenancy
from monitoring.models import MetricType
from servers import actions as server_actions

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]
NOW = timezone.now().replace(second=0, microsecond=0)


def rollups(server, values, metric="cpu_percent"):
    """One 5-minute bucket per value, the last one ending now (oldest first)."""
    type_id = MetricType.objects.get(name=metric).pk
    start = NOW - dt.timedelta(minutes=5 * len(values))
    rows = [
        (server.pk, type_id, start + dt.timedelta(minutes=5 * i), 5, v * 5, v, v)
        for i, v in enumerate(values)
    ]
    with connections[tenancy.current().alias].cursor() as cur:
        cur.executemany(
            """INSERT INTO metric_rollups_5m
                 (server_id, metric_type_id, bucket, samples, total, minimum, maximum)
               VALUES (%s, %s, %s, %s, %s, %s, %s)""",
            rows,
        )


def rule(**kw):
    spec = {
        "name": "CPU",
        "metric": "cpu_percent",
        "operator": "gt",
        "threshold": 90,
        "severity": "critical",
        "aggregation": "last",
        "window_minutes": 5,
        "pending_checks": 1,
        "resolve_checks": 2,
        **kw,
    }
    return AlertRule(**spec)


def test_separate_episodes_fire_separately_and_a_pending_period_skips_short_spikes(servers):
    calm, spike = [20] * 20, [95] * 3
    rollups(servers[0], calm + spike + calm + spike + calm + [95])
    result = backtest.backtest(rule(), now=NOW)
    assert (result.fired, result.servers, result.checked) == (3, 1, 1)
    # Three checks in a row needed: the last, single-bucket spike does not count.
    assert backtest.backtest(rule(pending_checks=3), now=NOW).fired == 2


def test_hysteresis_keeps_a_hovering_value_to_one_alert(servers):
    rollups(servers[0], [20, 95, 85, 95, 85, 95, 85, 70, 70, 20])
    # Resolving after one normal check, it resolves at each dip and fires again.
    assert backtest.backtest(rule(resolve_checks=1), now=NOW).fired == 3
    # With a recovery threshold of 80, 85 is not back to normal: one alert.
    assert backtest.backtest(rule(resolve_checks=1, recovery_threshold=80), now=NOW).fired == 1
    # Two normal checks needed: one dip does not resolve it either.
    assert backtest.backtest(rule(), now=NOW).fired == 1


def test_windowed_average_and_scope(servers):
    # Spikes of one bucket never lift a 15-minute average over 90.
    rollups(servers[0], [20, 100, 20, 100, 20, 100])
    rollups(servers[1], [95] * 6)
    avg = rule(aggregation="avg", window_minutes=15)
    result = backtest.backtest(avg, now=NOW)
    assert result.per_server == {servers[1].name: 1}
    group = server_actions.create_group("Only first", acting_user=None)
    server_actions.add_to_group(group, servers[:1], acting_user=None)
    scoped = rule(scope="group", group=group, aggregation="max", resolve_checks=1)
    assert backtest.backtest(scoped, now=NOW).per_server == {servers[0].name: 3}


def test_reachability_rules_cannot_be_replayed(servers):
    result = backtest.backtest(rule(metric="server_offline", operator="eq", threshold=1))
    assert not result.available and "not stored" in result.reason


@pytest.fixture
def as_operator(api, make_user, tenant_alpha):
    return api(make_user("otto", tenant_alpha, "operator"), tenant_alpha)


def test_backtest_through_the_api(as_operator, servers):
    rollups(servers[0], [20, 95, 95, 20, 20])
    body = {
        "name": "draft",
        "metric": "cpu_percent",
        "operator": "gt",
        "threshold": 90,
        "severity": "warning",
    }
    r = as_operator.post("/api/alert-rules/backtest", body, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["fired"] == 1 and r.json()["resolution_minutes"] == 5
    r = as_operator.post("/api/alert-rules/backtest", {**body, "threshold": "x"}, format="json")
    assert r.status_code == 400 and "threshold" in r.json()

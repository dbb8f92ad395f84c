"""The evaluator over stored samples: breach, no duplicate, pending period, resolution after two
normal checks, hysteresis, aggregates, scope, no data, offline inhibition, activity entries."""

import datetime as dt

import pytest
from django.db import connections
from django.utils import timezone

from alerts import evaluator
from alerts.models import Alert, AlertRule, AlertState
from core.models import ActivityLog
from dbtools import tenancy
from monitoring import partitions, store
from monitoring.models import CollectorState
from servers import actions as server_actions

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]
MIN = dt.timedelta(minutes=1)


@pytest.fixture(autouse=True)
def no_default_rules(use_alpha):
    AlertRule.objects.all().delete()


def collected(server, at, ok=True):
    CollectorState.objects.update_or_create(
        server=server,
        defaults={"last_attempt_at": at, "last_success_at": at if ok else at - 3600 * MIN},
    )


def sample(server, metric, value, at):
    alias = tenancy.current().alias
    partitions.ensure_around(alias, at)
    with connections[alias].cursor() as cur:
        cur.execute(
            "INSERT INTO metrics (server_id, metric_type_id, collected_at, value) "
            "VALUES (%s, %s, %s, %s)",
            [server.pk, store.metric_type_ids(alias)[metric], at, value],
        )
    collected(server, at)


def rule(**kw):
    spec = {
        "name": "cpu",
        "metric": "cpu_percent",
        "operator": "gt",
        "threshold": 90,
        "severity": "critical",
        **kw,
    }
    return AlertRule.objects.create(**spec)


def check(server, value, at, metric="cpu_percent"):
    sample(server, metric, value, at)
    return evaluator.evaluate(now=at)


def active():
    return list(Alert.objects.filter(status="firing").values_list("server__name", "rule__name"))


def test_a_breach_fires_one_alert_and_checks_after_it_add_none(servers):
    rule()
    t = timezone.now()
    result = check(servers[0], 95, t)
    assert len(result.fired) == 1
    assert active() == [("SQL0", "cpu")]
    again = check(servers[0], 97, t + MIN)
    assert again.fired == [] and Alert.objects.count() == 1
    assert Alert.objects.get().last_value == 97
    entry = ActivityLog.objects.get(action="alert.triggered")
    assert entry.entity_name == "SQL0" and entry.details["rule"] == "cpu"


def test_pending_period_needs_consecutive_breaches(servers):
    rule(pending_checks=3)
    t = timezone.now()
    check(servers[0], 95, t)
    check(servers[0], 95, t + MIN)
    check(servers[0], 50, t + 2 * MIN)  # the run is broken
    check(servers[0], 95, t + 3 * MIN)
    check(servers[0], 95, t + 4 * MIN)
    assert active() == []
    check(servers[0], 95, t + 5 * MIN)
    assert active() == [("SQL0", "cpu")]


def test_resolves_after_two_normal_checks(servers):
    rule()
    t = timezone.now()
    check(servers[0], 95, t)
    check(servers[0], 50, t + MIN)
    assert active() == [("SQL0", "cpu")]
    result = check(servers[0], 40, t + 2 * MIN)
    assert len(result.resolved) == 1
    alert = Alert.objects.get()
    assert alert.status == "resolved" and alert.resolved_at == t + 2 * MIN
    assert ActivityLog.objects.filter(action="alert.resolved").count() == 1


def test_hysteresis_holds_the_alert_between_the_thresholds(servers):
    rule(recovery_threshold=80)
    t = timezone.now()
    check(servers[0], 95, t)
    for i in range(1, 4):
        check(servers[0], 85, t + i * MIN)  # below 90 but above 80: still firing
    assert active() == [("SQL0", "cpu")]
    check(servers[0], 75, t + 4 * MIN)
    check(servers[0], 70, t + 5 * MIN)
    assert active() == []


def test_average_over_the_window(servers):
    rule(aggregation="avg", window_minutes=5)
    t = timezone.now()
    for i, v in enumerate((99, 99, 60)):
        sample(servers[0], "cpu_percent", v, t + i * MIN)
    evaluator.evaluate(now=t + 2 * MIN)
    assert active() == []  # average 86
    sample(servers[0], "cpu_percent", 99, t + 3 * MIN)
    sample(servers[0], "cpu_percent", 99, t + 4 * MIN)
    evaluator.evaluate(now=t + 4 * MIN)
    assert active() == [("SQL0", "cpu")]  # average 91.2
    assert Alert.objects.get().value == pytest.approx(91.2)


def test_rules_sharing_a_metric_get_each_window_exactly(servers):
    """The samples of a metric are aggregated once for all its rules' windows: each window
    holds the samples strictly after its start, including a window whose own stretch since the
    next shorter one has no sample."""
    specs = {
        "avg 5": ("avg", 5),
        "min 7": ("min", 7),
        "avg 10": ("avg", 10),  # nothing between 7 and 10 minutes old
        "min 15": ("min", 15),
        "max 15": ("max", 15),
        "last 3": ("last", 3),
        "avg 1": ("avg", 1),  # nothing newer than a minute: no data
    }
    rules = {
        name: rule(name=name, aggregation=agg, window_minutes=w, threshold=1000)
        for name, (agg, w) in specs.items()
    }
    t = timezone.now()
    for ago, v in ((12, 40), (5, 70), (2, 90), (1, 80)):  # 5 minutes old is outside "5"
        sample(servers[0], "cpu_percent", v, t - ago * MIN)
    evaluator.evaluate(now=t)
    states = {s.rule_id: s for s in AlertState.objects.filter(server=servers[0])}
    values = {name: states[r.pk].last_value for name, r in rules.items()}
    assert values == {
        "avg 5": pytest.approx(85),
        "min 7": 70,
        "avg 10": pytest.approx(80),
        "min 15": 40,
        "max 15": 90,
        "last 3": 80,
        "avg 1": None,
    }
    assert states[rules["avg 1"].pk].no_data


def test_scope_by_group_and_label(servers):
    group = server_actions.create_group("Prod")
    server_actions.add_to_group(group, [servers[0]])
    server_actions.assign_labels([servers[1]], ["tier1"])
    rule(name="prod cpu", scope="group", group=group)
    rule(name="tier1 cpu", scope="label", label=servers[1].labels.get())
    t = timezone.now()
    for s in servers:
        sample(s, "cpu_percent", 99, t)
    evaluator.evaluate(now=t)
    assert sorted(active()) == [("SQL0", "prod cpu"), ("SQL1", "tier1 cpu")]


def test_a_server_never_collected_is_no_data_not_a_breach(servers):
    rule(operator="lt", threshold=10)  # "CPU below 10": an empty value would look like 0
    evaluator.evaluate(now=timezone.now())
    assert active() == []
    assert set(AlertState.objects.values_list("no_data", flat=True)) == {True}


def test_an_offline_server_raises_one_alert_and_holds_its_metric_rules(servers):
    rule()
    AlertRule.objects.create(
        name="offline",
        metric="server_offline",
        operator="eq",
        threshold=1,
        severity="critical",
        resolve_checks=1,
    )
    t = timezone.now()
    check(servers[0], 99, t)  # CPU fires while reachable
    Alert.objects.all().delete()
    AlertState.objects.all().delete()
    sample(servers[0], "cpu_percent", 99, t + MIN)
    collected(servers[0], t + 30 * MIN, ok=False)  # then it stopped answering
    evaluator.evaluate(now=t + 30 * MIN)
    assert active() == [("SQL0", "offline")]
    collected(servers[0], t + 31 * MIN)
    sample(servers[0], "cpu_percent", 20, t + 31 * MIN)
    evaluator.evaluate(now=t + 31 * MIN)
    assert active() == []


def test_only_the_servers_just_collected_are_evaluated(servers):
    rule()
    t = timezone.now()
    for s in servers:
        sample(s, "cpu_percent", 99, t)
    evaluator.evaluate([servers[1].pk], now=t)
    assert active() == [("SQL1", "cpu")]


def test_a_batch_continues_its_servers_counters_and_leaves_the_others_alone(servers):
    """A batch reads only its own servers' stored states and firing alerts: its counters carry
    on from their last batch, and another server's alert keeps its value."""
    rule(pending_checks=2)
    t = timezone.now()
    a, b = servers[0], servers[1]
    for n, value in enumerate([95, 96]):
        sample(a, "cpu_percent", value, t + n * MIN)
        evaluator.evaluate([a.pk], now=t + n * MIN)
    assert active() == [("SQL0", "cpu")]
    sample(b, "cpu_percent", 99, t + 2 * MIN)
    sample(a, "cpu_percent", 98, t + 2 * MIN)  # written, but not in the batch evaluated
    evaluator.evaluate([b.pk], now=t + 2 * MIN)
    assert active() == [("SQL0", "cpu")]  # one breach of two for SQL1
    assert Alert.objects.get(server=a).last_value == 96
    sample(b, "cpu_percent", 99, t + 3 * MIN)
    evaluator.evaluate([b.pk], now=t + 3 * MIN)
    assert sorted(active()) == [("SQL0", "cpu"), ("SQL1", "cpu")]
    assert AlertState.objects.get(server=a).breach_count == 2


def test_new_tenants_start_with_the_default_rules(scratch_tenants, settings):
    from alerts.defaults import DEFAULT_RULES
    from tenants import provisioning

    scratch_tenants("gamma")
    tenant = provisioning.create_tenant("gamma", "Gamma")
    with tenancy.use_tenant(tenant):
        names = set(AlertRule.objects.values_list("name", flat=True))
    assert names == {r["name"] for r in DEFAULT_RULES}


def test_a_firing_alert_sets_the_server_health(servers):
    """Health is the worse of the default thresholds and the alerts firing on the server: a
    critical rule firing makes the server critical on the dashboard and its page, a warning one
    at least warning; once resolved, the thresholds alone decide again."""
    from monitoring import health

    def status(server):
        return health.fleet_health(server_id=server.pk)[0]["status"]

    rule()
    rule(name="conns", metric="connection_count", threshold=500, severity="warning")
    t = timezone.now()
    collected(servers[0], t)
    collected(servers[1], t)
    assert status(servers[0]) == status(servers[1]) == "healthy"
    check(servers[0], 95, t)
    check(servers[1], 900, t, metric="connection_count")
    assert (status(servers[0]), status(servers[1])) == ("critical", "warning")
    for n in (1, 2):
        check(servers[0], 10, t + n * MIN)
    assert status(servers[0]) == "healthy"

"""Suppression while DbTools itself runs heavy maintenance on a server: an IndexOptimize job of
a deployed policy is running (claimed and started by the scheduler engine) on a sqlsim instance
whose CPU spikes. The quiet rule's alert is recorded as suppressed and nobody is told; a rule
that is not quiet is told at once; after the work and its grace period the quiet one is told too.
"""

import pytest

from alerts import notify
from alerts.models import Alert, AlertRule, Notification
from alerts.tests import test_collection
from core.models import ActivityLog
from policies import actions as policy_actions
from scheduler import actions as job_actions
from scheduler import engine
from scheduler.models import Job, JobExecution
from servers import actions as server_actions

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]
# The collected sqlsim server of the collection tests.
sim, server, collect = test_collection.sim, test_collection.server, test_collection.collect


@pytest.fixture
def rules(server):
    AlertRule.objects.filter(name="CPU now").update(quiet_during_maintenance=True)
    AlertRule.objects.create(
        name="CPU loud",
        metric="cpu_percent",
        operator="gt",
        threshold=90,
        severity="critical",
        aggregation="max",
        window_minutes=2,
    )


@pytest.fixture
def point(admin_user):
    from alerts import actions

    return actions.create_contact_point(
        {"name": "On-call", "url": "http://127.0.0.1:9/hook", "min_severity": "warning"},
        acting_user=admin_user,
    )


@pytest.fixture
def index_work(server):
    """An IndexOptimize execution the engine has claimed and a worker has begun: running."""
    group = server_actions.create_group("Prod")
    server_actions.add_to_group(group, [server])
    policy = policy_actions.create_policy(
        {
            "name": "Nightly index",
            "policy_type": "index_maintenance",
            "status": "active",
            "configuration": {},
        },
        acting_user=None,
    )
    policy_actions.deploy(policy, [group], acting_user=None)
    job = Job.objects.get(job_type="policy_execution")
    assert job.heavy
    job_actions.run_now(job, acting_user=None)
    (claimed,) = engine.step("w1", 10)
    assert engine.begin(claimed.execution_id, "w1")
    return JobExecution.objects.get(pk=claimed.execution_id)


def notified_rules():
    return sorted(
        Notification.objects.filter(event="firing").values_list("alerts__rule__name", flat=True)
    )


def test_a_quiet_rule_is_recorded_as_suppressed_while_index_work_runs(
    rules,
    point,
    index_work,
    sim,
    server,
):
    sim.spike_cpu("SQLALERT01", 99)
    sim.advance_clock("SQLALERT01", 180)
    collect()
    quiet = Alert.objects.get(rule__name="CPU now")
    loud = Alert.objects.get(rule__name="CPU loud")
    assert quiet.status == loud.status == "firing"  # recorded, not lost
    assert quiet.suppressed_by == "IndexOptimize"
    assert quiet.suppressed_execution_id == index_work.pk
    assert quiet.suppressed_until is None
    since = index_work.started_at.strftime("%H:%M")
    assert quiet.suppression == f"suppressed: IndexOptimize running since {since} UTC"
    assert loud.suppressed_by == ""
    assert notified_rules() == ["CPU loud"]
    entry = ActivityLog.objects.get(action="alert.triggered", details__rule="CPU now")
    assert entry.details["suppressed"].startswith("suppressed: IndexOptimize running since")


def test_after_the_work_and_its_grace_period_the_quiet_alert_is_sent(
    rules,
    point,
    index_work,
    sim,
    settings,
):
    sim.spike_cpu("SQLALERT01", 99)
    sim.advance_clock("SQLALERT01", 180)
    collect()
    engine.finish(index_work.pk, "w1", engine.Outcome(status="succeeded", result={}))
    sim.advance_clock("SQLALERT01", 60)
    collect()
    quiet = Alert.objects.get(rule__name="CPU now")
    index_work.refresh_from_db()
    assert quiet.suppressed_until == index_work.completed_at
    assert quiet.suppression.startswith("suppressed during IndexOptimize, ")
    assert notified_rules() == ["CPU loud"]  # within the grace period: still quiet
    settings.DBTOOLS_ALERT_MAINTENANCE_GRACE_MINUTES = 0
    notify.plan()
    assert notified_rules() == ["CPU loud", "CPU now"]


def test_without_maintenance_a_quiet_rule_fires_and_is_sent_as_usual(
    rules,
    point,
    sim,
):
    sim.spike_cpu("SQLALERT01", 99)
    sim.advance_clock("SQLALERT01", 180)
    collect()
    assert Alert.objects.get(rule__name="CPU now").suppressed_by == ""
    assert notified_rules() == ["CPU loud", "CPU now"]


def test_a_light_job_suppresses_nothing(rules, point, index_work, sim):
    Job.objects.update(heavy=False)
    sim.spike_cpu("SQLALERT01", 99)
    sim.advance_clock("SQLALERT01", 180)
    collect()
    assert Alert.objects.get(rule__name="CPU now").suppressed_by == ""

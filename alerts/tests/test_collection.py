"""Alerting driven by the collector: a sqlsim instance steered to high CPU, then stopped, is
collected over TDS and its written batch is evaluated in the background."""

import datetime as dt

import pytest
from django.utils import timezone

from alerts.models import Alert, AlertRule, AlertState
from core import settings_store
from dbtools import tenancy
from engine import due
from monitoring import collector
from monitoring.models import CollectorState
from servers import actions, deployment
from sqlsim.instance import InstanceConfig

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


@pytest.fixture
def sim(sqlsim_factory):
    return sqlsim_factory([InstanceConfig(name="SQLALERT01", port=0, version=2019)])


@pytest.fixture
def server(sim, settings):
    settings.DBTOOLS_COLLECTOR_TIMEOUT = 2
    AlertRule.objects.exclude(metric="server_offline").delete()
    AlertRule.objects.create(
        name="CPU now",
        metric="cpu_percent",
        operator="gt",
        threshold=90,
        severity="critical",
        aggregation="max",
        window_minutes=2,
    )
    host, port = sim.address("SQLALERT01")
    made = actions.create_server(
        {
            "name": "SQLALERT01",
            "host": host,
            "port": port,
            "auth_type": "sql",
            "username": sim.login,
            "password": sim.password,
        }
    )
    assert deployment.deploy(made)["monitoring_status"] == "monitored"
    collect()
    return made


def collect():
    CollectorState.objects.update(next_due_at=timezone.now())
    due.mark(tenancy.current().id)
    return collector.run_slot(0, 0.5, owner="test")


def firing():
    return sorted(Alert.objects.filter(status="firing").values_list("rule__name", flat=True))


def test_a_cpu_spike_collected_fires_one_alert(server, sim):
    assert firing() == []
    sim.spike_cpu("SQLALERT01", 99)
    sim.advance_clock("SQLALERT01", 180)  # ring-buffer records with the spike
    collect()
    assert firing() == ["CPU now"]
    alert = Alert.objects.get()
    assert alert.value >= 90 and alert.server_id == server.pk
    sim.advance_clock("SQLALERT01", 60)
    collect()
    assert Alert.objects.count() == 1  # still the same alert


def test_a_stopped_instance_raises_one_offline_alert_not_metric_alerts(server, sim):
    settings_store.update({"offline_after_seconds": 60})
    sim.spike_cpu("SQLALERT01", 99)
    sim.advance_clock("SQLALERT01", 180)
    sim.stop_instance("SQLALERT01")
    collect()  # just failed: degraded, not offline yet
    assert firing() == []
    CollectorState.objects.filter(pk=server.pk).update(
        last_success_at=timezone.now() - dt.timedelta(minutes=5)
    )
    collect()
    assert firing() == ["Server offline"]
    # Its CPU rule is held as no data behind the offline alert, not judged on stale samples.
    assert AlertState.objects.get(rule__name="CPU now").no_data
    server.refresh_from_db()
    assert server.status == "offline"


def test_an_error_in_alerting_never_breaks_collection(server, sim, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("alerting is down")

    monkeypatch.setattr("alerts.evaluator.evaluate", broken)
    result = collect()
    assert result["collected"] == 1
    monkeypatch.setattr("dbtools.tasks.async_task", broken)
    result = collect()
    assert result["collected"] == 1
    assert CollectorState.objects.get(pk=server.pk).last_success_at is not None

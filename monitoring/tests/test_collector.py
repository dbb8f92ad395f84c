"""The collector end to end: deploy to sqlsim instances, collect over real TDS, store, status."""

import datetime as dt
import threading
import time

import pytest
from django.utils import timezone

from dbtools import tenancy
from monitoring import collector, health
from monitoring.models import (
    CollectionConfig,
    CollectorState,
    Metric,
    MetricType,
    ServerSnapshot,
    WaitStat,
)
from servers import actions, deployment
from servers.models import Server
from sqlsim.instance import InstanceConfig

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


@pytest.fixture
def monitored(sqlsim, settings):
    settings.DBTOOLS_COLLECTOR_TIMEOUT = 2

    def make(name: str, fleet=sqlsim) -> Server:
        host, port = fleet.address(name)
        server = actions.create_server({"name": name, "host": host, "port": port,
                                        "auth_type": "sql", "username": fleet.login,
                                        "password": fleet.password})  # fmt: skip
        status = deployment.deploy(server)
        assert status["monitoring_status"] == "monitored", status
        return server

    return make


def due_now(*servers):
    CollectorState.objects.filter(server__in=servers).update(next_due_at=timezone.now())


def run(seconds=1.0):
    return collector.run_shard(0, 1, seconds, owner="test")


def test_collects_rates_and_snapshots(monitored):
    server = monitored("SQLPROD01")
    first = run()
    assert first["collected"] == 1, first
    state = CollectorState.objects.get(pk=server.pk)
    assert state.last_success_at is not None
    # The first collection spreads the next one over 0.5–1.5 intervals (default 60 s).
    assert state.next_due_at > timezone.now() + dt.timedelta(seconds=25)
    assert state.last_cpu_record_id
    time.sleep(0.3)
    due_now(server)
    run()
    type_ids = Metric.objects.filter(server_id=server.pk).values_list("metric_type_id", flat=True)
    names = set(MetricType.objects.filter(id__in=type_ids).values_list("name", flat=True))
    # Rates from every kind of counter the procedure returns, not just any six rows.
    assert {"batch_requests_sec", "page_life_expectancy"} <= names, names
    assert len(names) >= 6
    snap = ServerSnapshot.objects.filter(server_id=server.pk).latest("collected_at")
    assert snap.batch_requests_sec is not None
    assert snap.batch_requests_sec >= 0
    assert 0 <= snap.cpu_percent <= 100
    assert WaitStat.objects.filter(server_id=server.pk).exists()
    server.refresh_from_db()
    assert server.status == "online"
    assert health.fleet_health(server.pk)[0]["status"] in ("healthy", "warning", "critical")


def test_slow_instance_times_out_without_delaying_others(monitored, sqlsim):
    fast, slow = monitored("SQLPROD01"), monitored("SQLPROD02")
    sqlsim.slow("SQLPROD02", 10)
    started = timezone.now()
    result = run(seconds=0.5)
    assert result == {"collected": 1, "failed": 1, "rows": result["rows"]}
    fast_state = CollectorState.objects.get(pk=fast.pk)
    slow_state = CollectorState.objects.get(pk=slow.pk)
    assert (fast_state.last_success_at - started).total_seconds() < 1.5
    assert slow_state.last_error_kind == "timeout"
    assert slow_state.last_duration_ms < 4000  # abandoned at the time limit, not after 10 s
    slow.refresh_from_db()
    assert slow.status == "offline"  # never collected successfully


def test_instance_down_then_back(monitored, sqlsim):
    server = monitored("SQLPROD03")
    run()
    sqlsim.stop_instance("SQLPROD03")
    due_now(server)
    run()
    server.refresh_from_db()
    assert server.status == "degraded"  # one failure right after a success
    CollectorState.objects.filter(pk=server.pk).update(
        last_success_at=timezone.now() - dt.timedelta(minutes=10)
    )
    due_now(server)
    run()
    server.refresh_from_db()
    assert server.status == "offline"
    assert health.fleet_health(server.pk)[0]["status"] == "offline"
    sqlsim.start_instance("SQLPROD03")
    due_now(server)
    run()
    server.refresh_from_db()
    assert server.status == "online"
    assert CollectorState.objects.get(pk=server.pk).consecutive_failures == 0


def test_config_changes_apply_next_cycle(monitored):
    server = monitored("SQLPROD01")
    CollectionConfig.objects.create(server=server, interval_seconds=30)
    run()
    state = CollectorState.objects.get(pk=server.pk)
    assert 14 < (state.next_due_at - state.last_attempt_at).total_seconds() <= 46
    CollectionConfig.objects.filter(pk=server.pk).update(enabled=False)
    due_now(server)
    assert run() == {"collected": 0, "failed": 0, "rows": 0}
    CollectionConfig.objects.filter(pk=server.pk).update(enabled=True)
    assert run()["collected"] == 1


def test_a_late_collector_collects_once_not_in_a_burst(monitored):
    server = monitored("SQLPROD01")
    run()
    CollectorState.objects.filter(pk=server.pk).update(
        next_due_at=timezone.now() - dt.timedelta(minutes=30)
    )
    assert run()["collected"] == 1
    state = CollectorState.objects.get(pk=server.pk)
    assert state.next_due_at > timezone.now() + dt.timedelta(seconds=50)


def test_counter_reset_stores_no_negative_rates(monitored, sqlsim_factory):
    # A restart cannot be undone: it gets an instance of its own, not one of the shared fleet.
    fleet = sqlsim_factory([InstanceConfig(name="SQLRESTART01", port=0, version=2019)])
    server = monitored("SQLRESTART01", fleet)
    run()
    time.sleep(0.2)
    fleet.restart("SQLRESTART01")
    due_now(server)
    run()
    assert not ServerSnapshot.objects.filter(server_id=server.pk, batch_requests_sec__lt=0).exists()
    assert not Metric.objects.filter(server_id=server.pk, value__lt=0).exists()
    # CPU record ids restarted with the instance: the collector asks for all of them again.
    fleet.advance_clock("SQLRESTART01", 180)
    due_now(server)
    run()
    assert 0 < CollectorState.objects.get(pk=server.pk).last_cpu_record_id < 10


def test_stop_signal_drains_in_flight_collections(monitored, sqlsim):
    server = monitored("SQLPROD01")
    sqlsim.slow("SQLPROD01", 1)
    timer = threading.Timer(0.3, collector._stopping.set)
    timer.start()
    try:
        started = time.monotonic()
        result = run(seconds=30)
        assert time.monotonic() - started < 5
    finally:
        collector._stopping.clear()
    assert result["collected"] == 1  # the one in flight finished and was written
    assert CollectorState.objects.get(pk=server.pk).last_success_at is not None


def test_lease_keeps_a_shard_to_one_worker(monitored):
    monitored("SQLPROD01")
    ends = timezone.now() + dt.timedelta(seconds=60)
    assert collector._acquire(1, 0, "worker-a", ends)
    assert not collector._acquire(1, 0, "worker-b", ends)
    collector._release(1, 0, "worker-a")
    assert collector._acquire(1, 0, "worker-b", ends)
    collector._release(1, 0, "worker-b")


def test_dispatch_queues_one_task_per_shard(monitored, settings, tenant_alpha):
    settings.DBTOOLS_COLLECTOR_RUN_SECONDS = 0.5
    monitored("SQLPROD01")
    # Tasks run synchronously in tests, so dispatch itself collects the shard here.
    assert collector.dispatch()["queued"] >= 1
    assert CollectorState.objects.exclude(last_success_at=None).count() == 1


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_two_workers_on_one_shard_never_collect_a_server_twice(monitored, tenant_alpha):
    """Two nodes' shard tasks racing for the same shard: one collects, the other waits for the
    hand-over, so every server is collected once per cycle."""
    servers = [monitored(n) for n in ("SQLPROD01", "SQLPROD02", "SQLPROD03")]
    seen: list[int] = []
    lock = threading.Lock()
    real = collector.collect_server

    def counting(job, alias, offline_after):
        with lock:
            seen.append(job.server_id)
        return real(job, alias, offline_after)

    results = {}

    def worker(owner):
        with tenancy.use_tenant(tenant_alpha):
            results[owner] = collector.run_shard(0, 1, 1.0, owner=owner)

    collector.collect_server = counting
    collector.HANDOVER_WAIT, saved = 0.5, collector.HANDOVER_WAIT
    try:
        threads = [threading.Thread(target=worker, args=(o,)) for o in ("node-a", "node-b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        collector.collect_server = real
        collector.HANDOVER_WAIT = saved
    assert sorted(seen) == sorted(s.pk for s in servers)  # each exactly once, none skipped
    assert sum("skipped" in r for r in results.values()) == 1

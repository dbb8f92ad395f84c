"""The collector end to end: deploy to sqlsim instances, collect over real TDS, store, status;
claims, slots and the due index that keep every server collected once per cycle."""

import datetime as dt
import os
import threading
import time

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dbtools import tenancy
from engine import due
from engine.models import CollectorSlot, DueWork
from monitoring import actions as monitoring_actions
from monitoring import collector, health
from monitoring.models import (
    CollectionConfig,
    CollectorState,
    Metric,
    MetricType,
    ServerSnapshot,
    WaitStat,
)
from servers.models import Server
from sqlsim.instance import InstanceConfig

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


def due_now(*servers, at=None):
    """Make servers due (as time passing would) and tell the due index, as the collector's own
    writes would."""
    at = at or timezone.now()
    CollectorState.objects.filter(server__in=servers).update(next_due_at=at)
    due.mark(tenancy.current().id, at=at)


def run(seconds=1.0, slot=0, owner="test"):
    return collector.run_slot(slot, seconds, owner=owner)


def counts(result):
    return {k: result[k] for k in ("collected", "failed")}


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
    assert counts(result) == {"collected": 1, "failed": 1}
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


def test_config_changes_apply_next_cycle(
    monitored, tenant_alpha, django_capture_on_commit_callbacks
):
    server = monitored("SQLPROD01")
    CollectionConfig.objects.create(server=server, interval_seconds=30)
    run()
    state = CollectorState.objects.get(pk=server.pk)
    assert 14 < (state.next_due_at - state.last_attempt_at).total_seconds() <= 46
    config = CollectionConfig.objects.get(pk=server.pk)
    with django_capture_on_commit_callbacks(using=tenancy.current().alias, execute=True):
        monitoring_actions.save_config(config, {"enabled": False})
    due_now(server)
    assert counts(run()) == {"collected": 0, "failed": 0}
    # Nothing collectable: the tenant drops out of the due index altogether.
    assert DueWork.objects.get(tenant=tenant_alpha).due_at is None
    with django_capture_on_commit_callbacks(using=tenancy.current().alias, execute=True):
        monitoring_actions.save_config(config, {"enabled": True})
    assert DueWork.objects.get(tenant=tenant_alpha).due_at <= timezone.now()
    assert run()["collected"] == 1


def test_a_late_collector_collects_once_not_in_a_burst(monitored):
    server = monitored("SQLPROD01")
    run()
    due_now(server, at=timezone.now() - dt.timedelta(minutes=30))
    assert run()["collected"] == 1
    state = CollectorState.objects.get(pk=server.pk)
    assert state.next_due_at > timezone.now() + dt.timedelta(seconds=50)


def test_counter_reset_stores_no_negative_rates(monitored, sqlsim_factory):
    # A restart cannot be undone: it gets an instance of its own, not one of the shared fleet.
    fleet = sqlsim_factory([InstanceConfig(name="SQLRESTART01", port=0, version=2019)])
    server = monitored("SQLRESTART01", fleet=fleet)
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


def test_cpu_history_goes_on_after_a_service_restart(monitored, sqlsim_factory):
    # A service restart leaves ms_ticks (the machine's uptime) running and starts ring-buffer
    # record ids again from 1: only the start time says a new life began.
    fleet = sqlsim_factory([InstanceConfig(name="SQLRESTART02", port=0, version=2019)])
    server = monitored("SQLRESTART02", fleet=fleet)
    run()
    before = CollectorState.objects.get(pk=server.pk).last_cpu_record_id
    assert before > 100  # minutes of uptime
    fleet.restart("SQLRESTART02")
    due_now(server)
    run()
    snap = ServerSnapshot.objects.filter(server_id=server.pk).latest("collected_at")
    state = CollectorState.objects.get(pk=server.pk)
    # The new life's record ids (none yet, or the first one written since the start)...
    assert state.last_cpu_record_id <= 1
    if state.last_cpu_record_id == 0:
        assert snap.cpu_percent is None  # ...and the last reading of the old life not shown
    cpu = Metric.objects.filter(
        server_id=server.pk, metric_type_id=MetricType.objects.get(name="cpu_percent").pk
    )
    stored = cpu.count()
    fleet.advance_clock("SQLRESTART02", 240)
    due_now(server)
    run()
    # The minutes since the restart, without waiting for the new ids to pass the old ones.
    assert cpu.count() - stored >= 3
    snap = ServerSnapshot.objects.filter(server_id=server.pk).latest("collected_at")
    assert snap.cpu_percent is not None


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
    # No successor from a stopping node: the slot is left for the next tick to queue at once.
    slot = CollectorSlot.objects.get(slot=0)
    assert (slot.owner, slot.queued_at) == ("", None)


def test_deploy_puts_the_tenant_in_the_due_index(monitored, tenant_alpha):
    assert not DueWork.objects.filter(tenant=tenant_alpha).exists()
    before = timezone.now()
    monitored("SQLPROD01")
    assert (
        before <= DueWork.objects.get(tenant=tenant_alpha, kind="collect").due_at <= timezone.now()
    )
    result = run()
    assert counts(result) == {"collected": 1, "failed": 0}
    row = DueWork.objects.get(tenant=tenant_alpha)
    state = CollectorState.objects.get()
    assert row.due_at == state.next_due_at  # the tenant's next due server
    assert (row.claimed_by, row.claimed_until, state.claimed_by, state.claimed_until) == (
        "",
        None,
        "",
        None,
    )


def test_idle_tenant_costs_no_query_on_its_database(monitored, tenant_alpha, tenant_beta):
    monitored("SQLPROD01")
    run()  # collected; next due in 30-90 s
    tenant_db = connections[tenancy.current().alias]
    with CaptureQueriesContext(tenant_db) as tenant_queries:
        result = run(seconds=1.5)
    assert counts(result) == {"collected": 0, "failed": 0}
    assert result["visits"] == 0
    assert len(tenant_queries) == 0


def test_a_claimed_server_is_not_collected_until_its_claim_expires(monitored, tenant_alpha):
    server = monitored("SQLPROD01")
    run()
    # Another slot holds the server (still alive): not ours to collect.
    later = timezone.now() + dt.timedelta(seconds=20)
    CollectorState.objects.filter(pk=server.pk).update(claimed_by="other", claimed_until=later)
    due_now(server)
    assert counts(run(seconds=0.5)) == {"collected": 0, "failed": 0}
    # The tenant is due again when the claim ends, not before (no busy re-visiting).
    assert DueWork.objects.get(tenant=tenant_alpha).due_at == later
    # Its holder was killed: the claim ran out, and the next slot collects the server.
    CollectorState.objects.filter(pk=server.pk).update(
        claimed_until=timezone.now() - dt.timedelta(seconds=1)
    )
    due_now(server)
    assert counts(run(seconds=0.5)) == {"collected": 1, "failed": 0}
    state = CollectorState.objects.get(pk=server.pk)
    assert (state.claimed_by, state.claimed_until) == ("", None)


def test_claims_are_exclusive_and_rechecked():
    """The conditional UPDATE takes a server once, and never one collected meanwhile."""
    # Needs no sqlsim: claiming is all in the tenant database.
    server = Server.objects.create(name="S1", host="h", port=1, monitoring_status="monitored")
    horizon = timezone.now()
    assert collector.claim_servers("a", 10, horizon) == [server.pk]
    assert collector.claim_servers("b", 10, horizon) == []
    collector.release_servers("a", [server.pk])
    CollectorState.objects.filter(pk=server.pk).update(
        next_due_at=horizon + dt.timedelta(seconds=60)
    )
    assert collector.claim_servers("b", 10, horizon) == []


def test_a_big_tenant_takes_turns_with_a_small_one(
    monitored, tenant_alpha, tenant_beta, settings, sqlsim
):
    """Alpha has a backlog of six servers due before beta's one: with batches of two, beta's
    server is collected after alpha's first batch, not after all six."""
    settings.DBTOOLS_COLLECTOR_BATCH = 2
    settings.DBTOOLS_COLLECTOR_THREADS = 1  # room for four claimed servers at a time
    order: list[tuple[int, int]] = []
    real = collector.collect_server

    def recording(job, alias, offline_after):
        order.append((job.tenant_id, job.server_id))
        return real(job, alias, offline_after)

    big = [monitored(f"BIG{n}", "SQLPROD01") for n in range(6)]
    due_now(*big, at=timezone.now() - dt.timedelta(seconds=20))
    with tenancy.use_tenant(tenant_beta):
        small = monitored("SMALL1", "SQLPROD02")
        due_now(small, at=timezone.now() - dt.timedelta(seconds=10))
    collector.collect_server = recording
    try:
        result = run(seconds=6)
    finally:
        collector.collect_server = real
    assert counts(result) == {"collected": 7, "failed": 0}
    tenants = [t for t, _ in order]
    # Oldest due first; beta's server within alpha's first batch of two, not after all six.
    assert tenants[0] == tenant_alpha.pk and tenant_beta.pk in tenants[:3], order
    assert sorted(s for t, s in order if t == tenant_alpha.pk) == sorted(s.pk for s in big)


def test_a_slot_has_no_more_tenants_under_way_than_its_limit(
    monitored, tenant_alpha, tenant_beta, settings, monkeypatch
):
    """With room for one tenant at a time, the slot finishes one tenant before visiting the
    next, and collects both."""
    settings.DBTOOLS_COLLECTOR_TENANTS_AT_ONCE = 1
    first = monitored("CONN1", "SQLPROD01")
    due_now(first)
    with tenancy.use_tenant(tenant_beta):
        second = monitored("CONN2", "SQLPROD02")
        due_now(second)
    busy_at_visit: list[int] = []
    real_visit = collector.SlotLoop.visit

    def visit(self, tenant, part, limit, horizon):
        busy_at_visit.append(self.busy_tenants())
        return real_visit(self, tenant, part, limit, horizon)

    monkeypatch.setattr(collector.SlotLoop, "visit", visit)
    result = run(seconds=2)
    assert counts(result) == {"collected": 2, "failed": 0}
    assert busy_at_visit == [0, 0]  # the second tenant waited until the first was written


def test_tick_queues_each_missing_slot_once(settings, tenant_alpha):
    settings.DBTOOLS_COLLECT_SLOTS = 3
    settings.DBTOOLS_COLLECTOR_RUN_SECONDS = 0.2
    # Tasks run synchronously in tests: each queued slot task runs (0.2 s) and releases its slot.
    assert collector.tick() == {"queued": 3}
    assert collector.tick() == {"queued": 0}  # just queued; their successors are on the way
    # Slot 1's worker was killed: its heartbeat went stale, nobody queued a replacement since.
    stale = timezone.now() - dt.timedelta(seconds=collector.SLOT_STALE_SECONDS + 5)
    CollectorSlot.objects.filter(slot=1).update(owner="dead", heartbeat_at=stale, queued_at=stale)
    # Slot 2 is held by a live task.
    CollectorSlot.objects.filter(slot=2).update(owner="alive", heartbeat_at=timezone.now())
    assert collector.tick() == {"queued": 1}
    assert CollectorSlot.objects.get(slot=1).owner == ""  # the replacement ran and released it
    assert CollectorSlot.objects.get(slot=2).owner == "alive"
    # A slot task started twice (a re-queue racing a late successor) exits at once.
    assert collector.run_slot(2, 5) == {"skipped": "slot held by another task"}


def test_slot_task_beyond_configured_slots_exits(settings):
    settings.DBTOOLS_COLLECT_SLOTS = 1
    assert collector.slot_task(1) == {"skipped": "slot beyond DBTOOLS_COLLECT_SLOTS"}


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_two_slots_racing_collect_every_server_exactly_once(monitored, tenant_alpha, settings):
    """Two slot loops (as on two nodes) racing over one fleet, for two cycles: each due server
    is collected exactly once per cycle, none skipped."""
    settings.DBTOOLS_COLLECTOR_BATCH = 2
    settings.DBTOOLS_COLLECT_SLOTS = 2
    settings.DBTOOLS_COLLECTOR_DB_THREADS = 2  # as deployed: visits and writes on their threads
    servers = [monitored(f"RACE{n}", f"SQLPROD0{n % 4 + 1}") for n in range(8)]
    seen: list[int] = []
    lock = threading.Lock()
    real = collector.collect_server

    def counting(job, alias, offline_after):
        with lock:
            seen.append(job.server_id)
        return real(job, alias, offline_after)

    def worker(slot):
        with tenancy.use_tenant(tenant_alpha):
            results[slot] = collector.run_slot(slot, 1.5, owner=f"node-{slot}")

    collector.collect_server = counting
    try:
        for _cycle in range(2):
            results: dict[int, dict] = {}
            seen.clear()
            due_now(*servers)
            threads = [threading.Thread(target=worker, args=(s,)) for s in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(seen) == sorted(s.pk for s in servers)  # each exactly once
            assert sum(r["collected"] for r in results.values()) == len(servers)
    finally:
        collector.collect_server = real
    assert not CollectorState.objects.exclude(claimed_by="").exists()


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_results_queued_past_the_lease_keep_their_claims(
    monitored, tenant_alpha, settings, monkeypatch
):
    """Under overload a slot's writes queue behind each other for longer than a claim lease: the
    slot renews the claims of results still waiting, so no other slot (or node) claims and
    collects those servers again before they are written."""
    settings.DBTOOLS_COLLECTOR_LEASE_SECONDS = 3
    settings.DBTOOLS_COLLECTOR_DB_THREADS = 1
    servers = [monitored(f"SLOW{n}", f"SQLPROD0{n % 4 + 1}") for n in range(8)]
    first = min(s.pk for s in servers)
    real_write, real_collect = collector.write_results, collector.collect_server

    def staggered(job, alias, offline_after):
        time.sleep((job.server_id - first) * 0.5)  # results arrive over 3.5 s: four batches
        return real_collect(job, alias, offline_after)

    def slow_write(owner, results, parts):
        time.sleep(1.5)  # four batches queue: the last waits until about 7 s, twice the lease
        return real_write(owner, results, parts)

    monkeypatch.setattr(collector, "collect_server", staggered)
    monkeypatch.setattr(collector, "write_results", slow_write)
    due_now(*servers)
    result: dict = {}

    def slot():
        with tenancy.use_tenant(tenant_alpha):
            result.update(collector.run_slot(0, 1.0, owner="busy-node"))

    thread = threading.Thread(target=slot)
    thread.start()
    stolen: list[int] = []
    try:
        for _ in range(14):  # another node asks for due work every half second, for 7 s
            time.sleep(0.5)
            jobs = collector.claim_jobs("other-node", 100, timezone.now(), None, 60)
            stolen += [job.server_id for job in jobs]
            collector.release_servers("other-node", [job.server_id for job in jobs])
    finally:
        thread.join()
    assert result["collected"] == len(servers)
    assert stolen == [], "a server was claimed again while its results waited"
    assert result["renewed"] >= 1
    assert not CollectorState.objects.exclude(claimed_by="").exists()


def test_each_slot_collects_its_own_part_and_takes_over_an_overdue_one(
    monitored, settings, monkeypatch
):
    """A target is collected by one slot (one DbTools session, in one process) while that slot
    keeps up; a part left overdue (its slot died) is collected by another slot."""
    settings.DBTOOLS_COLLECT_SLOTS = 2
    monkeypatch.setattr(collector, "SPREAD_GROUP", 1)  # consecutive ids alternate parts
    servers = [monitored(f"PART{n}", f"SQLPROD0{n + 1}") for n in range(4)]
    tenant_id = tenancy.current().id
    mine = {s.pk for s in servers if collector.part_of(tenant_id, s.pk) == 0}
    assert 0 < len(mine) < len(servers)
    due_now(*servers)
    result = run(seconds=1, slot=0)
    assert counts(result) == {"collected": len(mine), "failed": 0}
    assert result["stolen"] == 0
    collected = set(
        CollectorState.objects.filter(last_success_at__isnull=False).values_list("pk", flat=True)
    )
    assert collected == mine
    # Slot 1 never came: its servers fall STEAL_SECONDS overdue and slot 0 takes them over.
    others = [s for s in servers if s.pk not in mine]
    overdue = timezone.now() - dt.timedelta(seconds=collector.STEAL_SECONDS + 1)
    due_now(*others, at=overdue)
    result = run(seconds=1, slot=0)
    assert counts(result) == {"collected": len(others), "failed": 0}
    assert result["stolen"] >= 1
    # The slot's running counts are on its row for health pages (no tenant data).
    stats = CollectorSlot.objects.get(slot=0).stats
    assert stats["collected"] == len(others) and "recent_max_late_s" in stats


def test_a_sigterm_held_back_is_delivered_once_the_slot_has_written():
    """A worker must not outlive its cluster: after the drain, the SIGTERM reaches the handler
    the worker had (Django-Q2's: terminate)."""
    import signal

    received = []
    original = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        previous = collector.install_signal_handler()
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while collecting: only noted
        assert collector._stopping.is_set() and received == []
        collector.restore_signal_handler(previous)
        assert received == [signal.SIGTERM]
    finally:
        collector._stopping.clear()
        signal.signal(signal.SIGTERM, original)


def test_a_crashing_collection_does_not_stop_the_slot(monitored, monkeypatch):
    first, second = monitored("SQLPROD01"), monitored("SQLPROD02")
    real = collector.collect_server

    def crashing(job, alias, offline_after):
        if job.server_id == first.pk:
            raise RuntimeError("a bug")
        return real(job, alias, offline_after)

    monkeypatch.setattr(collector, "collect_server", crashing)
    result = run(seconds=1)
    assert counts(result) == {"collected": 1, "failed": 0}
    assert CollectorState.objects.get(pk=second.pk).last_success_at is not None
    # The crashed one keeps its claim until the lease ends; then it is due again.
    state = CollectorState.objects.get(pk=first.pk)
    assert state.claimed_by == "test" and state.claimed_until > timezone.now()

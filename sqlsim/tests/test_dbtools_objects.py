"""DbTools' monitoring objects on sqlsim, through DbTools' own client (pyodbc + FreeTDS).

Every test starts its own fleet (``sqlsim_factory``): deployments and steering never reach the
shared standard fleet.  No database is needed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest

from monitoring import rates
from servers import monitoring_objects, sqlclient
from sqlsim.instance import DEFAULT_LOGIN, DEFAULT_PASSWORD, InstanceConfig, Login

pytest_plugins = ["sqlsim.pytest_plugin"]

COLLECT_SQL = "EXEC DbTools.usp_CollectMetrics @last_cpu_record_id = ?"
COLUMNS = [9, 5, 8, 4, 5, 4, 11]


def _fleet(factory, name="SQLDT01", **kw):
    fleet = factory([InstanceConfig(name=name, port=0, **kw)])
    return fleet, name


def _connect(fleet, name="SQLDT01"):
    target = sqlclient.Target(
        host="127.0.0.1",
        port=fleet.port(name),
        username=DEFAULT_LOGIN,
        password=DEFAULT_PASSWORD,
        encrypt=False,
    )
    return sqlclient.connect(target, timeout=10)


def _deployed(factory, name="SQLDT01", **kw):
    fleet, name = _fleet(factory, name, **kw)
    with _connect(fleet, name) as conn:
        monitoring_objects.deploy_objects(conn)
    return fleet, name


def _collect(conn, last=0):
    return conn.query_sets(COLLECT_SQL, last)


def test_deploy_on_a_fresh_instance_then_redeploy(sqlsim_factory):
    fleet, name = _fleet(sqlsim_factory)
    with _connect(fleet, name) as conn:
        assert monitoring_objects.missing_permissions(conn) == []
        assert monitoring_objects.deployed_version(conn) is None
        assert monitoring_objects.deployed_objects(conn) == []
        first = monitoring_objects.deploy_objects(conn)
        assert (first.version, first.previous_version) == (monitoring_objects.SCRIPT_VERSION, None)
        assert monitoring_objects.deployed_version(conn) == monitoring_objects.SCRIPT_VERSION
        objects = monitoring_objects.deployed_objects(conn)
    assert [(o["name"], o["type_desc"]) for o in objects] == [
        ("Config", "USER_TABLE"),
        ("usp_CollectMetrics", "SQL_STORED_PROCEDURE"),
    ]
    assert all(isinstance(o["modify_date"], dt.datetime) for o in objects)
    # a new session sees the same objects; deploying again changes nothing but the version row
    with _connect(fleet, name) as conn:
        assert conn.query("SELECT OBJECT_ID(N'DbTools.Config', N'U')")[0][0] > 0
        assert conn.query("SELECT OBJECT_ID(N'DbTools.Config', N'P')")[0][0] is None
        again = monitoring_objects.deploy_objects(conn)
        assert again.previous_version == monitoring_objects.SCRIPT_VERSION
        assert len(monitoring_objects.deployed_objects(conn)) == 2
    info = fleet.info(name)["dbtools"]
    assert {o["name"] for o in info["objects"]} == {"Config", "usp_CollectMetrics"}
    assert info["config"]["master"]["schema_version"] == str(monitoring_objects.SCRIPT_VERSION)


def test_deploy_without_create_permissions(sqlsim_factory):
    fleet, name = _fleet(sqlsim_factory)
    fleet.set_can_deploy(name, False)
    with _connect(fleet, name) as conn:
        with pytest.raises(sqlclient.PermissionMissing, match="db_owner"):
            monitoring_objects.deploy_objects(conn)
        # DDL sent anyway fails like SQL Server: error 262
        with pytest.raises(sqlclient.PermissionMissing, match="CREATE SCHEMA permission denied"):
            conn.execute("CREATE SCHEMA DbTools AUTHORIZATION dbo")
        assert monitoring_objects.deployed_version(conn) is None
    fleet.set_can_deploy(name, True)
    with _connect(fleet, name) as conn:
        assert monitoring_objects.deploy_objects(conn).version == monitoring_objects.SCRIPT_VERSION


def test_collection_by_a_login_that_is_not_db_owner(sqlsim_factory):
    """Deployed by a db_owner, collected by a login with VIEW SERVER STATE only: it needs
    EXECUTE on the procedure, which the deployment grants."""
    fleet, name = _deployed(sqlsim_factory, "SQLDTEXEC01")
    fleet.set_can_deploy(name, False, login=DEFAULT_LOGIN)
    with _connect(fleet, name) as conn:
        assert rates.parse(_collect(conn)).waits


def test_precheck_refuses_what_the_deploy_would_fail_on(sqlsim_factory):
    """CREATE SCHEMA, TABLE and PROCEDURE are not enough: AUTHORIZATION dbo needs IMPERSONATE
    on dbo, objects in the dbo-owned schema need ALTER on it, writing Config and granting
    EXECUTE need CONTROL. The pre-check refuses before any DDL; no half-done deployment."""
    fleet, name = _fleet(sqlsim_factory, "SQLDTPRE01")
    fleet.set_can_deploy(name, False)
    fleet.set_permissions(
        name, login=DEFAULT_LOGIN, CREATE_SCHEMA=True, CREATE_TABLE=True, CREATE_PROCEDURE=True
    )
    with _connect(fleet, name) as conn:
        with pytest.raises(sqlclient.PermissionMissing, match="db_owner"):
            monitoring_objects.deploy_objects(conn)
        assert conn.query("SELECT SCHEMA_ID(N'DbTools')")[0][0] is None
        # SQL Server's own answer to the statement the deploy would send first.
        with pytest.raises(sqlclient.TargetError, match="Cannot find the user 'dbo'"):
            conn.execute("CREATE SCHEMA DbTools AUTHORIZATION dbo")


def test_the_schema_owner_can_upgrade(sqlsim_factory):
    """Once deployed, a login with CONTROL on SCHEMA::DbTools, not db_owner, can upgrade."""
    fleet, name = _deployed(sqlsim_factory, "SQLDTUPG01")
    fleet.set_can_deploy(name, False)
    fleet.set_permissions(name, login=DEFAULT_LOGIN, CONTROL_SCHEMA=True)
    with _connect(fleet, name) as conn:
        assert monitoring_objects.missing_permissions(conn) == []
        outcome = monitoring_objects.deploy_objects(conn)
        assert outcome.previous_version == monitoring_objects.SCRIPT_VERSION
        assert rates.parse(_collect(conn)).waits


def test_view_server_performance_state_is_enough_on_2022(sqlsim_factory):
    login = Login(DEFAULT_LOGIN, DEFAULT_PASSWORD, view_server_state=False)
    fleet, name = _fleet(sqlsim_factory, "SQLDT2022", version=2022, logins=[login])
    fleet.set_permissions(name, login=DEFAULT_LOGIN, VIEW_SERVER_PERFORMANCE_STATE=True)
    with _connect(fleet, name) as conn:
        assert monitoring_objects.missing_permissions(conn) == []
        monitoring_objects.deploy_objects(conn)
        assert rates.parse(_collect(conn)).waits


def test_a_failed_version_write_fails_the_deploy(sqlsim_factory):
    """The version row is written last: if its INSERT fails, the deploy must fail (with SET
    NOCOUNT ON the error is the first thing the client reads; without it pyodbc stops at the
    UPDATE's row count and never sees the error)."""
    fleet, name = _fleet(sqlsim_factory, "SQLDTVER01")
    fleet.set_permissions(name, login=DEFAULT_LOGIN, INSERT=False)
    with _connect(fleet, name) as conn:
        with pytest.raises(sqlclient.PermissionMissing, match=r"090_version\.sql"):
            monitoring_objects.deploy_objects(conn)
        assert monitoring_objects.deployed_version(conn) is None
    fleet.set_permissions(name, login=DEFAULT_LOGIN, INSERT=True)
    version_batch = dict(monitoring_objects.batches())["090_version.sql"][0]
    with _connect(fleet, name) as conn:
        # No row count of the UPDATE or INSERT reaches the client (NOCOUNT ON).
        assert conn.execute(version_batch, "1") <= 0


def test_deploy_without_view_server_state(sqlsim_factory):
    login = Login(DEFAULT_LOGIN, DEFAULT_PASSWORD, view_server_state=False)
    fleet, name = _fleet(sqlsim_factory, "SQLDTNOPERM01", logins=[login])
    with _connect(fleet, name) as conn:
        assert monitoring_objects.missing_permissions(conn) == ["VIEW SERVER STATE"]
        with pytest.raises(sqlclient.PermissionMissing, match="VIEW SERVER STATE"):
            monitoring_objects.deploy_objects(conn)


def test_alter_of_a_missing_procedure_fails(sqlsim_factory):
    fleet, name = _fleet(sqlsim_factory)
    batch = dict(monitoring_objects.batches())["030_collect_metrics.sql"][1]
    with _connect(fleet, name) as conn:
        conn.execute("IF SCHEMA_ID(N'DbTools') IS NULL EXEC(N'CREATE SCHEMA DbTools')")
        with pytest.raises(sqlclient.QueryFailed, match="Invalid object name") as exc:
            conn.execute(batch)
        assert exc.value.number == 208


def test_collection_before_deployment_is_error_2812(sqlsim_factory):
    fleet, name = _fleet(sqlsim_factory)
    with _connect(fleet, name) as conn:
        with pytest.raises(sqlclient.QueryFailed, match="Could not find stored procedure") as exc:
            _collect(conn)
        assert exc.value.number == 2812


def test_collection_parses_and_gives_rates(sqlsim_factory):
    fleet, name = _deployed(sqlsim_factory)
    with _connect(fleet, name) as conn:
        sets = _collect(conn)
        assert [len(s[0]) for s in sets[:7]] == COLUMNS
        # Version 12's sets: no blocking, HADR off, no space or jobs unless asked (@space = 1),
        # and the row saying what the call covered.
        assert [len(s) for s in sets[7:]] == [0, 0, 0, 0, 0, 1]
        # Version 13: the five of version 12, then Agent running, the status of sets 8 to 11
        # (not read: not_collected for space) and volume truncation.
        assert len(sets[12][0]) == 11
        assert sets[12][0][6:10] == ("ok", "ok", "not_collected", "not_collected")
        first = rates.compute(rates.parse(sets), {})
        assert first.last_cpu_record_id is not None
        assert len(sets[1]) == 256  # a first poll with 0 gets the whole ring buffer
        time.sleep(0.3)
        second_sets = _collect(conn, first.last_cpu_record_id)
    raw = rates.parse(second_sets)
    second = rates.compute(raw, first.counters)
    assert raw.ms_ticks - rates.parse(sets).ms_ticks >= 250
    assert second.snapshot["batch_requests_sec"] > 0
    assert second.snapshot["cpu_percent"] is not None  # carried from the last record
    assert second.snapshot["memory_percent"] and 0 < second.snapshot["memory_percent"] < 100
    assert second.files and second.waits
    names = {r[1] for r in second_sets[4]}
    assert {
        "Batch Requests/sec",
        "SQL Compilations/sec",
        "Page life expectancy",
        "User Connections",
        "Buffer cache hit ratio",
        "Buffer cache hit ratio base",
        "Target Server Memory (KB)",
        "Total Server Memory (KB)",
    } <= names
    assert all(r[0].startswith("SQLServer:") for r in second_sets[4])
    assert {r[2] for r in second_sets[6]} == {2}  # per database: its data and log file
    assert all(r[10] == raw.ms_ticks for r in second_sets[6])  # sample_ms = the instance clock
    assert not {"LAZYWRITER_SLEEP", "SLEEP_TASK", "XE_TIMER_EVENT"} & set(raw.waits)


def test_a_realistic_instance_waits_and_files(sqlsim_factory):
    from sqlsim import dbtools_objects

    fleet, name = _deployed(sqlsim_factory, "SQLDTBIG01", databases=300, version=2019, seed=7)
    with _connect(fleet, name) as conn:
        databases = [r[0] for r in conn.query("SELECT name FROM sys.databases")]
        sets = _collect(conn)
        fleet.advance_clock(name, 6 * 3600)
        later = rates.parse(_collect(conn))
    raw = rates.parse(sets)
    # Hundreds of wait types, all real names, the usual suspects among them.
    assert len(raw.waits) >= 150
    assert set(raw.waits) <= set(dbtools_objects.WAIT_NAMES)
    assert {"CXPACKET", "PAGEIOLATCH_SH", "WRITELOG", "SOS_SCHEDULER_YIELD"} <= set(raw.waits)
    # The instance leaves out exactly what the deployed procedure filters: background waits the
    # list misses come through, huge, as they would from a real server.
    deployed = fleet.info(name)["dbtools"]["objects"]
    assert any(o["name"] == "usp_CollectMetrics" for o in deployed)
    definition = dict(monitoring_objects.batches())["030_collect_metrics.sql"][1]
    benign = dbtools_objects._benign_filter({"hash": "t", "definition": definition})
    assert benign and not benign & set(raw.waits)
    # New wait types show up as time passes; the ones seen before only ever go up.
    assert len(later.waits) > len(raw.waits)
    for wait, (tasks, wait_ms, signal_ms) in raw.waits.items():
        assert later.waits[wait][1] >= wait_ms and later.waits[wait][0] >= tasks
        assert signal_ms <= wait_ms
    # One row per database (two files each), matching sys.databases, in database_id order.
    assert len(databases) == 300
    assert [r[1] for r in sets[6]] == databases
    assert {r[2] for r in sets[6]} == {2}
    assert [r[0] for r in sets[6]] == sorted({r[0] for r in sets[6]})


def test_benign_waits_never_reach_the_collector(sqlsim_factory):
    """Every instance has background threads waiting all the time (on 2019: PVS_PREALLOCATE,
    STARTUP_DEPENDENCY_MANAGER, XE_LIVE_TARGET_TVF...). Counted as waits, they would bury the
    real ones under days of idle time; the deployed procedure must leave all of them out."""
    from sqlsim import dbtools_objects

    fleet, name = _deployed(sqlsim_factory, "SQLDTBENIGN01", version=2019, seed=3)
    with _connect(fleet, name) as conn:
        raw = rates.parse(_collect(conn))
    assert sorted(set(dbtools_objects._BACKGROUND) & set(raw.waits)) == []
    assert "CXCONSUMER" not in raw.waits  # normal consumer side of parallelism: CXPACKET stays
    assert "CXPACKET" in raw.waits


def test_a_least_privilege_login_gets_file_io(sqlsim_factory):
    """A collector login with VIEW SERVER STATE only: sys.master_files would show it no row
    (and raise no error), so file I/O must come without it."""
    fleet, name = _deployed(sqlsim_factory, "SQLDTLEAST01")
    fleet.set_permissions(
        name,
        login=DEFAULT_LOGIN,
        VIEW_ANY_DEFINITION=False,
        CREATE_DATABASE=False,
        ALTER_ANY_DATABASE=False,
    )
    with _connect(fleet, name) as conn:
        first = rates.compute(rates.parse(_collect(conn)), None)
        fleet.advance_clock(name, 60)
        raw = rates.parse(_collect(conn))
    assert set(raw.files) == {"master", "tempdb", "model", "msdb", "AppDB"}
    later = rates.compute(raw, first.counters)
    assert any(point.name == "disk_io_reads" for point in later.metrics)


def test_collection_without_view_server_state_is_error_300(sqlsim_factory):
    fleet, name = _deployed(sqlsim_factory)
    fleet.set_view_server_state(name, False)
    with (
        _connect(fleet, name) as conn,
        pytest.raises(sqlclient.PermissionMissing, match="VIEW SERVER STATE"),
    ):
        _collect(conn)


def test_late_poll_returns_the_missed_records(sqlsim_factory):
    fleet, name = _deployed(sqlsim_factory)
    with _connect(fleet, name) as conn:
        last = rates.parse(_collect(conn)).cpu[-1][0]
        assert rates.parse(_collect(conn, last)).cpu == []
        fleet.advance_clock(name, 5 * 60)
        records = rates.parse(_collect(conn, last)).cpu
    assert [r[0] for r in records] == [last + 1, last + 2, last + 3, last + 4, last + 5]
    gaps = [(b[1] - a[1]).total_seconds() for a, b in itertools.pairwise(records)]
    assert all(abs(g - 60) < 0.01 for g in gaps)


def test_spike_cpu_shows_in_the_next_record(sqlsim_factory):
    fleet, name = _deployed(sqlsim_factory)
    with _connect(fleet, name) as conn:
        before = rates.parse(_collect(conn)).cpu
        fleet.spike_cpu(name, 97)
        # Two simulated minutes: the first boundary may still close a minute that began before
        # the spike (as on a real server); the one after is wholly spiked.
        fleet.advance_clock(name, 120)
        after = rates.parse(_collect(conn, before[-1][0])).cpu
    assert 1 <= len(after) <= 3
    assert after[-1][2] >= 90
    assert before[-1][2] < 90


def test_odd_cpu_records_give_no_false_readings(sqlsim_factory):
    fleet, name = _deployed(sqlsim_factory, "SQLDTNUMA01", cpus=32)
    fleet.steer(name, odd_cpu_records=True, numa_nodes=2)
    with _connect(fleet, name) as conn:
        sets = _collect(conn)
    records = sets[1]
    assert any(r[2] is None for r in records) and any(r[3] is None for r in records)
    # On a base of 100 per NUMA node: SQL and idle add up to more than 100.
    assert any(r[2] is not None and r[3] is not None and r[2] + r[3] > 100 for r in records)
    computed = rates.compute(rates.parse(sets), None)
    sql = [p.value for p in computed.metrics if p.name == "cpu_percent"]
    other = [p.value for p in computed.metrics if p.name == "cpu_other_percent"]
    complete = [r for r in records if r[2] is not None and r[3] is not None]
    assert len(sql) == len(other) == len(complete)  # incomplete records dropped
    assert all(0 <= v < 100 for v in sql + other)  # scaled to one base, not clamped
    assert all(s + o <= 100 for s, o in zip(sql, other, strict=True))


def test_blocking_counts_sessions_and_active_counts_user_work(sqlsim_factory):
    """Latch waits whose owner is unknown (blocking_session_id -4, -5) block no session; system
    requests have session ids above 50 too; the collector's own request is not user work."""
    fleet, name = _deployed(sqlsim_factory, "SQLDTREQ01")
    fleet.steer(name, requests={"user": 3, "blocked": 1, "latch_waits": 4, "system_over_50": 6})
    with _connect(fleet, name) as conn:
        raw = rates.parse(_collect(conn))
    assert (raw.connections["active_requests"], raw.connections["blocked"]) == (3, 1)
    computed = {p.name: p.value for p in rates.compute(raw, None).metrics}
    assert (computed["active_requests"], computed["blocked_requests"]) == (3, 1)


def test_memory_health_reads_pressure_not_the_os_figure(sqlsim_factory):
    """A dedicated server with max server memory set shows some 90 % of the OS memory in use
    while perfectly healthy; what a DBA acts on is the OS reserve being eaten, the low-memory
    signals and queries waiting for memory grants: health reads the snapshot's figure."""
    fleet, name = _deployed(sqlsim_factory, "SQLDTMEM01", memory_mb=65536)
    thresholds = {"memory_warning_percent": 85, "memory_critical_percent": 95}
    with _connect(fleet, name) as conn:
        healthy = rates.compute(rates.parse(_collect(conn)), None)
        fleet.steer(name, memory_pressure=True)
        pressed = rates.compute(rates.parse(_collect(conn)), None)
    points = {p.name: p.value for p in healthy.metrics}
    assert points["memory_percent"] > thresholds["memory_warning_percent"]  # the OS figure
    assert healthy.snapshot["memory_percent"] < thresholds["memory_warning_percent"]
    assert points["sql_target_memory_mb"] >= points["sql_memory_mb"] > 50_000
    assert (points["memory_grants_pending"], points["memory_low"]) == (0, 0)
    assert "page_life_expectancy" in points
    pressed_points = {p.name: p.value for p in pressed.metrics}
    assert pressed.snapshot["memory_percent"] > thresholds["memory_critical_percent"]
    assert (pressed_points["memory_grants_pending"], pressed_points["memory_low"]) == (3, 1)


def test_listener_failover_to_a_busier_replica_is_a_new_epoch(sqlsim_factory):
    """The same address reaches another replica, which started at the same moment as this one
    but has done three times the work: its counters are no interval's work."""
    fleet, name = _deployed(sqlsim_factory, "SQLDTAG01")
    with _connect(fleet, name) as conn:
        first = rates.compute(rates.parse(_collect(conn)), None)
        fleet.steer(name, failover="SQLDTAG02")
        fleet.advance_clock(name, 60)
        raw = rates.parse(_collect(conn))
        after = rates.compute(raw, first.counters)
        fleet.advance_clock(name, 60)
        later = rates.compute(rates.parse(_collect(conn)), after.counters)
    assert after.snapshot["batch_requests_sec"] is None  # the first delta of the new epoch
    assert not after.waits
    rate = later.snapshot["batch_requests_sec"]
    assert rate is not None and rate < 20_000  # per second, not the replicas' difference


def test_only_new_cpu_records_are_parsed(sqlsim_factory):
    """The ring holds 256 SystemHealth records; converting all of them to XML every minute to
    keep one is waste: the procedure filters on [timestamp] before parsing."""
    from monitoring import collector

    fleet, name = _deployed(sqlsim_factory, "SQLDTRING01")
    with _connect(fleet, name) as conn:
        raw = rates.parse(_collect(conn))
        first = rates.compute(raw, None)
        # The first collection reads the whole ring: 256 records, fewer after a recent start.
        assert fleet.info(name)["dbtools"]["ring_records_parsed"] == len(raw.cpu) > 50
        fleet.advance_clock(name, 120)
        sets = conn.query_sets(
            collector.COLLECT_SINCE_SQL, first.last_cpu_record_id, first.last_cpu_ms_ticks
        )
    assert fleet.info(name)["dbtools"]["ring_records_parsed"] <= 3
    records = rates.parse(sets).cpu
    assert 2 <= len(records) <= 3 and records[0].record_id == first.last_cpu_record_id + 1


def test_restart_resets_counters_and_ring(sqlsim_factory):
    fleet, name = _deployed(sqlsim_factory)
    with _connect(fleet, name) as conn:
        before_sets = _collect(conn)
    before = rates.parse(before_sets)
    fleet.restart(name)
    with _connect(fleet, name) as conn:  # a restart drops connections; objects stay deployed
        assert monitoring_objects.deployed_version(conn) == monitoring_objects.SCRIPT_VERSION
        after_sets = _collect(conn)
    after = rates.parse(after_sets)
    # A service restart: ms_ticks counts the machine's uptime and goes on; the ring buffer
    # starts again, its record ids from 1.
    assert after.ms_ticks > before.ms_ticks
    assert all(r.record_id <= 1 for r in after.cpu)  # at most one minute since the start
    for counter in ("Batch Requests/sec", "SQL Compilations/sec"):
        assert after.counters[counter][0] < before.counters[counter][0]
    assert sum(w[1] for w in after.waits.values()) < sum(w[1] for w in before.waits.values())
    start_before, start_after = before_sets[0][0][2], after_sets[0][0][2]
    assert start_after > start_before
    computed = rates.compute(after, rates.compute(before, {}).counters)
    assert computed.snapshot["batch_requests_sec"] is None  # counters went down: no rate
    fleet.advance_clock(name, 120)
    with _connect(fleet, name) as conn:
        ids = [r.record_id for r in rates.parse(_collect(conn)).cpu]
    assert ids in ([1, 2], [1, 2, 3])


def test_clear_wait_stats(sqlsim_factory):
    fleet, name = _deployed(sqlsim_factory)
    with _connect(fleet, name) as conn:
        before = rates.parse(_collect(conn)).waits
        conn.execute("DBCC SQLPERF('sys.dm_os_wait_stats', CLEAR)")
        after = rates.parse(_collect(conn)).waits
        assert sum(w[1] for w in after.values()) < sum(w[1] for w in before.values()) / 100
        fleet.advance_clock(name, 30)
        later = rates.parse(_collect(conn)).waits
        assert sum(w[1] for w in later.values()) > sum(w[1] for w in after.values())
        fleet.clear_wait_stats(name)
        assert sum(w[1] for w in rates.parse(_collect(conn)).waits.values()) < sum(
            w[1] for w in later.values()
        )


def test_named_instance_counter_names(sqlsim_factory):
    fleet = sqlsim_factory([InstanceConfig(name="SQLDTNAMED01", port=0, instance_name="INST1")])
    target = sqlclient.Target(
        host="127.0.0.1",
        port=fleet.port("SQLDTNAMED01\\INST1"),
        instance_name="INST1",
        username=DEFAULT_LOGIN,
        password=DEFAULT_PASSWORD,
        encrypt=False,
    )
    with sqlclient.connect(target) as conn:
        monitoring_objects.deploy_objects(conn)
        sets = _collect(conn)
    assert all(r[0].startswith("MSSQL$INST1:") for r in sets[4])


def test_collection_is_fast(sqlsim_factory):
    fleet, name = _deployed(sqlsim_factory)
    with _connect(fleet, name) as conn:
        last = rates.parse(_collect(conn)).cpu[-1][0]
        started = time.perf_counter()
        for _ in range(50):
            _collect(conn, last)
        per_call_ms = (time.perf_counter() - started) * 1000 / 50
    assert per_call_ms < 25, per_call_ms


def test_plain_batch_form_stub_only_and_steering(sqlsim_factory):
    fleet, name = _fleet(sqlsim_factory)
    stub = dict(monitoring_objects.batches())["030_collect_metrics.sql"][0]
    with _connect(fleet, name) as conn:
        conn.execute("IF SCHEMA_ID(N'DbTools') IS NULL EXEC(N'CREATE SCHEMA DbTools')")
        conn.execute(stub)
        assert conn.query_sets("EXEC DbTools.usp_CollectMetrics @last_cpu_record_id = 0") == [[]]
        monitoring_objects.deploy_objects(conn)
        sets = conn.query_sets("EXEC DbTools.usp_CollectMetrics @last_cpu_record_id = 5")
        assert [len(s[0]) for s in sets[:7]] == COLUMNS
        fleet.slow(name, 0.4)
        started = time.monotonic()
        rates.parse(_collect(conn))
        assert time.monotonic() - started >= 0.4
        fleet.slow(name, 0)
        fleet.drop_objects(name)
        with pytest.raises(sqlclient.QueryFailed, match="Could not find stored procedure"):
            _collect(conn)
        fleet.stop_instance(name)
        with pytest.raises(sqlclient.TargetError):
            _collect(conn)

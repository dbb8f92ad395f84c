"""The minimum set a DBA expects (monitoring.extra), each driven by the sqlsim behaviour that shows
it: a blocking chain, deadlocks, volumes and logs filling up, Agent jobs failing (and no Agent,
or no access to msdb), an availability group replica falling behind (and HADR off)."""

import time

import pytest
from django.core.management import call_command

from alerts.metrics import METRICS
from monitoring import collector, counter_state, extra
from monitoring.models import Metric, MetricType, ServerDetail
from sqlsim.instance import InstanceConfig

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


def collect(*servers):
    """Collect now, as `manage.py collect` does: the workers' code path, whatever the due time."""
    results = collector.collect_now([s.pk for s in servers])
    assert sum(r.computed is not None for r in results) == len(servers), results
    return results


def minutes_pass(fleet, name, server, minutes):
    """Collections every minute on the instance's clock, as the workers make them."""
    for _ in range(minutes):
        fleet.advance_clock(name, 60)
        collect(server)


def values(server, name):
    type_id = MetricType.objects.get(name=name).pk
    return list(
        Metric.objects.filter(server_id=server.pk, metric_type_id=type_id)
        .order_by("collected_at")
        .values_list("value", flat=True)
    )


def own(sqlsim_factory, name, **config):
    """An instance of the test's own: its clock moves for good (advance_clock)."""
    return sqlsim_factory([InstanceConfig(name=name, port=0, version=2019, **config)])


def test_blocking_chain_shows_its_head_blocker(monitored, sqlsim):
    server = monitored("SQLPROD01")
    collect(server)
    detail = ServerDetail.objects.get(pk=server.pk)
    assert detail.blockers == []
    assert values(server, "head_blockers") == [0]
    sqlsim.steer(
        "SQLPROD01",
        blocking={
            "head": 73,
            "login": "CORP\\etl",
            "host": "ETL01",
            "program": "Nightly load",
            "blocked": 6,
            "wait_seconds": 184,
            "wait_resource": "OBJECT: 7:245575913:0",
        },
    )
    time.sleep(0.2)
    collect(server)
    detail.refresh_from_db()
    (head,) = detail.blockers
    assert head["session_id"] == 73
    assert (head["login"], head["host"], head["program"]) == ("CORP\\etl", "ETL01", "Nightly load")
    assert head["blocked"] == 6
    assert head["wait_resource"] == "OBJECT: 7:245575913:0"
    assert values(server, "longest_block_seconds")[-1] == 184
    assert values(server, "blocked_requests")[-1] == 6
    assert values(server, "head_blockers")[-1] == 1

    # The chain ends: the next collection clears it.
    sqlsim.steer("SQLPROD01", blocking=None)
    time.sleep(0.2)
    collect(server)
    detail.refresh_from_db()
    assert detail.blockers == []
    assert values(server, "head_blockers")[-1] == 0


def test_deadlocks_per_second_from_the_total_counter(monitored, sqlsim_factory):
    fleet = own(sqlsim_factory, "SQLDEADLOCK01")
    server = monitored("SQLDEADLOCK01", fleet=fleet)
    collect(server)
    fleet.steer("SQLDEADLOCK01", deadlocks_per_minute=6)
    fleet.advance_clock("SQLDEADLOCK01", 120)
    collect(server)
    # 12 deadlocks in 120 s of the instance's clock (plus the instant of the call)
    assert values(server, "deadlocks_sec")[-1] == pytest.approx(0.1, rel=0.05)


def test_space_read_on_its_own_cadence_and_a_volume_filling_up(monitored, sqlsim_factory, settings):
    settings.DBTOOLS_SPACE_INTERVAL_SECONDS = 300
    fleet = own(
        sqlsim_factory, "SQLSPACE01", databases=["master", "tempdb", "model", "msdb", "Sales"]
    )
    server = monitored("SQLSPACE01", fleet=fleet)
    collect(server)
    detail = ServerDetail.objects.get(pk=server.pk)
    first_read = detail.space_collected_at
    assert first_read is not None
    assert {v["volume"] for v in detail.volumes} == {"C:\\", "D:\\", "L:\\"}
    assert all(20 < v["free_percent"] < 100 for v in detail.volumes)
    sales = next(d for d in detail.databases if d["database"] == "Sales")
    assert sales["recovery"] == "FULL" and sales["data_kb"] > 0 and sales["log_kb"] > 0
    assert len(values(server, "volume_free_min_percent")) == 1

    # A minute later: blocking and the rest again, space not (read every 300 s).
    fleet.steer(
        "SQLSPACE01",
        volumes={"D:\\": {"free_percent": 3.5}},
        log_used={"Sales": {"percent": 97, "reuse_wait": "LOG_BACKUP"}},
    )
    minutes_pass(fleet, "SQLSPACE01", server, 1)
    before = detail.collected_at
    detail.refresh_from_db()
    assert detail.space_collected_at == first_read
    # No blocking, no HADR, no space read: the stored detail says it all, nothing is rewritten.
    assert detail.collected_at == before
    assert len(values(server, "volume_free_min_percent")) == 1
    assert len(values(server, "head_blockers")) == 2  # blocking is read every time

    # Five minutes after the first read: read again, and the filling volume and log show.
    minutes_pass(fleet, "SQLSPACE01", server, 3)
    detail.refresh_from_db()
    assert detail.space_collected_at == first_read
    seen = fleet.statements("SQLSPACE01")
    since = seen[-1]["seq"] if seen else 0
    minutes_pass(fleet, "SQLSPACE01", server, 1)
    # Still one round trip, space and jobs included.
    (sent,) = fleet.statements("SQLSPACE01", since=since)
    assert "usp_CollectMetrics" in sent["sql"], sent
    detail.refresh_from_db()
    assert detail.space_collected_at > first_read
    data = next(v for v in detail.volumes if v["volume"] == "D:\\")
    assert data["free_percent"] == 3.5
    assert values(server, "volume_free_min_percent")[-1] == 3.5
    sales = next(d for d in detail.databases if d["database"] == "Sales")
    assert (sales["log_used_percent"], sales["log_reuse_wait"]) == (97, "LOG_BACKUP")
    assert values(server, "log_used_max_percent")[-1] == 97


def test_agent_job_failures_in_the_interval(monitored, sqlsim_factory, settings):
    settings.DBTOOLS_SPACE_INTERVAL_SECONDS = 300
    fleet = own(sqlsim_factory, "SQLAGENT01")
    server = monitored("SQLAGENT01", fleet=fleet)
    collect(server)
    detail = ServerDetail.objects.get(pk=server.pk)
    assert detail.agent_status == "ok"
    assert detail.jobs and all(j["outcome"] == "succeeded" for j in detail.jobs)
    assert values(server, "agent_failed_jobs") == [0]
    assert values(server, "agent_job_failures") == [0]

    job = "DatabaseBackup - USER_DATABASES - LOG"
    fleet.steer("SQLAGENT01", job_failures={"job": job, "count": 3})
    minutes_pass(fleet, "SQLAGENT01", server, 5)
    detail.refresh_from_db()
    failed = detail.jobs[0]  # failed jobs first
    assert (failed["job"], failed["outcome"], failed["failures"]) == (job, "failed", 3)
    assert failed["last_run_at"]
    assert values(server, "agent_failed_jobs")[-1] == 1
    assert values(server, "agent_job_failures")[-1] == 3

    # Counted once: the next read counts only failures after the history row last seen.
    minutes_pass(fleet, "SQLAGENT01", server, 5)
    assert values(server, "agent_job_failures")[-1] == 0
    assert values(server, "agent_failed_jobs")[-1] == 1  # its last run still failed


def test_no_agent_on_express_and_no_msdb_access_are_not_errors(monitored, sqlsim_factory):
    fleet = sqlsim_factory(
        [
            InstanceConfig(name="SQLEXPRESS01", port=0, version=2019, edition="express"),
            InstanceConfig(name="SQLNOMSDB01", port=0, version=2019),
        ]
    )
    fleet.set_permissions("SQLNOMSDB01", SELECT_ON_MSDB=False)
    express = monitored("SQLEXPRESS01", fleet=fleet)
    locked = monitored("SQLNOMSDB01", fleet=fleet)
    collect(express, locked)
    for server, status in ((express, "express"), (locked, "no_permission")):
        server.refresh_from_db()
        assert server.status == "online"
        detail = ServerDetail.objects.get(pk=server.pk)
        assert (detail.agent_status, detail.jobs) == (status, [])
        assert detail.volumes  # the rest of the space read is there
        assert values(server, "agent_failed_jobs") == []  # not a misleading 0


def test_availability_group_replica_falling_behind(monitored, sqlsim):
    plain = monitored("SQLPROD02")
    server = monitored("SQLPROD01")
    collect(plain, server)
    # HADR off, as on most instances: nothing stored, no figures.
    for s in (plain, server):
        detail = ServerDetail.objects.get(pk=s.pk)
        assert (detail.hadr_enabled, detail.availability) == (False, [])
        assert values(s, "ag_redo_queue_kb") == []
    sqlsim.steer(
        "SQLPROD01",
        availability_group={
            "name": "AGSALES",
            "replicas": ["SQLPROD01", "SQLDR01"],
            "databases": ["AppDB"],
            "lagging": {"replica": "SQLDR01", "redo_queue_kb": 812_000, "log_send_queue_kb": 9_500},
        },
    )
    time.sleep(0.2)
    collect(server)
    detail = ServerDetail.objects.get(pk=server.pk)
    assert detail.hadr_enabled
    rows = {(a["replica"], a["role"]): a for a in detail.availability}
    assert rows[("SQLPROD01", "PRIMARY")]["state"] == "SYNCHRONIZED"
    behind = rows[("SQLDR01", "SECONDARY")]
    assert (behind["state"], behind["redo_queue_kb"]) == ("SYNCHRONIZING", 812_000)
    assert values(server, "ag_redo_queue_kb")[-1] == 812_000
    assert values(server, "ag_log_send_queue_kb")[-1] == 9_500
    assert values(server, "ag_unhealthy_replicas")[-1] == 0

    # Data movement suspended: not synchronizing, not healthy.
    sqlsim.steer(
        "SQLPROD01",
        availability_group={
            "name": "AGSALES",
            "replicas": ["SQLPROD01", "SQLDR01"],
            "databases": ["AppDB"],
            "lagging": {"replica": "SQLDR01", "suspended": True, "redo_queue_kb": 900_000},
        },
    )
    time.sleep(0.2)
    collect(server)
    detail.refresh_from_db()
    behind = next(a for a in detail.availability if a["replica"] == "SQLDR01")
    assert (behind["state"], behind["health"]) == ("NOT SYNCHRONIZING", "NOT_HEALTHY")
    assert values(server, "ag_unhealthy_replicas")[-1] == 1


def test_every_figure_is_an_alert_metric():
    names = {
        "deadlocks_sec",
        "longest_block_seconds",
        "head_blockers",
        "blocked_requests",
        "volume_free_min_percent",
        "log_used_max_percent",
        "agent_failed_jobs",
        "agent_job_failures",
        "ag_unhealthy_replicas",
        "ag_redo_queue_kb",
        "ag_log_send_queue_kb",
    }
    assert names <= METRICS.keys()


def test_space_cadence_on_the_instance_clock(settings):
    settings.DBTOOLS_SPACE_INTERVAL_SECONDS = 60  # clamped to 300
    assert extra.space_interval_seconds() == 300
    state = counter_state.CounterState(epoch_ms=1, ms_ticks=1_000_000, space_ms_ticks=1_000_000)
    assert not extra.space_due(state, 60)
    state.ms_ticks += 200_000
    assert not extra.space_due(state, 60)
    state.ms_ticks += 40_000  # the next collection is 300 s after the read, less half an interval
    assert extra.space_due(state, 60)
    state.ms_ticks = 10  # the machine restarted
    assert extra.space_due(state, 60)
    assert extra.space_due(None, 60)
    packed = counter_state.encode(
        counter_state.CounterState(epoch_ms=1, ms_ticks=5, space_ms_ticks=4, job_instance_id=99)
    )
    back = counter_state.decode(packed)
    assert (back.space_ms_ticks, back.job_instance_id) == (4, 99)


def test_manage_py_collect_prints_the_minimum_set(monitored, sqlsim, capsys, tenant_alpha):
    monitored("SQLPROD01")
    sqlsim.steer("SQLPROD01", blocking={"head": 88, "blocked": 2, "wait_seconds": 12})
    call_command("collect", tenant=tenant_alpha.slug, server=["SQLPROD01"])
    out = capsys.readouterr().out
    assert "blocking: 2 blocked behind session 88" in out
    assert "volumes: C:\\" in out
    assert "agent jobs: 5, 0 failed" in out
    assert "availability groups: HADR off" in out


def test_an_older_procedure_is_called_as_before():
    # Servers still on version 11 are called with its two parameters until they are upgraded.
    assert extra.procedure_call(11, None, 5, 60) is None
    assert extra.procedure_call(12, None, 5, 60)[3] == 1  # first call: space and jobs too


def test_alert_templates_for_the_minimum_set_are_valid_rules():
    from alerts.actions import RULE_FIELDS
    from alerts.defaults import TEMPLATES
    from alerts.forms import AlertRuleForm
    from alerts.models import AlertRule

    defaults = {f: getattr(AlertRule(), f, None) for f in RULE_FIELDS}
    mine = [
        t
        for t in TEMPLATES
        if t["metric"] in extra.figures(extra.Extra())
        or t["metric"]
        in {
            "volume_free_min_percent",
            "log_used_max_percent",
            "agent_failed_jobs",
            "ag_unhealthy_replicas",
            "ag_redo_queue_kb",
        }
    ]
    assert len(mine) == 6
    for template in mine:
        data = {k: v for k, v in {**defaults, **template}.items() if v is not None}
        data.pop("server", None)
        form = AlertRuleForm(data)
        assert form.is_valid(), (template["name"], form.errors)


def test_api_detail_before_and_after_collection(monitored, sqlsim, api, admin_user, tenant_alpha):
    server = monitored("SQLPROD01")
    client = api(admin_user, tenant_alpha)
    before = client.get(f"/api/servers/{server.pk}/detail")
    assert before.status_code == 200
    assert before.json()["collected_at"] is None and before.json()["volumes"] == []
    sqlsim.steer("SQLPROD01", blocking={"head": 55, "blocked": 3})
    collect(server)
    body = client.get(f"/api/servers/{server.pk}/detail").json()
    assert body["blockers"][0]["session_id"] == 55
    assert {v["volume"] for v in body["volumes"]} >= {"D:\\", "L:\\"}
    assert body["agent_status"] == "ok" and body["hadr_enabled"] is False
    assert client.get("/api/servers/999999/detail").status_code == 404
    space = client.get(f"/api/servers/{server.pk}/metrics?range=1h&metric=space").json()
    assert any(s["name"] == "volume_free_min_percent" and s["points"] for s in space["series"])


# -- version 13: the DBA review of the version 12 T-SQL (issue 16), each driven by what SQL Server
# does and failing on the version 12 procedure ---------------------------------------------------
def test_a_login_with_no_user_in_msdb_still_collects(monitored, sqlsim_factory):
    # guest disabled in msdb by hardening: a static msdb read raises 916 when the procedure
    # compiles, which no TRY at that level catches: version 12 lost the whole collection.
    fleet = own(sqlsim_factory, "SQLHARDENED01")
    fleet.set_permissions("SQLHARDENED01", ACCESS_MSDB=False)
    server = monitored("SQLHARDENED01", fleet=fleet)
    collect(server)
    server.refresh_from_db()
    assert server.status == "online"
    detail = ServerDetail.objects.get(pk=server.pk)
    assert (detail.agent_status, detail.jobs) == ("no_permission", [])
    assert detail.volumes and values(server, "head_blockers") == [0]


def test_an_msdb_error_is_not_called_a_permission_problem(monitored, sqlsim_factory):
    fleet = own(sqlsim_factory, "SQLMSDBLOCK01")
    fleet.steer("SQLMSDBLOCK01", msdb_error=1222)
    server = monitored("SQLMSDBLOCK01", fleet=fleet)
    collect(server)
    detail = ServerDetail.objects.get(pk=server.pk)
    assert detail.agent_status == "error:1222"
    assert extra.agent_label(detail.agent_status) == (
        "not collected: msdb read failed with error 1222"
    )
    assert values(server, "agent_failed_jobs") == []


def test_last_outcome_survives_the_history_purge_and_a_stopped_agent_shows(
    monitored, sqlsim_factory, settings
):
    settings.DBTOOLS_SPACE_INTERVAL_SECONDS = 300
    fleet = own(sqlsim_factory, "SQLPURGE01")
    server = monitored("SQLPURGE01", fleet=fleet)
    collect(server)
    # Eleven busy jobs run 100 times each: Agent keeps 1,000 history rows, so the daily jobs'
    # rows are purged. Their last outcome stays in sysjobservers.
    for n in range(11):
        fleet.steer("SQLPURGE01", job_failures={"job": f"Busy {n}", "count": 100, "succeeded": 1})
    fleet.steer("SQLPURGE01", agent_running=False)
    minutes_pass(fleet, "SQLPURGE01", server, 5)
    detail = ServerDetail.objects.get(pk=server.pk)
    daily = next(j for j in detail.jobs if j["job"] == "DatabaseIntegrityCheck - USER_DATABASES")
    assert daily["outcome"] == "succeeded" and daily["last_run_at"]
    assert detail.agent_status == "stopped"
    assert "not running" in extra.agent_label(detail.agent_status)
    assert values(server, "agent_failed_jobs")[-1] == 0  # jobs still read


def test_failures_counted_after_msdb_was_rebuilt(monitored, sqlsim_factory, settings):
    settings.DBTOOLS_SPACE_INTERVAL_SECONDS = 300
    fleet = own(sqlsim_factory, "SQLREBUILT01")
    server = monitored("SQLREBUILT01", fleet=fleet)
    fleet.steer("SQLREBUILT01", job_failures={"job": "Nightly", "count": 50, "succeeded": 1})
    collect(server)
    # msdb restored from an empty one: history ids start again below the last one seen.
    fleet.steer("SQLREBUILT01", msdb_rebuilt=True)
    fleet.steer("SQLREBUILT01", job_failures={"job": "Nightly", "count": 2})
    minutes_pass(fleet, "SQLREBUILT01", server, 5)
    assert values(server, "agent_job_failures")[-1] == 2


def test_sub_second_waits_are_no_blocking_and_a_sleeping_head_shows(monitored, sqlsim):
    server = monitored("SQLPROD01")
    sqlsim.steer("SQLPROD01", blocking={"head": 70, "blocked": 3, "wait_seconds": 0.4})
    time.sleep(0.2)
    collect(server)
    detail = ServerDetail.objects.get(pk=server.pk)
    assert detail.blockers == []
    assert values(server, "head_blockers")[-1] == 0
    sqlsim.steer(
        "SQLPROD01",
        blocking={"head": 70, "blocked": 3, "wait_seconds": 95, "idle_seconds": 300},
    )
    time.sleep(0.2)
    collect(server)
    detail.refresh_from_db()
    (head,) = detail.blockers
    assert (head["status"], head["open_transactions"]) == ("sleeping", 1)
    assert head["last_request_end_at"]


def test_a_lock_timeout_on_sys_databases_loses_that_set_only(monitored, sqlsim_factory, capsys):
    fleet = own(sqlsim_factory, "SQLRESTORE01")
    fleet.steer("SQLRESTORE01", lock_timeout=["databases"])
    server = monitored("SQLRESTORE01", fleet=fleet)
    results = collect(server)
    x = results[0].computed.extra
    assert x.set_errors == {"databases": "error:1222"}
    assert x.databases == [] and x.volumes
    server.refresh_from_db()
    assert server.status == "online"  # version 12: query_failed, CPU, waits and I/O lost too
    assert values(server, "head_blockers") == [0]
    assert values(server, "volume_free_min_percent")
    assert values(server, "log_used_max_percent") == []  # not a misleading figure


def test_volume_stats_get_few_files_and_linux_volumes_stay_apart(monitored, sqlsim_factory):
    names = ["master", "tempdb", "model", "msdb"] + [f"Shop{n:03}" for n in range(300)]
    fleet = own(sqlsim_factory, "SQLMANYDB01", databases=names)
    server = monitored("SQLMANYDB01", fleet=fleet)
    collect(server)
    calls = fleet.steer("SQLMANYDB01", linux_volumes=False)["dbtools"]["volume_calls"]
    assert calls <= 100  # version 12: 608, one OS call per file every read
    detail = ServerDetail.objects.get(pk=server.pk)
    assert {v["volume"] for v in detail.volumes} == {"C:\\", "D:\\", "L:\\"}

    linux = own(sqlsim_factory, "SQLLINUX01")
    linux.steer("SQLLINUX01", linux_volumes=True)
    on_linux = monitored("SQLLINUX01", fleet=linux)
    collect(on_linux)
    detail = ServerDetail.objects.get(pk=on_linux.pk)
    assert len(detail.volumes) == 3  # version 12: one row, the NULL mount point
    assert all("no mount point" in v["volume"] for v in detail.volumes)


def test_a_replica_missing_from_one_dmv_is_kept_and_suspension_shows(monitored, sqlsim):
    server = monitored("SQLPROD01")
    sqlsim.steer(
        "SQLPROD01",
        availability_group={
            "name": "AGSALES",
            "replicas": ["SQLPROD01", "SQLDR01", "SQLDR02"],
            "databases": ["AppDB", "Orders"],
            "unknown_state": "SQLDR02",
            "lagging": {"replica": "SQLDR01", "suspended": True, "lag_seconds": 640},
        },
    )
    time.sleep(0.2)
    collect(server)
    detail = ServerDetail.objects.get(pk=server.pk)
    assert {a["replica"] for a in detail.availability} == {"SQLPROD01", "SQLDR01", "SQLDR02"}
    behind = next(a for a in detail.availability if a["replica"] == "SQLDR01")
    assert (behind["suspended"], behind["suspend_reason"]) == (True, "SUSPEND_FROM_USER")
    assert behind["lag_seconds"] == 640 and behind["last_commit_at"]
    # Two databases of one replica are one unhealthy replica.
    assert values(server, "ag_unhealthy_replicas")[-1] == 1

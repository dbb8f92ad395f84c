"""Batched writes, rollups, health thresholds, series and retention on a real tenant database."""

import datetime as dt

import pytest
from django.db import connections
from django.utils import timezone

from core import settings_store
from monitoring import counter_state, health, partitions, retention, store
from monitoring.models import CollectorState, Metric, MetricRollup, ServerSnapshot
from monitoring.rates import compute, parse
from monitoring.tests.factories import result_sets
from servers.models import Server

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


def make_server(name="SQL1", **kw):
    return Server.objects.create(name=name, host="h", username="u", **kw)


def result(server, at, *, cpu=35, avail_kb=4_000_000, ok=True, counters=None):
    if not ok:
        return store.Result(
            server.pk,
            at,
            at + dt.timedelta(minutes=1),
            5000.0,
            "offline",
            None,
            "timeout",
            "no answer",
        )
    sets = result_sets(
        at=at, cpu=[(int(at.timestamp()), at, cpu, max(0, 100 - cpu - 5))], avail_kb=avail_kb
    )
    computed = compute(parse(sets), counters or {})
    return store.Result(server.pk, at, at + dt.timedelta(minutes=1), 12.5, "online", computed)


def test_write_stores_metrics_snapshots_and_state_in_one_batch():
    s1, s2 = make_server("SQL1"), make_server("SQL2")
    now = timezone.now().replace(microsecond=0)
    rows = store.write([result(s1, now), result(s2, now, ok=False)])
    assert rows > 5
    assert ServerSnapshot.objects.filter(server_id=s1.pk).count() == 1
    assert not ServerSnapshot.objects.filter(server_id=s2.pk).exists()
    assert Metric.objects.filter(server_id=s1.pk).count() >= 5
    st1, st2 = CollectorState.objects.get(pk=s1.pk), CollectorState.objects.get(pk=s2.pk)
    assert st1.last_success_at == now
    assert counter_state.decode(st1.counters).ms_ticks == 1_000_000
    assert st2.last_success_at is None
    assert st2.consecutive_failures == 1
    assert st2.last_error_kind == "timeout"
    s1.refresh_from_db()
    s2.refresh_from_db()
    assert (s1.status, s2.status) == ("online", "offline")
    # A second failure counts up; a success resets.
    store.write([result(s2, now + dt.timedelta(minutes=1), ok=False)])
    assert CollectorState.objects.get(pk=s2.pk).consecutive_failures == 2


def test_rollups_match_raw_averages():
    server = make_server()
    base = timezone.now().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    values = [10, 20, 30, 40, 90]
    for i, cpu in enumerate(values):
        store.write([result(server, base + dt.timedelta(minutes=i), cpu=cpu)])
    cpu_type = store.metric_type_ids(connections["tenant_alpha"].alias)["cpu_percent"]
    rollup = MetricRollup.objects.get(server_id=server.pk, metric_type_id=cpu_type)
    raw = list(
        Metric.objects.filter(server_id=server.pk, metric_type_id=cpu_type).values_list(
            "value", flat=True
        )
    )
    assert rollup.samples == len(raw) == 5
    assert rollup.total / rollup.samples == pytest.approx(sum(raw) / len(raw)) == 38
    assert (rollup.minimum, rollup.maximum) == (10, 90)
    # The same batch written again (a reply lost after the commit) adds no rows and counts
    # nothing twice in the rollups.
    assert store.write([result(server, base, cpu=10)]) == 0
    rollup.refresh_from_db()
    assert (rollup.samples, rollup.total) == (5, 190)


@pytest.mark.parametrize(
    ("cpu", "avail_kb", "expected"),
    [
        (35, 8_000_000, "healthy"),
        (85, 8_000_000, "warning"),
        (97, 8_000_000, "critical"),
        (35, 2_000_000, "warning"),
        (35, 500_000, "critical"),
    ],
)
def test_health_thresholds(cpu, avail_kb, expected):
    server = make_server()
    store.write([result(server, timezone.now(), cpu=cpu, avail_kb=avail_kb)])
    [h] = health.fleet_health()
    assert h["status"] == expected
    assert h["cpu"] == cpu


def test_health_thresholds_come_from_tenant_settings():
    server = make_server()
    store.write([result(server, timezone.now(), cpu=60)])
    assert health.fleet_health()[0]["status"] == "healthy"
    settings_store.update({"cpu_warning_percent": 50})
    assert health.fleet_health(server.pk)[0]["status"] == "warning"


def test_health_offline_and_unknown():
    never = make_server("NEVER")
    stale = make_server("STALE")
    failing = make_server("FAILING")
    old = timezone.now() - dt.timedelta(minutes=10)
    store.write([result(stale, old), result(failing, timezone.now(), ok=False)])
    by_name = {h["name"]: h["status"] for h in health.fleet_health()}
    assert by_name == {"NEVER": "unknown", "STALE": "offline", "FAILING": "offline"}
    assert health.summary(health.fleet_health())["offline"] == 2
    assert never.pk


def test_api_health_metrics_and_stats(api, admin_user, tenant_alpha):
    server = make_server()
    now = timezone.now()
    for i in range(3):
        store.write([result(server, now - dt.timedelta(minutes=3 - i), cpu=20 + i)])
    client = api(admin_user, tenant_alpha)
    body = client.get("/api/servers/health").json()
    assert body["summary"]["healthy"] == 1
    assert body["results"][0]["server_id"] == server.pk
    assert client.get(f"/api/servers/{server.pk}/health").json()["status"] == "healthy"
    assert client.get("/api/servers/999999/health").status_code == 404
    r = client.get(f"/api/servers/{server.pk}/metrics?range=1h&metric=cpu")
    assert r.status_code == 200
    cpu = next(s for s in r.json()["series"] if s["name"] == "cpu_percent")
    assert [p[1] for p in cpu["points"]] == [20, 21, 22]
    long = client.get(f"/api/servers/{server.pk}/metrics?range=7d&metric=cpu").json()
    assert long["resolution"] == "5m"
    month = client.get(f"/api/servers/{server.pk}/metrics?range=30d&metric=cpu").json()
    assert month["resolution"] == "30m"
    assert client.get(f"/api/servers/{server.pk}/metrics?range=2y").status_code == 400
    assert client.get(f"/api/servers/{server.pk}/metrics?metric=nope").status_code == 400
    stats = client.get("/api/metrics/stats").json()
    assert stats["snapshots"] == 3
    assert stats["tables"]["metrics"]["partitions"] >= 4


def test_collection_config_api(api, make_user, tenant_alpha):
    server = make_server()
    client = api(make_user("op", tenant_alpha, "operator"), tenant_alpha)
    url = f"/api/servers/{server.pk}/collection-config"
    assert client.get(url).json()["interval_seconds"] == 60
    for bad in (
        {"interval_seconds": 29},
        {"interval_seconds": 3601},
        {"interval_seconds": "x"},
        {"interval_seconds": 60, "metrics_enabled": ["cpu_percent", "bogus"]},
    ):
        r = client.put(url, bad, format="json")
        assert r.status_code == 400
    assert client.get(url).json()["interval_seconds"] == 60
    r = client.put(url, {"interval_seconds": 30, "metrics_enabled": ["cpu_percent"]}, format="json")
    assert r.json()["interval_seconds"] == 30
    assert client.post(f"/api/servers/{server.pk}/collection/stop").json()["enabled"] is False
    assert client.post(f"/api/servers/{server.pk}/collection/start").json()["enabled"] is True
    viewer = api(make_user("vi", tenant_alpha, "viewer"), tenant_alpha)
    assert viewer.put(url, {"interval_seconds": 90}, format="json").status_code == 403


def test_retention_api_bounds(api, admin_user, tenant_alpha):
    client = api(admin_user, tenant_alpha)
    assert client.get("/api/settings/retention").json() == {"metrics_retention_days": 30}
    for bad in (0, 366, "x"):
        r = client.put("/api/settings/retention", {"metrics_retention_days": bad}, format="json")
        assert r.status_code == 400
    r = client.put("/api/settings/retention", {"metrics_retention_days": 7}, format="json")
    assert r.json() == {"metrics_retention_days": 7}


def test_retention_drops_whole_old_partitions(in_tenant):
    server = make_server()
    alias = "tenant_alpha"
    now = timezone.now()
    old_day = (now - dt.timedelta(days=40)).date()
    partitions.ensure(alias, old_day, old_day)
    store.write([result(server, dt.datetime.combine(old_day, dt.time(12), dt.UTC))])
    store.write([result(server, now)])
    assert ServerSnapshot.objects.count() == 2
    out = retention.cleanup()
    assert f"server_snapshots_p{old_day:%Y%m%d}" in out["partitions_dropped"]
    assert f"metrics_p{old_day:%Y%m%d}" in out["partitions_dropped"]
    assert ServerSnapshot.objects.count() == 1
    assert retention.cleanup()["partitions_dropped"] == []


def test_file_io_is_stored_per_database_and_state_stays_small():
    from monitoring.models import FileIoStat

    server = make_server()
    now = timezone.now().replace(microsecond=0)
    files = {
        ("SalesDb", 1): (1000, 8_192_000, 5_000, 400, 3_276_800, 800),
        ("SalesDb", 2): (10, 81_920, 50, 4_000, 32_768_000, 8_000),
        ("QuietDb", 1): (7, 57_344, 10, 3, 24_576, 6),
    }
    waits = {f"WAIT_{i:03d}": (i, i * 1_000, i) for i in range(1, 301)}
    first = compute(parse(result_sets(at=now, waits=waits, files=files)), None)
    store.write([store.Result(server.pk, now, now, 5.0, "online", first)])
    state = CollectorState.objects.get(pk=server.pk).counters
    assert counter_state.decode(state).files["SalesDb"][0] == 2  # two files summed
    assert len(state) < 8_000
    files = {
        ("SalesDb", 1): (1600, 13_107_200, 8_000, 700, 5_734_400, 1_400),
        ("SalesDb", 2): (20, 163_840, 100, 4_300, 35_225_600, 8_300),
        ("QuietDb", 1): (7, 57_344, 10, 3, 24_576, 6),
    }
    at = now + dt.timedelta(seconds=30)
    sets = result_sets(at=at, ms_ticks=1_030_000, waits=waits, files=files, cpu=[])
    second = compute(parse(sets), bytes(state))
    store.write([store.Result(server.pk, at, at, 5.0, "online", second)])
    [row] = FileIoStat.objects.filter(server_id=server.pk)  # nothing for the quiet database
    assert (row.database_name, row.reads, row.writes) == ("SalesDb", 610, 600)
    assert row.read_latency_ms == pytest.approx(3_050 / 610, abs=0.001)
    assert row.interval_ms == 30_000


def test_upgrade_folds_per_file_io_rows_into_per_database_rows():
    import importlib
    from types import SimpleNamespace

    from monitoring.models import FileIoStat

    migration = importlib.import_module(
        "monitoring.migrations.0005_packed_counter_state_file_io_per_database"
    )
    conn = connections["tenant_alpha"]
    at = timezone.now().replace(microsecond=0) - dt.timedelta(days=3)
    with conn.cursor() as cur:  # the table as version 0004 left it, with per-file rows
        cur.execute("DROP TABLE file_io_stats")
        cur.execute(migration.PER_FILE)
        partitions.ensure(conn.alias, at.date(), at.date())
        cur.execute(
            """INSERT INTO file_io_stats VALUES
               (1, %(at)s, 'Sales', 1, 'ROWS', 10, 0, 100, 0, 2.0, NULL, 60000),
               (1, %(at)s, 'Sales', 2, 'LOG', 30, 5, 300, 50, 4.0, 1.0, 60000),
               (1, %(at)s, 'Quiet', 1, 'ROWS', 0, 0, 0, 0, NULL, NULL, 60000)""",
            {"at": at},
        )
    migration.forward(None, SimpleNamespace(connection=conn))
    rows = {r.database_name: r for r in FileIoStat.objects.using(conn.alias).all()}
    assert set(rows) == {"Sales", "Quiet"}
    sales = rows["Sales"]
    assert (sales.reads, sales.writes, sales.bytes_read, sales.bytes_written) == (40, 5, 400, 50)
    assert sales.read_latency_ms == pytest.approx(3.5)  # weighted by reads: (10*2 + 30*4) / 40
    assert (sales.write_latency_ms, sales.collected_at) == (1.0, at)
    assert rows["Quiet"].read_latency_ms is None


def test_activity_is_kept_a_year_by_default_and_90_days_when_chosen(in_tenant):
    from core import activity, settings_store
    from core.models import ActivityLog

    now = timezone.now()
    for age in (10, 100, 400):
        entry = activity.record("server.created", "server", age, f"S{age}")
        ActivityLog.objects.filter(pk=entry.pk).update(created_at=now - dt.timedelta(days=age))
    assert settings_store.get("activity_retention_days") == 365
    assert retention.cleanup(now)["activity_rows_deleted"] == 1  # the 400-day-old entry
    settings_store.update({"activity_retention_days": 90})
    assert retention.cleanup(now)["activity_rows_deleted"] == 1  # the 100-day-old one
    assert list(
        ActivityLog.objects.filter(action="server.created").values_list("entity_name", flat=True)
    ) == ["S10"]

"""Rates and deltas from cumulative counters, timed by the instance's clock."""

import datetime as dt

import pytest

from monitoring.rates import compute, parse
from monitoring.tests.factories import T0, result_sets


def metrics(computed):
    return {name: value for name, _at, value in computed.metrics}


def test_first_sample_has_gauges_but_no_rates():
    c = compute(parse(result_sets()), {})
    m = metrics(c)
    assert m["cpu_percent"] == 35
    assert m["cpu_other_percent"] == 15
    assert m["memory_percent"] == 75.0
    assert m["connection_count"] == 42
    assert "batch_requests_sec" not in m
    assert c.waits == []
    assert c.snapshot["cpu_percent"] == 35
    assert c.last_cpu_record_id == 1


def test_rates_use_the_instance_clock_not_ours():
    first = compute(parse(result_sets()), {})
    # 30 s later by the instance's clock (ms_ticks), whatever our wall clock says.
    later = result_sets(
        at=T0 + dt.timedelta(seconds=95),
        ms_ticks=1_030_000,
        batch=13_000,
        waits={"PAGEIOLATCH_SH": (160, 8_000, 160), "WRITELOG": (50, 2_000, 10)},
        files={("SalesDb", 1): (1600, 13_107_200, 8_000, 700, 5_734_400, 1_400)},
        cpu=[],
    )
    c = compute(parse(later), first.counters)
    m = metrics(c)
    assert m["batch_requests_sec"] == pytest.approx(100.0)
    assert m["sql_compilations_sec"] == pytest.approx(10.0)
    assert m["wait_time_ms"] == pytest.approx(100.0)  # 3,000 ms of waits in 30 s
    assert c.waits == [("PAGEIOLATCH_SH", 60, 3_000, 60, 30_000)]  # unchanged WRITELOG left out
    assert m["disk_io_reads"] == pytest.approx(20.0)
    assert m["read_latency_ms"] == pytest.approx(5.0)  # 3,000 ms stall / 600 reads
    assert m["write_latency_ms"] == pytest.approx(2.0)
    assert c.files[0][:3] == ("SalesDb", 600, 300)  # per database: the sum of its files
    assert c.snapshot["cpu_percent"] == 35  # no new ring-buffer record: the last one holds


def test_counter_reset_discards_the_delta():
    first = compute(parse(result_sets(batch=50_000)), {})
    restarted = result_sets(ms_ticks=5_000, batch=100, waits={"PAGEIOLATCH_SH": (1, 10, 0)})
    c = compute(parse(restarted), first.counters)
    m = metrics(c)
    assert "batch_requests_sec" not in m
    assert "wait_time_ms" not in m
    assert c.waits == []
    # ...and the next sample after the restart has rates again.
    after = compute(parse(result_sets(ms_ticks=15_000, batch=1_100)), c.counters)
    assert metrics(after)["batch_requests_sec"] == pytest.approx(100.0)


def test_gap_over_36_hours_discards_the_delta():
    first = compute(parse(result_sets()), {})
    much_later = result_sets(ms_ticks=1_000_000 + 37 * 3600 * 1000, batch=20_000)
    assert "batch_requests_sec" not in metrics(compute(parse(much_later), first.counters))


def test_each_cpu_record_is_kept():
    cpu = [(7, T0 - dt.timedelta(minutes=2), 60, 20), (8, T0 - dt.timedelta(minutes=1), 40, 30)]
    c = compute(parse(result_sets(cpu=cpu)), {})
    cpu_points = [(at, v) for name, at, v in c.metrics if name == "cpu_percent"]
    assert [v for _at, v in cpu_points] == [60, 40]
    assert c.last_cpu_record_id == 8


def test_cpu_records_not_on_a_100_base_or_incomplete():
    """Some hardware writes ProcessUtilization on a base of 100 per NUMA node (it shows: SQL and
    idle add up to over 100), and some records lack ProcessUtilization or SystemIdle: scale the
    first, drop the others (a NULL is not 0 % SQL and 100 % other), never show a clamped 100."""
    minute = dt.timedelta(minutes=1)
    cpu = [
        (5, T0 - 4 * minute, 150, 20),
        (6, T0 - 3 * minute, None, 50),
        (7, T0 - 2 * minute, 40, None),
        (8, T0 - minute, 60, 30),
    ]
    c = compute(parse(result_sets(cpu=cpu, numa_nodes=2)), {})
    sql = [v for name, _at, v in c.metrics if name == "cpu_percent"]
    other = [v for name, _at, v in c.metrics if name == "cpu_other_percent"]
    assert sql == [75, 60]  # 150 on a base of 200; 60 + 30 idle fits a base of 100
    assert other == [5, 10]
    assert c.last_cpu_record_id == 8  # the dropped records are not asked for again
    # Past what the NUMA nodes explain: no reading rather than a false 100 %.
    c = compute(parse(result_sets(cpu=[(9, T0, 250, 0)], numa_nodes=2)), {})
    assert "cpu_percent" not in metrics(c) and c.snapshot["cpu_percent"] is None


def test_disabled_metric_types_are_not_stored():
    c = compute(parse(result_sets()), {}, enabled={"cpu_percent"})
    assert set(metrics(c)) == {"cpu_percent"}


def test_short_result_is_an_error():
    with pytest.raises(ValueError, match="result sets"):
        parse(result_sets()[:3])


def test_restart_asks_for_every_cpu_record_again():
    first = compute(parse(result_sets()), {})
    assert first.last_cpu_record_id == 1
    after_restart = compute(parse(result_sets(ms_ticks=5_000, cpu=[])), first.counters)
    assert after_restart.last_cpu_record_id == 0
    assert after_restart.snapshot["cpu_percent"] is None  # the old reading no longer holds


def test_another_replica_behind_the_listener_is_a_new_epoch():
    """After an availability group listener fails over, the same address reaches another
    replica: its counters belong to another instance, even if it started in the same second."""
    first = compute(parse(result_sets(server_name="SQLAG01", batch=10_000)), {})
    waits = {"PAGEIOLATCH_SH": (9_000, 900_000, 100), "WRITELOG": (50, 2_000, 10)}
    busier = result_sets(server_name="SQLAG02", ms_ticks=1_060_000, batch=9_000_000, waits=waits)
    c = compute(parse(busier), first.counters)
    assert "batch_requests_sec" not in metrics(c) and "wait_time_ms" not in metrics(c)
    # The next delta on the new replica is a rate again.
    again = result_sets(server_name="SQLAG02", ms_ticks=1_120_000, batch=9_006_000)
    later = compute(parse(again), c.counters)
    assert metrics(later)["batch_requests_sec"] == pytest.approx(100.0)

"""The packed counter state kept between collections: round trip, and the deltas it drives when
wait types appear, counters go down, or the instance starts a new life."""

import datetime as dt
import json

import pytest

from monitoring import counter_state
from monitoring.counter_state import CounterState
from monitoring.rates import compute, parse
from monitoring.tests.factories import STARTED, T0, result_sets


def metrics(computed):
    return {name: value for name, _at, value in computed.metrics}


def later(seconds=30, **kw):
    return result_sets(
        at=T0 + dt.timedelta(seconds=seconds), ms_ticks=1_000_000 + seconds * 1000, cpu=[], **kw
    )


def test_round_trip_keeps_every_value():
    state = CounterState(
        epoch_ms=1_764_000_000_123,
        ms_ticks=2**40 + 7,
        cpu=(35.0, 15.0),
        counters={"Batch Requests/sec": 2**62, "SQL Compilations/sec": 0},
        waits={f"WAIT_{i:03d}": (i, i * 1000, i * 10) for i in range(300)},
        files={f"Db_{i:03d}": (2, 5, i, 2**50, 3, 4, 5, 6) for i in range(300)}
        | {"Ventes été ✓": (3, 5, 1, 2, 3, 4, 5, 6)},
    )
    blob = counter_state.encode(state)
    assert counter_state.decode(blob) == state
    assert counter_state.decode(memoryview(blob)) == state  # as the database driver may hand it
    assert len(blob) < 12_000  # 300 waits and 300 databases
    empty = CounterState(epoch_ms=None, ms_ticks=0)
    assert counter_state.decode(counter_state.encode(empty)) == empty


@pytest.mark.parametrize(
    "blob",
    [
        None,
        b"",
        b"\x00",
        json.dumps({"ms_ticks": 1}).encode(),
        b"\x01garbage",
        bytes([counter_state.FORMAT + 1]) + b"x",
    ],
)
def test_unreadable_state_is_a_first_sample(blob):
    assert counter_state.decode(blob) is None
    c = compute(parse(later(batch=13_000)), blob)
    assert "cpu_percent" not in metrics(c)  # no new record, and no previous one to carry
    assert "memory_percent" in metrics(c)
    assert "batch_requests_sec" not in metrics(c)
    good = counter_state.encode(CounterState(epoch_ms=None, ms_ticks=0))
    assert counter_state.decode(good[:-3]) is None  # truncated


def test_a_new_wait_type_counts_from_its_second_sample():
    first = compute(parse(result_sets(waits={"WRITELOG": (50, 2_000, 10)})), None)
    waits = {"WRITELOG": (60, 2_600, 12), "PVS_PREALLOCATE": (1, 900_000, 0)}
    second = compute(parse(later(waits=waits)), first.counters)
    assert second.waits == [("WRITELOG", 10, 600, 2, 30_000)]
    waits = {"WRITELOG": (60, 2_600, 12), "PVS_PREALLOCATE": (2, 930_000, 0)}
    third = compute(parse(later(60, waits=waits)), second.counters)
    assert third.waits == [("PVS_PREALLOCATE", 1, 30_000, 0, 30_000)]


def test_a_counter_going_down_is_a_reset_of_that_counter_only():
    files = {
        ("SalesDb", 1): (1000, 8_192_000, 5_000, 400, 3_276_800, 800),
        ("HrDb", 1): (100, 819_200, 500, 40, 327_680, 80),
    }
    waits = {"WRITELOG": (50, 2_000, 10), "LCK_M_X": (5, 9_000, 1)}
    first = compute(parse(result_sets(waits=waits, files=files)), None)
    files = {
        ("SalesDb", 1): (1600, 13_107_200, 8_000, 700, 5_734_400, 1_400),
        ("HrDb", 1): (10, 81_920, 50, 4, 32_768, 8),
    }  # HrDb went offline/online
    waits = {"WRITELOG": (80, 3_500, 20), "LCK_M_X": (1, 100, 0)}  # LCK_M_X cleared
    c = compute(parse(later(waits=waits, files=files)), first.counters)
    assert [w[0] for w in c.waits] == ["WRITELOG"]
    assert [f[0] for f in c.files] == ["SalesDb"]
    assert metrics(c)["disk_io_reads"] == pytest.approx(20.0)  # SalesDb alone
    assert metrics(c)["batch_requests_sec"] is not None


def test_a_file_added_to_a_database_skips_that_database_once():
    first = compute(parse(result_sets()), None)
    files = {
        ("SalesDb", 1): (1600, 13_107_200, 8_000, 700, 5_734_400, 1_400),
        ("SalesDb", 3): (10, 81_920, 50, 4, 32_768, 8),
    }
    c = compute(parse(later(files=files)), first.counters)
    assert c.files == [] and "disk_io_reads" not in metrics(c)


def test_a_new_epoch_discards_every_delta_and_asks_for_all_cpu_records():
    first = compute(parse(result_sets()), None)
    # The service restarted (or a listener failed over to another replica): ms_ticks, the
    # machine's clock, went on; the start time changed and the counters are of another life.
    other_life = later(batch=900_000_000, started=STARTED + dt.timedelta(days=2))
    c = compute(parse(other_life), first.counters)
    assert "batch_requests_sec" not in metrics(c)
    assert "wait_time_ms" not in metrics(c) and c.waits == [] and c.files == []
    assert c.last_cpu_record_id == 0
    assert c.snapshot["cpu_percent"] is None
    assert counter_state.decode(c.counters).epoch_ms == int(
        (STARTED + dt.timedelta(days=2)).timestamp() * 1000
    )
    next_one = later(60, batch=900_003_000, started=STARTED + dt.timedelta(days=2))
    assert metrics(compute(parse(next_one), c.counters))["batch_requests_sec"] == pytest.approx(
        100.0
    )


def test_same_epoch_rates_are_unchanged():
    first = compute(parse(result_sets()), None)
    c = compute(parse(later(batch=13_000)), first.counters)
    assert metrics(c)["batch_requests_sec"] == pytest.approx(100.0)


def test_the_dictionary_is_pinned_to_the_format():
    """States written with one dictionary cannot be read with another: a change to
    monitoring/data/wait_types.txt must come with a new FORMAT (old states then read as
    "no previous sample" instead of garbage)."""
    import hashlib

    pinned = {1: "e82033292709d2f8b75e0f52794df9d9745aff53a5708d603e9e3e5b482159e4"}
    assert hashlib.sha256(counter_state._ZDICT).hexdigest() == pinned[counter_state.FORMAT]
    assert b"PAGEIOLATCH_SH" in counter_state._ZDICT

"""Frozen copy of monitoring/collect.py before the packed counter state (JSON state, per-file
I/O rows), kept only so bench/counter_state.py can measure before against after.

From the collection procedure's result sets to rows worth storing.

Pure functions, no database: `parse` reads the seven result sets of `DbTools.usp_CollectMetrics`
(in the order the procedure returns them), `compute` turns cumulative counters into rates and
deltas against the previous sample, timed by the instance's own clock (`ms_ticks`, `sample_ms`),
and discards any delta across a counter reset or a gap over 36 hours.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

MAX_GAP_MS = 36 * 3600 * 1000
TOP_WAITS = 10
PER_SECOND_COUNTERS = {
    "Batch Requests/sec": "batch_requests_sec",
    "SQL Compilations/sec": "sql_compilations_sec",
}
RAW_COUNTERS = {"Page life expectancy": "page_life_expectancy"}


@dataclass
class Raw:
    collected_at: dt.datetime
    ms_ticks: int
    cpu: list[tuple[int, dt.datetime, int, int]]  # record_id, event_time, sql, idle
    memory: dict[str, Any]
    connections: dict[str, int]
    counters: dict[str, tuple[int, int]]  # counter_name -> (value, cntr_type)
    waits: dict[str, tuple[int, int, int]]  # wait_type -> (tasks, wait_ms, signal_ms)
    files: dict[str, tuple]  # "db/file_id" -> (db, file_id, type, reads, bytes_r, stall_r,
    #                                               writes, bytes_w, stall_w, sample_ms)


@dataclass
class Computed:
    collected_at: dt.datetime
    metrics: list[tuple[str, dt.datetime, float]] = field(default_factory=list)
    snapshot: dict[str, Any] = field(default_factory=dict)
    waits: list[tuple[str, int, int, int, int]] = field(default_factory=list)
    files: list[tuple] = field(default_factory=list)
    counters: dict[str, Any] = field(default_factory=dict)
    last_cpu_record_id: int | None = None


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def parse(sets: list[list[tuple]]) -> Raw:
    if len(sets) < 7:
        raise ValueError(f"the collection procedure returned {len(sets)} result sets, not 7")
    inst, cpu, mem, conns, perf, waits, files = sets[:7]
    collected_at, ms_ticks = _utc(inst[0][0]), int(inst[0][1])
    m = mem[0] if mem else (None,) * 7
    c = conns[0] if conns else (0, 0, 0, 0)
    return Raw(
        collected_at=collected_at,
        ms_ticks=ms_ticks,
        cpu=[(int(r[0]), _utc(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in cpu],
        memory={"total_kb": m[0], "available_kb": m[1], "state": m[2], "sql_in_use_kb": m[3]},
        connections={
            "connections": int(c[0] or 0),
            "user_sessions": int(c[1] or 0),
            "active_requests": int(c[2] or 0),
            "blocked": int(c[3] or 0),
        },
        counters={str(r[1]): (int(r[3]), int(r[4])) for r in perf},
        waits={str(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in waits},
        files={
            f"{r[1]}/{r[2]}": (
                r[1],
                int(r[2]),
                r[3],
                int(r[5]),
                int(r[6]),
                int(r[7]),
                int(r[8]),
                int(r[9]),
                int(r[10]),
                int(r[12]),
            )
            for r in files
        },
    )


def _delta(now: int, before: int | None) -> int | None:
    if before is None or now < before:
        return None  # first sample, or the counter went down (restart, DBCC SQLPERF clear)
    return now - before


def compute(raw: Raw, previous: dict[str, Any], enabled: set[str] | None = None) -> Computed:
    """`previous` is what the last compute returned as `counters` ({} the first time)."""
    out = Computed(collected_at=raw.collected_at)
    at = raw.collected_at

    def add(name: str, when: dt.datetime, value: float | None) -> None:
        if value is not None and (not enabled or name in enabled):
            out.metrics.append((name, when, float(value)))

    # CPU: every ring-buffer record not seen before (a late poll fills the gap); readings over
    # 100 % happen on some builds and are clamped.
    latest_cpu = None
    for record_id, event_time, sql, idle in raw.cpu:
        sql_cpu = min(max(sql, 0), 100)
        other = min(max(100 - sql_cpu - idle, 0), 100)
        add("cpu_percent", event_time, sql_cpu)
        add("cpu_other_percent", event_time, other)
        latest_cpu = (sql_cpu, other)
        out.last_cpu_record_id = record_id
    restarted = previous.get("ms_ticks") is not None and raw.ms_ticks < previous["ms_ticks"]
    if restarted and not raw.cpu:
        # The ring buffer's record ids start again after a restart: ask for all of them next time.
        out.last_cpu_record_id = 0
    if latest_cpu is None and previous.get("cpu") and not restarted:
        latest_cpu = tuple(previous["cpu"])  # no new record this time: the last one still holds

    total, avail = raw.memory.get("total_kb"), raw.memory.get("available_kb")
    memory_pct = round(100.0 * (total - avail) / total, 2) if total and avail is not None else None
    add("memory_percent", at, memory_pct)
    add("connection_count", at, raw.connections["connections"])
    add("user_sessions", at, raw.connections["user_sessions"])

    prev_ticks = previous.get("ms_ticks")
    elapsed = _delta(raw.ms_ticks, prev_ticks)
    usable = elapsed is not None and 0 < elapsed <= MAX_GAP_MS
    rates: dict[str, float] = {}
    prev_counters = previous.get("counters", {})
    for counter, (value, _type) in raw.counters.items():
        if counter in PER_SECOND_COUNTERS and usable:
            d = _delta(value, prev_counters.get(counter))
            if d is not None:
                rates[PER_SECOND_COUNTERS[counter]] = round(d * 1000.0 / elapsed, 3)
        elif counter in RAW_COUNTERS:
            add(RAW_COUNTERS[counter], at, value)
    for name, value in rates.items():
        add(name, at, value)

    if usable:
        prev_waits = previous.get("waits", {})
        deltas = []
        for wait_type, (tasks, wait_ms, signal_ms) in raw.waits.items():
            before = prev_waits.get(wait_type)
            if before is None:
                continue
            dt_, dw, ds = (
                _delta(tasks, before[0]),
                _delta(wait_ms, before[1]),
                _delta(signal_ms, before[2]),
            )
            if None in (dt_, dw, ds) or dw == 0:
                continue
            deltas.append((wait_type, dt_, dw, ds, elapsed))
        deltas.sort(key=lambda w: w[2], reverse=True)
        out.waits = deltas[:TOP_WAITS]
        add("wait_time_ms", at, round(sum(w[2] for w in deltas) * 1000.0 / elapsed, 3))

    prev_files = previous.get("files", {})
    reads = writes = stall_r = stall_w = 0
    any_file = False
    for key, now in raw.files.items():
        before = prev_files.get(key)
        if before is None:
            continue
        interval = _delta(now[9], before[9])
        parts = [_delta(now[i], before[i]) for i in (3, 4, 5, 6, 7, 8)]
        if not interval or interval > MAX_GAP_MS or None in parts:
            continue
        n_r, b_r, s_r, n_w, b_w, s_w = parts
        out.files.append(
            (
                now[0],
                now[1],
                now[2],
                n_r,
                n_w,
                b_r,
                b_w,
                round(s_r / n_r, 3) if n_r else None,
                round(s_w / n_w, 3) if n_w else None,
                interval,
            )
        )
        reads, writes, stall_r, stall_w = reads + n_r, writes + n_w, stall_r + s_r, stall_w + s_w
        any_file = True
    if any_file and usable:
        add("disk_io_reads", at, round(reads * 1000.0 / elapsed, 3))
        add("disk_io_writes", at, round(writes * 1000.0 / elapsed, 3))
        add("read_latency_ms", at, round(stall_r / reads, 3) if reads else 0.0)
        add("write_latency_ms", at, round(stall_w / writes, 3) if writes else 0.0)

    out.snapshot = {
        "cpu_percent": latest_cpu[0] if latest_cpu else None,
        "cpu_other_percent": latest_cpu[1] if latest_cpu else None,
        "memory_percent": memory_pct,
        "connection_count": raw.connections["connections"],
        "batch_requests_sec": rates.get("batch_requests_sec"),
    }
    out.counters = {
        "ms_ticks": raw.ms_ticks,
        "counters": {k: v for k, (v, _t) in raw.counters.items() if k in PER_SECOND_COUNTERS},
        "waits": {k: list(v) for k, v in raw.waits.items()},
        "files": {k: list(v) for k, v in raw.files.items()},
        "cpu": list(latest_cpu) if latest_cpu else None,
    }
    return out

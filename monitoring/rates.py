"""From the collection procedure's result sets to rows worth storing.

Pure functions, no database: `parse` reads the seven result sets of `DbTools.usp_CollectMetrics`
(in the order the procedure returns them; sets 8 to 13 of version 12 go to `monitoring.extra`),
`compute` turns cumulative counters into rates and deltas against the previous sample, timed by
the instance's own clock (`ms_ticks`, `sample_ms`), and discards any delta across a counter
reset, a new epoch of the instance (another start time) or a gap over 36 hours. The previous
sample comes in and goes out packed (`counter_state`).
File I/O is kept per database (the sum of its files): per-file rows cost hundreds of rows per
collection on a large instance and nothing reads them per file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from monitoring import counter_state, extra
from monitoring.counter_state import CounterState

MAX_GAP_MS = 36 * 3600 * 1000
TOP_WAITS = 10
PER_SECOND_COUNTERS = {
    "Batch Requests/sec": "batch_requests_sec",
    "SQL Compilations/sec": "sql_compilations_sec",
    "Number of Deadlocks/sec": "deadlocks_sec",  # the Locks object's _Total instance
}
RAW_COUNTERS = {
    "Page life expectancy": "page_life_expectancy",
    "Memory Grants Pending": "memory_grants_pending",
}
# Memory Manager counters in KB, stored in MB
MEMORY_COUNTERS_KB = {
    "Total Server Memory (KB)": "sql_memory_mb",
    "Target Server Memory (KB)": "sql_target_memory_mb",
}


# -- rows as the procedure returns them (column order of its SELECTs) ---------------------------
class InstanceRow(NamedTuple):
    collected_at: dt.datetime
    ms_ticks: int
    sqlserver_start_time: dt.datetime | None = None
    cpu_count: int | None = None
    physical_memory_kb: int | None = None
    committed_kb: int | None = None
    committed_target_kb: int | None = None
    numa_nodes: int | None = None  # since version 5
    server_name: str | None = None  # @@SERVERNAME, since version 9


class CpuRow(NamedTuple):
    record_id: int
    event_time: dt.datetime
    sql_cpu: int | None
    system_idle: int | None
    record_ms_ticks: int | None = None  # the record's [timestamp], since version 11


class MemoryRow(NamedTuple):
    total_physical_memory_kb: int | None = None
    available_physical_memory_kb: int | None = None
    system_memory_state_desc: str | None = None
    physical_memory_in_use_kb: int | None = None
    memory_utilization_percentage: int | None = None
    process_physical_memory_low: bool | None = None
    process_virtual_memory_low: bool | None = None
    system_low_memory_signal_state: bool | None = None  # since version 8


class ActivityRow(NamedTuple):
    connections: int | None = 0
    user_sessions: int | None = 0
    active_requests: int | None = 0
    blocked_requests: int | None = 0


class CounterRow(NamedTuple):
    object_name: str
    counter_name: str
    instance_name: str
    cntr_value: int
    cntr_type: int


class WaitRow(NamedTuple):
    wait_type: str
    waiting_tasks_count: int
    wait_time_ms: int
    signal_wait_time_ms: int


class DatabaseIoRow(NamedTuple):
    """Since version 3: one row per database, the sums over its files."""

    database_id: int
    database_name: str | None
    files: int
    num_of_reads: int
    num_of_bytes_read: int
    io_stall_read_ms: int
    num_of_writes: int
    num_of_bytes_written: int
    io_stall_write_ms: int
    size_on_disk_bytes: int
    sample_ms: int


class FileRow(NamedTuple):
    """Up to version 2: one row per file (summed per database here)."""

    database_id: int
    database_name: str
    file_id: int
    file_type: str
    physical_name: str
    num_of_reads: int
    num_of_bytes_read: int
    io_stall_read_ms: int
    num_of_writes: int
    num_of_bytes_written: int
    io_stall_write_ms: int
    size_on_disk_bytes: int
    sample_ms: int


# -- what parse keeps and compute returns ---------------------------------------------------------
class CpuRecord(NamedTuple):
    """A SystemHealth record as written: ProcessUtilization and SystemIdle may be missing."""

    record_id: int
    event_time: dt.datetime
    sql: int | None
    idle: int | None
    ms_ticks: int | None = None  # when written, on the instance's ms_ticks clock


class WaitCounters(NamedTuple):
    """Cumulative since the start (or the last DBCC SQLPERF clear)."""

    tasks: int
    wait_ms: int
    signal_ms: int


class FileTotals(NamedTuple):
    """Cumulative I/O of one database: the sums over its files."""

    files: int
    sample_ms: int
    reads: int
    bytes_read: int
    stall_read_ms: int
    writes: int
    bytes_written: int
    stall_write_ms: int


class MetricPoint(NamedTuple):
    name: str
    at: dt.datetime
    value: float


class WaitDelta(NamedTuple):
    wait_type: str
    tasks: int
    wait_ms: int
    signal_ms: int
    interval_ms: int


class FileDelta(NamedTuple):
    """One database's I/O in the interval."""

    database: str
    reads: int
    writes: int
    bytes_read: int
    bytes_written: int
    read_latency_ms: float | None
    write_latency_ms: float | None
    interval_ms: int


_FILE_COUNTERS = FileTotals._fields[2:]  # the cumulative ones


class CpuReading(NamedTuple):
    sql: float
    other: float


@dataclass
class Raw:
    collected_at: dt.datetime
    ms_ticks: int
    cpu: list[CpuRecord]
    memory: dict[str, Any]
    connections: dict[str, int]
    counters: dict[str, tuple[int, int]]  # counter_name -> (value, cntr_type)
    waits: dict[str, WaitCounters]
    files: dict[str, FileTotals]  # per database
    epoch_ms: int | None = None  # sqlserver_start_time: which life of the instance this is
    numa_nodes: int = 1
    server_name: str | None = None  # @@SERVERNAME: with epoch_ms, which instance this is
    extra: extra.Extra | None = None  # sets 8 to 13 (version 12): blocking, AG, space, jobs


@dataclass
class Computed:
    collected_at: dt.datetime
    metrics: list[MetricPoint] = field(default_factory=list)
    snapshot: dict[str, Any] = field(default_factory=dict)
    waits: list[WaitDelta] = field(default_factory=list)
    files: list[FileDelta] = field(default_factory=list)  # databases with I/O in the interval
    counters: bytes = b""  # the packed state to keep for the next collection
    last_cpu_record_id: int | None = None
    last_cpu_ms_ticks: int | None = None  # [timestamp] of the last CPU record seen
    extra: extra.Extra | None = None  # the latest detail (monitoring.extra), when worth storing


def _row[R: tuple](kind: type[R], values: tuple) -> R:
    """A result row as its named tuple: columns a newer procedure adds are ignored, columns an
    older one lacks take their defaults."""
    return kind(*values[: len(kind._fields)])


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def cpu_reading(record: CpuRecord, numa_nodes: int) -> CpuReading | None:
    """SQL Server's and the other processes' CPU % of one SystemHealth record, or None when the
    record cannot be read as percentages: a missing value is not 0 % (nor 100 % other). On a
    base of 100, SQL + idle never exceeds 100; some hardware writes ProcessUtilization on a base
    of 100 per NUMA node, which shows as a sum over 100 and is scaled back (DBA Dash divides by
    the NUMA nodes too). What scaling does not explain is dropped, never clamped to a false 100.
    """
    if record.sql is None or record.idle is None or record.sql < 0 or record.idle < 0:
        return None
    sql = float(record.sql)
    if sql + record.idle > 100 and numa_nodes > 1:
        sql = sql / numa_nodes
    if sql + record.idle > 100:
        return None
    return CpuReading(round(sql, 1), round(100 - sql - record.idle, 1))


def memory_pressure(memory: dict[str, Any], target_kb: int | None) -> float | None:
    """How much of the memory SQL Server leaves to the OS is in use by everything else, in %.

    A dedicated server with max server memory set shows some 90 % of the OS memory in use while
    perfectly healthy, so that figure says nothing. What a DBA acts on is the reserve outside
    SQL Server's target (Target Server Memory) being eaten by other processes: then Windows
    signals low memory and SQL Server gets trimmed. 100 when a low-memory signal is raised, or
    when the target leaves the OS (almost) nothing, i.e. max server memory is not set."""
    total, avail = memory.get("total_kb"), memory.get("available_kb")
    in_use = memory.get("sql_in_use_kb")
    if memory.get("low"):
        return 100.0
    if not total or avail is None or in_use is None or not target_kb:
        return None
    reserve = total - min(target_kb, total)
    if reserve < total * 0.01:
        return 100.0
    others = max(0, total - avail - in_use)
    return round(min(100.0, 100.0 * others / reserve), 2)


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _epoch_ms(value: Any) -> int | None:
    if not isinstance(value, dt.datetime):
        return None
    return int(_utc(value).timestamp() * 1000)


def _files_per_database(rows: list[tuple]) -> dict[str, FileTotals]:
    out: dict[str, FileTotals] = {}
    if rows and len(rows[0]) == len(DatabaseIoRow._fields):
        for row in rows:
            r = _row(DatabaseIoRow, row)
            name = str(r.database_name) if r.database_name is not None else f"db_{r.database_id}"
            out[name] = FileTotals(
                int(r.files),
                int(r.sample_ms),
                int(r.num_of_reads),
                int(r.num_of_bytes_read),
                int(r.io_stall_read_ms),
                int(r.num_of_writes),
                int(r.num_of_bytes_written),
                int(r.io_stall_write_ms),
            )
        return out
    for row in rows:
        r = _row(FileRow, row)
        now = FileTotals(
            1,
            int(r.sample_ms),
            int(r.num_of_reads),
            int(r.num_of_bytes_read),
            int(r.io_stall_read_ms),
            int(r.num_of_writes),
            int(r.num_of_bytes_written),
            int(r.io_stall_write_ms),
        )
        acc = out.get(r.database_name)
        if acc is not None:
            now = FileTotals(
                acc.files + 1,
                max(acc.sample_ms, now.sample_ms),
                *map(sum, zip(acc[2:], now[2:], strict=True)),
            )
        out[str(r.database_name)] = now
    return out


def parse(sets: list[list[tuple]]) -> Raw:
    if len(sets) < 7:
        raise ValueError(f"the collection procedure returned {len(sets)} result sets, not 7")
    inst_rows, cpu, mem, conns, perf, waits, files = sets[:7]
    inst = _row(InstanceRow, inst_rows[0])
    m = _row(MemoryRow, mem[0]) if mem else MemoryRow()
    c = _row(ActivityRow, conns[0]) if conns else ActivityRow()
    return Raw(
        collected_at=_utc(inst.collected_at),
        ms_ticks=int(inst.ms_ticks),
        cpu=[
            CpuRecord(
                int(r.record_id),
                _utc(r.event_time),
                _int_or_none(r.sql_cpu),
                _int_or_none(r.system_idle),
                _int_or_none(r.record_ms_ticks),
            )
            for r in (_row(CpuRow, r) for r in cpu)
        ],
        memory={
            "total_kb": m.total_physical_memory_kb,
            "available_kb": m.available_physical_memory_kb,
            "state": m.system_memory_state_desc,
            "sql_in_use_kb": m.physical_memory_in_use_kb,
            # Windows or SQL Server says memory is low (the signals SQL Server trims on)
            "low": bool(
                m.process_physical_memory_low
                or m.process_virtual_memory_low
                or m.system_low_memory_signal_state
            ),
        },
        connections={
            "connections": int(c.connections or 0),
            "user_sessions": int(c.user_sessions or 0),
            "active_requests": int(c.active_requests or 0),
            "blocked": int(c.blocked_requests or 0),
        },
        counters={
            str(r.counter_name): (int(r.cntr_value), int(r.cntr_type))
            for r in (_row(CounterRow, r) for r in perf)
        },
        waits={
            str(r.wait_type): WaitCounters(
                int(r.waiting_tasks_count), int(r.wait_time_ms), int(r.signal_wait_time_ms)
            )
            for r in (_row(WaitRow, r) for r in waits)
        },
        files=_files_per_database(files),
        epoch_ms=_epoch_ms(inst.sqlserver_start_time),
        numa_nodes=max(1, int(inst.numa_nodes or 1)),
        server_name=str(inst.server_name).upper() if inst.server_name else None,
        extra=extra.parse(sets),
    )


def _delta(now: int, before: int | None) -> int | None:
    if before is None or now < before:
        return None  # first sample, or the counter went down (restart, DBCC SQLPERF clear)
    return now - before


def compute(
    raw: Raw, previous: bytes | memoryview | CounterState | None, enabled: set[str] | None = None
) -> Computed:
    """`previous` is what the last compute returned as `counters` (empty or None the first
    time, or anything unreadable: then this sample only starts the deltas)."""
    out = Computed(collected_at=raw.collected_at)
    prev = previous if isinstance(previous, CounterState) else counter_state.decode(previous)
    # Another life of the instance (a restart) or another instance behind the same address (an
    # availability group listener after failover): counters of another epoch are never
    # subtracted, so the first delta of a new epoch is dropped.
    new_epoch = prev is not None and (
        (prev.epoch_ms is not None and raw.epoch_ms is not None and prev.epoch_ms != raw.epoch_ms)
        or (
            prev.server_name is not None
            and raw.server_name is not None
            and prev.server_name != raw.server_name
        )
    )
    at = raw.collected_at

    def add(name: str, when: dt.datetime, value: float | None) -> None:
        if value is not None and (not enabled or name in enabled):
            out.metrics.append(MetricPoint(name, when, float(value)))

    # CPU: every ring-buffer record not seen before (a late poll fills the gap); a record that
    # cannot be read is skipped, and not asked for again.
    latest_cpu: CpuReading | None = None
    for record in raw.cpu:
        out.last_cpu_record_id = record.record_id
        out.last_cpu_ms_ticks = record.ms_ticks
        reading = cpu_reading(record, raw.numa_nodes)
        if reading is None:
            continue
        add("cpu_percent", record.event_time, reading.sql)
        add("cpu_other_percent", record.event_time, reading.other)
        latest_cpu = reading
    # ms_ticks counts from the machine's start: it goes down on a reboot only. A restart of the
    # service alone shows as another start time (new_epoch), with record ids starting again.
    restarted = prev is not None and (raw.ms_ticks < prev.ms_ticks or new_epoch)
    if restarted and not raw.cpu:
        # The ring buffer's record ids start again after a restart: ask for all of them next time.
        out.last_cpu_record_id = 0
    if not raw.cpu and prev is not None and raw.ms_ticks >= prev.ms_ticks:
        out.last_cpu_ms_ticks = prev.cpu_ms_ticks  # nothing new: still the last one seen
    if latest_cpu is None and prev is not None and prev.cpu and not restarted:
        latest_cpu = CpuReading(*prev.cpu)  # no new record this time: the last one still holds
    same_instance = not (
        prev is not None
        and prev.server_name is not None
        and raw.server_name is not None
        and prev.server_name != raw.server_name
    )
    kept = extra.apply(
        raw.extra, prev, raw.ms_ticks, same_instance, lambda name, value: add(name, at, value)
    )
    out.extra = raw.extra if kept.write_detail else None
    if new_epoch:
        prev = None  # another life of the instance (restart, failover): nothing to subtract

    total, avail = raw.memory.get("total_kb"), raw.memory.get("available_kb")
    memory_pct = round(100.0 * (total - avail) / total, 2) if total and avail is not None else None
    add("memory_percent", at, memory_pct)  # the OS figure, charted; health reads pressure
    target = raw.counters.get("Target Server Memory (KB)", (None, 0))[0]
    pressure = memory_pressure(raw.memory, target)
    add("memory_pressure_percent", at, pressure)
    add("memory_low", at, int(raw.memory.get("low", False)))
    add("connection_count", at, raw.connections["connections"])
    add("user_sessions", at, raw.connections["user_sessions"])
    add("active_requests", at, raw.connections["active_requests"])
    add("blocked_requests", at, raw.connections["blocked"])

    elapsed = _delta(raw.ms_ticks, prev.ms_ticks if prev else None)
    usable = elapsed is not None and 0 < elapsed <= MAX_GAP_MS
    rates: dict[str, float] = {}
    prev_counters = prev.counters if prev else {}
    for counter, (value, _type) in raw.counters.items():
        if counter in PER_SECOND_COUNTERS and usable:
            d = _delta(value, prev_counters.get(counter))
            if d is not None:
                rates[PER_SECOND_COUNTERS[counter]] = round(d * 1000.0 / elapsed, 3)
        elif counter in RAW_COUNTERS:
            add(RAW_COUNTERS[counter], at, value)
        elif counter in MEMORY_COUNTERS_KB:
            add(MEMORY_COUNTERS_KB[counter], at, round(value / 1024, 1))
    for name, value in rates.items():
        add(name, at, value)

    if usable:
        prev_waits = prev.waits if prev else {}
        deltas = []
        for wait_type, now in raw.waits.items():
            packed = prev_waits.get(wait_type)
            if packed is None:
                continue
            before = WaitCounters(*packed)
            d_tasks, d_wait, d_signal = (
                _delta(now.tasks, before.tasks),
                _delta(now.wait_ms, before.wait_ms),
                _delta(now.signal_ms, before.signal_ms),
            )
            if d_tasks is None or d_wait is None or d_signal is None or d_wait == 0:
                continue
            deltas.append(WaitDelta(wait_type, d_tasks, d_wait, d_signal, elapsed))
        deltas.sort(key=lambda w: w.wait_ms, reverse=True)
        out.waits = deltas[:TOP_WAITS]
        add("wait_time_ms", at, round(sum(w.wait_ms for w in deltas) * 1000.0 / elapsed, 3))

    prev_files = prev.files if prev else {}
    reads = writes = stall_r = stall_w = 0
    any_file = False
    for db, now in raw.files.items():
        packed = prev_files.get(db)
        if packed is None:
            continue
        before = FileTotals(*packed)
        if before.files != now.files:
            continue  # a file added or dropped: no comparable sums
        interval = _delta(now.sample_ms, before.sample_ms)
        parts = [_delta(getattr(now, f), getattr(before, f)) for f in _FILE_COUNTERS]
        if not interval or interval > MAX_GAP_MS or None in parts:
            continue
        n_r, b_r, s_r, n_w, b_w, s_w = parts
        if n_r or n_w:  # a quiet database writes no row
            out.files.append(
                FileDelta(
                    db,
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
        "cpu_percent": latest_cpu.sql if latest_cpu else None,
        "cpu_other_percent": latest_cpu.other if latest_cpu else None,
        # What health compares with the memory thresholds: pressure, not the OS figure.
        "memory_percent": pressure if pressure is not None else memory_pct,
        "connection_count": raw.connections["connections"],
        "batch_requests_sec": rates.get("batch_requests_sec"),
    }
    out.counters = counter_state.encode(
        CounterState(
            epoch_ms=raw.epoch_ms,
            server_name=raw.server_name,
            cpu_ms_ticks=out.last_cpu_ms_ticks,
            ms_ticks=raw.ms_ticks,
            cpu=(float(latest_cpu.sql), float(latest_cpu.other)) if latest_cpu else None,
            counters={k: v for k, (v, _t) in raw.counters.items() if k in PER_SECOND_COUNTERS},
            waits=raw.waits,
            files=raw.files,
            space_ms_ticks=kept.space_ms_ticks,
            job_instance_id=kept.job_instance_id,
            detail_busy=kept.detail_busy,
        )
    )
    return out

"""Batched writes of collection results into the current tenant's database: one transaction and a
handful of set-based statements per batch, whatever the number of servers in it."""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction

from dbtools import tenancy
from monitoring import partitions
from monitoring.metric_types import METRIC_TYPES
from monitoring.models import MetricType
from monitoring.rates import Computed

ROLLUP = "5 minutes"
_local = threading.local()
# Columns of the unnest() of each INSERT below, in its order.
SNAPSHOT_COLUMNS = (
    "server_id",
    "collected_at",
    "status",
    "cpu_percent",
    "cpu_other_percent",
    "memory_percent",
    "connection_count",
    "batch_requests_sec",
    "duration_ms",
)
SNAPSHOT_FLOATS = {
    "cpu_percent",
    "cpu_other_percent",
    "memory_percent",
    "batch_requests_sec",
    "duration_ms",
}
WAIT_COLUMNS = (
    "server_id",
    "collected_at",
    "wait_type",
    "tasks",
    "wait_ms",
    "signal_ms",
    "interval_ms",
)
FILE_COLUMNS = (
    "server_id",
    "collected_at",
    "database",
    "reads",
    "writes",
    "bytes_read",
    "bytes_written",
    "read_latency_ms",
    "write_latency_ms",
    "interval_ms",
)
FILE_FLOATS = {"read_latency_ms", "write_latency_ms"}


@dataclass
class Result:
    server_id: int
    attempted_at: dt.datetime
    next_due_at: dt.datetime
    duration_ms: float
    status: str  # online | degraded | offline
    computed: Computed | None = None
    error_kind: str = ""
    error: str = ""


def metric_type_ids(alias: str) -> dict[str, int]:
    """Name -> id of the metric types, creating any the code knows and the table lacks. Read per
    call (a few rows): ids must never outlive the rows they name."""
    ids = dict(MetricType.objects.using(alias).values_list("name", "id"))
    missing = [(n, u, d) for n, u, d in METRIC_TYPES if n not in ids]
    if missing:
        MetricType.objects.using(alias).bulk_create(
            [MetricType(name=n, unit=u, description=d) for n, u, d in missing],
            ignore_conflicts=True,
        )
        ids = dict(MetricType.objects.using(alias).values_list("name", "id"))
    return ids


def _ensure_partitions(alias: str, now: dt.datetime) -> None:
    seen = getattr(_local, "partitions", None)
    if seen is None:
        seen = _local.partitions = set()
    key = (alias, now.date())
    if key not in seen:
        partitions.ensure_around(alias, now)
        seen.add(key)


def write(results: list[Result]) -> int:
    """Store a batch; returns the number of time-series rows written."""
    if not results:
        return 0
    alias = tenancy.current().alias
    types = metric_type_ids(alias)
    _ensure_partitions(alias, max(r.attempted_at for r in results))
    m_srv, m_type, m_at, m_val = [], [], [], []
    snaps = _Columns(SNAPSHOT_COLUMNS)
    w_rows = _Columns(WAIT_COLUMNS)
    f_rows = _Columns(FILE_COLUMNS)
    details: list[dict[str, Any]] = []
    for r in results:
        c = r.computed
        if c is None:
            continue
        if c.extra is not None:
            details.append(_detail_row(r.server_id, c.collected_at, c.extra))
        for point in c.metrics:
            if point.name in types:
                m_srv.append(r.server_id)
                m_type.append(types[point.name])
                m_at.append(point.at)
                m_val.append(float(point.value))  # psycopg sends a list of one type only
        s = c.snapshot
        snaps.add(
            server_id=r.server_id,
            collected_at=c.collected_at,
            status=r.status,
            cpu_percent=s["cpu_percent"],
            cpu_other_percent=s["cpu_other_percent"],
            memory_percent=s["memory_percent"],
            connection_count=s["connection_count"],
            batch_requests_sec=s["batch_requests_sec"],
            duration_ms=r.duration_ms,
        )
        for wait in c.waits:
            w_rows.add(server_id=r.server_id, collected_at=c.collected_at, **wait._asdict())
        for f in c.files:
            f_rows.add(server_id=r.server_id, collected_at=c.collected_at, **f._asdict())
    rows = 0
    # Arrays go as binary parameters (%b): psycopg quotes every element of a text array through
    # a regular expression, which cost a 5-server batch with hundreds of wait types 25 ms of
    # CPU; the binary form is packed four times faster. No savepoint: the collector calls this
    # inside its own transaction, and a savepoint is two more round trips per batch.
    with (
        transaction.atomic(using=alias, savepoint=False),
        connections[alias].cursor() as cur,
    ):
        if m_srv:
            # One statement: the arrays are sent once, and only rows actually inserted go into
            # the rollups (a batch written twice, say after a lost reply, is not counted twice).
            # Rollups are kept current as data arrives, so long ranges never scan raw rows.
            cur.execute(
                f"""WITH ins AS (
                      INSERT INTO metrics (server_id, metric_type_id, collected_at, value)
                      SELECT * FROM unnest(%b::int[], %b::smallint[], %b::timestamptz[],
                                           %b::float8[])
                      ON CONFLICT DO NOTHING
                      RETURNING server_id, metric_type_id, collected_at, value
                    ), roll AS (
                      INSERT INTO metric_rollups_5m AS r
                        (server_id, metric_type_id, bucket, samples, total, minimum, maximum)
                      SELECT server_id, metric_type_id,
                             date_bin('{ROLLUP}', collected_at, '2000-01-01'), count(*),
                             sum(value), min(value), max(value)
                      FROM ins
                      GROUP BY 1, 2, 3
                      ON CONFLICT (server_id, metric_type_id, bucket) DO UPDATE SET
                        samples = r.samples + excluded.samples,
                        total = r.total + excluded.total,
                        minimum = least(r.minimum, excluded.minimum),
                        maximum = greatest(r.maximum, excluded.maximum)
                    )
                    SELECT count(*) FROM ins""",
                [m_srv, m_type, m_at, m_val],
            )
            rows += cur.fetchone()[0]
        if snaps:
            cur.execute(
                """INSERT INTO server_snapshots (server_id, collected_at, status, cpu_percent,
                     cpu_other_percent, memory_percent, connection_count, batch_requests_sec,
                     duration_ms)
                   SELECT * FROM unnest(%b::int[], %b::timestamptz[], %b::varchar[], %b::float8[],
                     %b::float8[], %b::float8[], %b::int[], %b::float8[], %b::float8[])
                   ON CONFLICT DO NOTHING""",
                snaps.arrays(floats=SNAPSHOT_FLOATS),
            )
            rows += cur.rowcount
        if w_rows:
            cur.execute(
                """INSERT INTO wait_stats (server_id, collected_at, wait_type, waiting_tasks,
                     wait_time_ms, signal_wait_time_ms, interval_ms)
                   SELECT * FROM unnest(%b::int[], %b::timestamptz[], %b::varchar[], %b::int8[],
                     %b::int8[], %b::int8[], %b::int8[])
                   ON CONFLICT DO NOTHING""",
                w_rows.arrays(),
            )
            rows += cur.rowcount
        if f_rows:
            cur.execute(
                """INSERT INTO file_io_stats (server_id, collected_at, database_name, reads,
                     writes, bytes_read, bytes_written, read_latency_ms, write_latency_ms,
                     interval_ms)
                   SELECT * FROM unnest(%b::int[], %b::timestamptz[], %b::varchar[], %b::int8[],
                     %b::int8[], %b::int8[], %b::int8[], %b::float8[], %b::float8[],
                     %b::int8[])
                   ON CONFLICT DO NOTHING""",
                f_rows.arrays(floats=FILE_FLOATS),
            )
            rows += cur.rowcount
        if details:
            _write_details(cur, details)
        _write_state(cur, results)
    return rows


def _detail_row(server_id: int, at: dt.datetime, extra: Any) -> dict[str, Any]:
    space = extra.space_collected
    return {
        "server_id": server_id,
        "collected_at": at.isoformat(),
        "blockers": extra.blockers,
        "hadr_enabled": extra.hadr_enabled,
        "availability": extra.availability,
        # None: not read this time, the stored ones stay
        "space_collected_at": at.isoformat() if space else None,
        "volumes": extra.volumes if space else None,
        "databases": extra.databases if space else None,
        "agent_status": extra.agent_status if space else None,
        "jobs": extra.jobs if space else None,
    }


def _write_details(cur: Any, details: list[dict[str, Any]]) -> None:
    """Upsert each server's latest detail (monitoring.extra) in one statement: the batch goes as
    one JSON document. Space and job columns change only when they were read, so between two
    reads PostgreSQL keeps their (TOASTed) values instead of rewriting them every minute."""
    cur.execute(
        """INSERT INTO server_details AS d (server_id, collected_at, blockers, hadr_enabled,
             availability, space_collected_at, volumes, databases, agent_status, jobs)
           SELECT r.server_id, r.collected_at, r.blockers, r.hadr_enabled, r.availability,
                  r.space_collected_at, coalesce(r.volumes, '[]'), coalesce(r.databases, '[]'),
                  coalesce(r.agent_status, 'not_collected'), coalesce(r.jobs, '[]')
           FROM jsonb_to_recordset(%s::jsonb) AS r(server_id int, collected_at timestamptz,
                blockers jsonb, hadr_enabled bool, availability jsonb,
                space_collected_at timestamptz, volumes jsonb, databases jsonb,
                agent_status varchar, jobs jsonb)
           WHERE EXISTS (SELECT 1 FROM servers s WHERE s.id = r.server_id)
           ON CONFLICT (server_id) DO UPDATE SET
             collected_at = excluded.collected_at, blockers = excluded.blockers,
             hadr_enabled = excluded.hadr_enabled, availability = excluded.availability,
             space_collected_at = coalesce(excluded.space_collected_at, d.space_collected_at),
             volumes = CASE WHEN excluded.space_collected_at IS NULL THEN d.volumes
                            ELSE excluded.volumes END,
             databases = CASE WHEN excluded.space_collected_at IS NULL THEN d.databases
                              ELSE excluded.databases END,
             agent_status = CASE WHEN excluded.space_collected_at IS NULL THEN d.agent_status
                                 ELSE excluded.agent_status END,
             jobs = CASE WHEN excluded.space_collected_at IS NULL THEN d.jobs
                         ELSE excluded.jobs END
           WHERE d.collected_at <= excluded.collected_at""",
        [json.dumps(details)],
    )


class _Columns:
    """Rows gathered column by column, as unnest() takes them."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.values: dict[str, list[Any]] = {n: [] for n in names}

    def add(self, **row: Any) -> None:
        for name in self.names:
            self.values[name].append(row[name])

    def __bool__(self) -> bool:
        return bool(self.values[self.names[0]])

    def arrays(self, floats: set[str] = frozenset()) -> list[list[Any]]:
        return [_floats(self.values[n]) if n in floats else self.values[n] for n in self.names]


def _floats(values: list[Any]) -> list[float | None]:
    """psycopg sends a list as an array of one type: ints and floats mixed are refused."""
    return [None if v is None else float(v) for v in values]


def _write_state(cur: Any, results: list[Result]) -> None:
    ok = [r.computed is not None for r in results]
    cur.execute(
        """INSERT INTO collector_state AS s (server_id, next_due_at, last_attempt_at,
             last_success_at, last_cpu_record_id, counters, consecutive_failures, last_error,
             last_error_kind, last_duration_ms)
           SELECT u.id, u.due, u.at, CASE WHEN u.ok THEN u.at END, u.cpu, coalesce(u.counters,
                  ''::bytea), CASE WHEN u.ok THEN 0 ELSE 1 END, u.err, u.kind, u.ms
           FROM unnest(%b::int[], %b::timestamptz[], %b::timestamptz[], %b::bool[], %b::int8[],
                       %b::bytea[], %b::text[], %b::varchar[], %b::float8[])
                AS u(id, due, at, ok, cpu, counters, err, kind, ms)
           ON CONFLICT (server_id) DO UPDATE SET
             next_due_at = excluded.next_due_at,
             last_attempt_at = excluded.last_attempt_at,
             last_success_at = coalesce(excluded.last_success_at, s.last_success_at),
             last_cpu_record_id = coalesce(excluded.last_cpu_record_id, s.last_cpu_record_id),
             counters = CASE WHEN excluded.last_success_at IS NOT NULL THEN excluded.counters
                             ELSE s.counters END,
             consecutive_failures = CASE WHEN excluded.last_success_at IS NOT NULL THEN 0
                                         ELSE s.consecutive_failures + 1 END,
             last_error = excluded.last_error, last_error_kind = excluded.last_error_kind,
             last_duration_ms = excluded.last_duration_ms""",
        [
            [r.server_id for r in results],
            [r.next_due_at for r in results],
            [r.attempted_at for r in results],
            ok,
            [r.computed.last_cpu_record_id if r.computed else None for r in results],
            # Packed (monitoring.counter_state): a few KB where a JSON document of every wait
            # type and file would be rewritten whole on each collection.
            [r.computed.counters if r.computed else None for r in results],
            [r.error for r in results],
            [r.error_kind for r in results],
            [r.duration_ms for r in results],
        ],
    )
    cur.execute(
        """UPDATE servers SET status = u.status, updated_at = now()
           FROM unnest(%b::int[], %b::varchar[]) AS u(id, status)
           WHERE servers.id = u.id AND servers.status <> u.status""",
        [[r.server_id for r in results], [r.status for r in results]],
    )

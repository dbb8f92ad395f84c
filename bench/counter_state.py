"""The collector's per-server counter state, before (a JSON document of every wait type's and
file's counters, per-file I/O rows) and after (packed bytea, per-database I/O rows).

For sqlsim instances with 5, 50 and 300 databases and ~300 non-zero waits, two collections a
minute apart; prints per collection: the state's size as PostgreSQL stores it
(pg_column_size of jsonb vs bytea, after its own compression), file I/O rows written, and the
CPU of parse + compute + encoding the state (best of repeated runs).

    .venv/bin/python -m bench.counter_state
"""

from __future__ import annotations

import json
import os
import timeit
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from bench import _collect_before as before
from monitoring import rates as after
from sqlsim import dbtools_objects
from sqlsim.instance import InstanceConfig
from sqlsim.server import Instance

PROCEDURE = (
    Path(__file__).resolve().parent.parent / "servers/monitoring_sql/030_collect_metrics.sql"
)


def instance_with_waits(databases: int, target: int = 300) -> Instance:
    excluded = dbtools_objects._benign_filter({"hash": "b", "definition": PROCEDURE.read_text()})
    best = None
    for seed in range(200):
        inst = Instance(
            InstanceConfig(name=f"B{databases}", port=0, databases=databases, seed=seed), None
        )
        n = len(dbtools_objects.metrics(inst).collect(0, excluded)[5].rows)
        if best is None or abs(n - target) < best[0]:
            best = (abs(n - target), inst)
        if abs(n - target) <= 15:
            break
    return best[1]


def samples(inst: Instance) -> tuple[list, list]:
    excluded = dbtools_objects._benign_filter({"hash": "b", "definition": PROCEDURE.read_text()})
    m = dbtools_objects.metrics(inst)
    first = [rs.rows for rs in m.collect(0, excluded)]
    m.advance_clock(60)
    second = [rs.rows for rs in m.collect(0, excluded)]
    return first, second


def cpu_ms(fn) -> float:
    """Best of 15 batches of 20 calls: other processes share the cores, the minimum is the cost."""
    return min(timeit.repeat(fn, number=20, repeat=15)) / 20 * 1000


def stored_sizes(conn: psycopg.Connection, doc: dict, blob: bytes) -> tuple[int, int]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pg_column_size(%s::jsonb), pg_column_size(%s::bytea)", [Jsonb(doc), blob]
        )
        return cur.fetchone()


def main() -> None:
    dsn = os.environ.get("BENCH_PG_DSN", "host=127.0.0.1 user=postgres dbname=postgres")
    print(
        f"{'databases':>9} {'waits':>5} | {'state before':>12} {'after':>7} | "
        f"{'I/O rows before':>15} {'after':>5} | {'CPU before':>10} {'after':>8}"
    )
    with psycopg.connect(dsn) as conn:
        for databases in (5, 50, 300):
            inst = instance_with_waits(databases)
            s1, s2 = samples(inst)

            def run_before(s1=s1, s2=s2):
                prev = before.compute(before.parse(s1), {})
                out = before.compute(before.parse(s2), prev.counters)
                return out, json.dumps(out.counters)  # what Jsonb sends

            def run_after(s1=s1, s2=s2):
                prev = after.compute(after.parse(s1), None)
                return after.compute(after.parse(s2), prev.counters)

            old, _doc = run_before()
            new = run_after()
            # One collection = parse + compute + encode of the second sample against the first.
            prev_old = before.compute(before.parse(s1), {}).counters
            prev_new = after.compute(after.parse(s1), None).counters
            # The previous state is read back from PostgreSQL each time: JSON decoded, or
            # unpacked (inside compute) after.
            doc_old = json.dumps(prev_old)
            t_old = cpu_ms(
                lambda s2=s2, d=doc_old: json.dumps(
                    before.compute(before.parse(s2), json.loads(d)).counters
                )
            )
            t_new = cpu_ms(lambda s2=s2, p=prev_new: after.compute(after.parse(s2), p))
            size_old, size_new = stored_sizes(conn, old.counters, new.counters)
            assert [m for m in old.metrics if m[0] != "cpu_percent"] == [
                m for m in new.metrics if m[0] != "cpu_percent"
            ], "rates differ"
            print(
                f"{databases:>9} {len(s2[5]):>5} | {size_old:>10} B {size_new:>5} B | "
                f"{len(old.files):>15} {len(new.files):>5} | "
                f"{t_old:>7.2f} ms {t_new:>5.2f} ms"
            )


if __name__ == "__main__":
    main()

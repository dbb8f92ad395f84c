"""Alert evaluation benchmark. Prints the time of one evaluation of 20 rules over every server
of a tenant with 100, 500 and 2,000 servers, each with a minute of samples for the last 30
minutes of every collected metric the rules use (the evaluator reads them through the metrics
primary key).

Usage: .venv/bin/python bench/alerts.py [--sizes 100,500,2000] [--runs 15]
"""

import argparse
import time

import _setup  # noqa: F401 - sets up Django
from _setup import drop_tenant, fresh_tenant, summary
from django.db import connections
from django.utils import timezone

from alerts import evaluator
from alerts.models import AlertRule
from dbtools import tenancy
from monitoring import partitions, store
from servers.models import Server

SLUG = "bench-alerts"
METRICS = [
    "cpu_percent",
    "memory_percent",
    "connection_count",
    "batch_requests_sec",
    "page_life_expectancy",
]


def rules() -> None:
    AlertRule.objects.all().delete()
    specs = []
    for i in range(20):
        metric = METRICS[i % len(METRICS)]
        specs.append(
            AlertRule(
                name=f"rule {i}",
                metric=metric,
                operator="gt",
                threshold=50 + i,
                recovery_threshold=40 + i,
                aggregation=["last", "avg", "max", "min"][i % 4],
                window_minutes=5 + i,
                pending_checks=1 + i % 3,
            )
        )
    AlertRule.objects.bulk_create(specs)


def grow(alias: str, target: int) -> None:
    have = Server.objects.count()
    if have < target:
        Server.objects.bulk_create(
            [
                Server(
                    name=f"SQL{n:05}",
                    host=f"10.1.{n // 250}.{n % 250}",
                    username="u",
                    monitoring_status="monitored",
                    status="online",
                )
                for n in range(have, target)
            ]
        )
    now = timezone.now()
    partitions.ensure_around(alias, now)
    ids = store.metric_type_ids(alias)
    with connections[alias].cursor() as cur:
        cur.execute(
            """INSERT INTO metrics (server_id, metric_type_id, collected_at, value)
               SELECT s.id, m, %s - make_interval(mins => k), 100 * random()
               FROM servers s, unnest(%s::int[]) m, generate_series(0, 29) k
               WHERE s.id > %s ON CONFLICT DO NOTHING""",
            [now, [ids[n] for n in METRICS], have],
        )
        cur.execute(
            """INSERT INTO collector_state (server_id, last_attempt_at, last_success_at,
                   counters, consecutive_failures, last_error, last_error_kind)
               SELECT id, %s, %s, ''::bytea, 0, '', '' FROM servers
               ON CONFLICT (server_id) DO UPDATE SET last_success_at = excluded.last_success_at""",
            [now, now],
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,500,2000")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--explain", action="store_true", help="print the plan of the largest size")
    args = ap.parse_args()
    tenant = fresh_tenant(SLUG, "Bench alerts")
    try:
        with tenancy.use_tenant(tenant):
            alias = tenancy.current().alias
            rules()
            for size in [int(s) for s in args.sizes.split(",")]:
                grow(alias, size)
                times = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    result = evaluator.evaluate()
                    times.append((time.perf_counter() - started) * 1000)
                firing = len(result.fired)
                print(
                    f"{size:>5} servers x 20 rules: {summary(times)}; "
                    f"{size * 20} pairs, last run fired {firing}"
                )
            if args.explain:
                explain(alias)
    finally:
        drop_tenant(SLUG)


def explain(alias: str) -> None:
    from core import settings_store

    params = {
        "now": timezone.now(),
        "servers": None,
        "offline_after": settings_store.get("offline_after_seconds"),
    }
    with connections[alias].cursor() as cur:
        cur.execute("SET enable_nestloop = off")
        cur.execute("SET jit = off")
        cur.execute("SET work_mem = '64MB'")
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + evaluator.PAIRS_SQL, params)
        print("\n".join(r[0] for r in cur.fetchall()))
        connections[alias].rollback() if not connections[alias].get_autocommit() else None


if __name__ == "__main__":
    main()

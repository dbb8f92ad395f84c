"""Alert evaluation benchmark. Prints the time of one evaluation of 20 rules over every server
of a tenant with 100, 500 and 2,000 servers, each with a minute of samples for the last 30
minutes of every collected metric the rules use (the evaluator reads them through the metrics
primary key).

Then the end-to-end time from a sample arriving to its webhook being received: in the tenant of
the largest size, made healthy (thresholds no sample reaches), a batch of 50 servers' samples
is written with one breaching a critical rule and evaluated as the collector does after each
write (`alerts.tasks.evaluate_written`: the rules, notification planning, the delivery queued on
commit); a real interactive cluster (`manage.py qcluster`, ORM broker, default workers) delivers
it to an HTTP receiver in this process. Each trial then writes a normal sample, so the alert
resolves before the next one.

The per-batch line is what runs after each collected batch of 50 servers.

Usage: .venv/bin/python bench/alerts.py [--sizes 100,500,2000] [--runs 15] [--e2e 20]
"""

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import _setup  # noqa: F401 - sets up Django
from _setup import drop_tenant, fresh_tenant, summary
from django.db import connections
from django.db.models import F
from django.utils import timezone

from alerts import actions, evaluator, tasks
from alerts.models import Alert, AlertRule, AlertState, Notification
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
        # A running tenant's tables have statistics (autovacuum analyzes them as they fill);
        # without them the planner takes 500 servers for one and the day's samples for 60.
        cur.execute("ANALYZE servers, collector_state, metrics, alert_states, alerts")


ROOT = Path(__file__).resolve().parent.parent
BATCH = 50


class Receiver:
    """Webhook receiver: notes when each firing notification arrives."""

    def __init__(self) -> None:
        self.last = 0.0
        self.event = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                at = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if body["event"] == "firing":
                    outer.last = at
                    outer.event.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def start_interactive() -> subprocess.Popen:
    env = {**os.environ, "Q_CLUSTER_NAME": "interactive", "DBTOOLS_LOG_LEVEL": "WARNING"}
    env.pop("DBTOOLS_REDIS_URL", None)
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=8)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def write_batch(alias: str, ids: list[int], probe: int, probe_value: float) -> None:
    """One collected batch as the collector writes it: a sample of each metric per server
    (the probe server's CPU at `probe_value`), and their collection state."""
    metric_ids = store.metric_type_ids(alias)
    now = timezone.now()
    with connections[alias].cursor() as cur:
        cur.execute(
            """INSERT INTO metrics (server_id, metric_type_id, collected_at, value)
               SELECT s, m, %s, CASE WHEN s = %s AND m = %s THEN %s ELSE 50 * random() END
               FROM unnest(%s::int[]) s, unnest(%s::int[]) m ON CONFLICT DO NOTHING""",
            [now, probe, metric_ids["cpu_percent"], probe_value, ids, list(metric_ids.values())],
        )
        cur.execute(
            "UPDATE collector_state SET last_attempt_at = %s, last_success_at = %s "
            "WHERE server_id = ANY(%s)",
            [now, now, ids],
        )


def end_to_end(alias: str, trials: int) -> None:
    receiver = Receiver()
    # A healthy fleet with one breach: the 20 rules keep being evaluated but their random
    # samples no longer breach, and what the evaluation runs fired is cleared (thousands of
    # firing alerts would make every planning pass read them all).
    AlertRule.objects.update(threshold=F("threshold") + 1000, recovery_threshold=None)
    Alert.objects.all().delete()
    AlertState.objects.all().delete()
    # As autovacuum would after most of a table is deleted: the statistics of the thousands
    # of alerts fired above made planning notifications take a second per batch.
    with connections[alias].cursor() as cur:
        cur.execute("ANALYZE alerts, alert_states, alert_notifications")
    probe_ids = list(Server.objects.order_by("pk").values_list("pk", flat=True)[:BATCH])
    probe = probe_ids[0]
    AlertRule.objects.create(
        name="e2e probe",
        metric="cpu_percent",
        operator="gt",
        threshold=99.5,
        severity="critical",
        scope="server",
        server_id=probe,
        resolve_checks=1,
    )
    actions.create_contact_point(
        {"name": "bench receiver", "url": receiver.url, "min_severity": "critical"},
        acting_user=None,
    )
    worker = start_interactive()
    try:
        time.sleep(6)  # the cluster's start-up is not part of the figure
        totals, evals = [], []
        for _ in range(trials):
            receiver.event.clear()
            started = time.perf_counter()
            write_batch(alias, probe_ids, probe, 100.0)
            tasks.evaluate_written(probe_ids)
            evaluated = time.perf_counter()
            if not receiver.event.wait(30):
                print("  a notification did not arrive within 30 s")
                continue
            totals.append((receiver.last - started) * 1000)
            evals.append((evaluated - started) * 1000)
            time.sleep(1.0)
            write_batch(alias, probe_ids, probe, 10.0)  # back to normal: the alert resolves
            tasks.evaluate_written(probe_ids)
            time.sleep(1.0)
        print(
            f"end to end, sample written -> webhook received ({BATCH} servers per batch, "
            f"{Server.objects.count()} in the tenant, 21 rules): {summary(totals)}"
        )
        print(f"  of which writing the batch, evaluating and planning: {summary(evals)}")
        delivered = Notification.objects.filter(status="delivered").count()
        print(f"  {delivered} notifications delivered by the interactive cluster")
    finally:
        stop(worker)
        receiver.server.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,500,2000")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--e2e", type=int, default=20, help="end-to-end trials (0: none)")
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
                # What the product runs: after each written batch the collector evaluates the
                # servers it just collected (`evaluate_written(server_ids)`); it flushes a
                # tenant's results every second or at 200, so batches are mostly small.
                ids = list(Server.objects.order_by("pk").values_list("pk", flat=True))
                for width in (BATCH, 200):
                    batches = [ids[i : i + width] for i in range(0, len(ids), width)]
                    times = []
                    for n in range(args.runs):
                        started = time.perf_counter()
                        evaluator.evaluate(server_ids=batches[n % len(batches)])
                        times.append((time.perf_counter() - started) * 1000)
                    print(f"{'':>5}   one batch of {width} of them: {summary(times)}")
            if args.explain:
                explain(alias)
                print(f"\nOne batch of {BATCH} servers:")
                explain(
                    alias, list(Server.objects.order_by("pk").values_list("pk", flat=True))[:BATCH]
                )
            if args.e2e:
                end_to_end(alias, args.e2e)
    finally:
        drop_tenant(SLUG)


def explain(alias: str, servers: list[int] | None = None) -> None:
    from core import settings_store

    params = {
        "now": timezone.now(),
        "servers": servers,
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

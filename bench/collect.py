"""Collector benchmark (issue 5). Runs a sqlsim fleet (child process) and the real collector
(`monitoring.collector.run_shard`, as a Django-Q2 shard task runs it) in this process, and prints
per fleet size: collections per second sustained, whether every server kept its 60 s interval
(late = collected more than 5 s after it was due), collector CPU % and resident memory, rows
written per second, and per-collection latency p50/p95.

Every server first gets the monitoring objects deployed (real TDS, full TLS by default), then the
collector runs for --minutes per size. One shard task, so one core of Python at most.

Usage: .venv/bin/python bench/collect.py [--sizes 500,1000,2000,5000] [--minutes 3]
"""

import argparse
import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import _setup
from _setup import drop_tenant, fresh_tenant, pct
from django.conf import settings
from django.db import connections

from dbtools import crypto, tenancy
from monitoring import collector
from servers import deployment
from servers.models import Server
from sqlsim.control import SubprocessFleet
from sqlsim.fleet import make_configs

SLUG = "bench-collect"
LATE_SECONDS = 5


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def add_servers(fleet: SubprocessFleet, names: list[str], encrypt: str) -> list[Server]:
    password = crypto.encrypt("DbTools!2026")
    existing = set(Server.objects.values_list("name", flat=True))
    Server.objects.bulk_create([
        Server(name=n, host="127.0.0.1", port=fleet.port(n), username="dbtools",
               password_encrypted=password, encrypt=encrypt)
        for n in names if n not in existing
    ])  # fmt: skip
    todo = list(Server.objects.exclude(monitoring_status="monitored"))
    slug = tenancy.current().slug

    def deploy(server: Server) -> str:
        with tenancy.use_tenant_slug(slug):
            try:
                return deployment.deploy(server)["monitoring_status"]
            finally:
                connections.close_all()

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(deploy, todo))
    failed = len([o for o in outcomes if o != "monitored"])
    if failed:
        print(f"  warning: {failed} deployments failed")
    return list(Server.objects.all())


def measure(minutes: float) -> dict[str, float]:
    stats = {"late": 0, "max_late": 0.0, "lat": [], "ok": 0, "failed": 0}
    lock = threading.Lock()
    real = collector.collect_server

    def observed(job: collector.Job, alias: str, offline_after: int):
        result = real(job, alias, offline_after)
        late = (result.attempted_at - job.due_at).total_seconds()
        with lock:
            stats["lat"].append(result.duration_ms)
            stats["ok" if result.computed else "failed"] += 1
            if late > LATE_SECONDS:
                stats["late"] += 1
            stats["max_late"] = max(stats["max_late"], late)
        return result

    collector.collect_server = observed
    cpu0, t0 = cpu_seconds(), time.monotonic()
    try:
        totals = collector.run_shard(0, 1, minutes * 60, owner="bench")
    finally:
        collector.collect_server = real
    wall = time.monotonic() - t0
    return {
        "wall": wall, "cpu": (cpu_seconds() - cpu0) / wall * 100, "rows": totals.get("rows", 0),
        **stats,
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="500,1000,2000,5000")
    ap.add_argument("--minutes", type=float, default=3)
    ap.add_argument("--base-port", type=int, default=15000)
    ap.add_argument("--encrypt", default="on", choices=["on", "login", "off"])
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    fleet = SubprocessFleet(make_configs(max(sizes), args.base_port), start_timeout=300)
    tenant = fresh_tenant(SLUG, "Bench Collect")
    print(f"collector concurrency {settings.DBTOOLS_COLLECTOR_CONCURRENCY}, interval 60 s, "
          f"timeout {settings.DBTOOLS_COLLECTOR_TIMEOUT} s, encrypt={args.encrypt}, "
          f"{args.minutes} min per size")  # fmt: skip
    try:
        with tenancy.use_tenant(tenant):
            names = fleet.names
            for size in sizes:
                started = time.monotonic()
                servers = add_servers(fleet, names[:size], args.encrypt)
                print(f"\n{len(servers)} servers (deployed in {time.monotonic() - started:.0f} s)")
                r = measure(args.minutes)
                n = r["ok"] + r["failed"]
                kept = "yes" if r["late"] == 0 and r["failed"] == 0 else "NO"
                rate = n / r["wall"]
                print(f"  collections: {n} ({r['ok']} ok, {r['failed']} failed) in "
                      f"{r['wall']:.0f} s = {rate:.1f}/s (needed {size / 60:.1f}/s)")  # fmt: skip
                print(f"  60 s interval kept: {kept} (late > {LATE_SECONDS} s: {r['late']}, "
                      f"max lateness {r['max_late']:.1f} s)")  # fmt: skip
                print(f"  latency per collection: p50 {pct(r['lat'], 50):.1f} ms, "
                      f"p95 {pct(r['lat'], 95):.1f} ms")  # fmt: skip
                print(f"  rows written: {r['rows'] / r['wall']:.0f}/s; collector CPU "
                      f"{r['cpu']:.0f} % of one core; RSS {rss_mb():.0f} MB")  # fmt: skip
    finally:
        collector.CONNECTIONS.close_all()
        fleet.close()
        drop_tenant(SLUG)
    return 0


if __name__ == "__main__":
    assert _setup
    raise SystemExit(main())

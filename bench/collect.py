"""Collector benchmark (issue 5). Runs a sqlsim fleet (child process) and the real collector
(`monitoring.collector.run_shard`, as a Django-Q2 shard task runs it) in this process, and prints
per fleet size: collections per second sustained, whether every server kept its 60 s interval
(late = collected more than 5 s after it was due), collector CPU % and resident memory, rows
written per second, and per-collection latency p50/p95.

Every server first gets the monitoring objects deployed (real TDS, full TLS by default), then the
collector runs for --minutes per size with one process per shard (DBTOOLS_COLLECTOR_SHARD_SIZE
servers each), as the Django-Q2 workers of one node would.

Usage: .venv/bin/python bench/collect.py [--sizes 500,1000,2000,5000] [--minutes 3]
"""

import argparse
import multiprocessing
import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import _setup
from _setup import drop_tenant, fresh_tenant, pct
from django.conf import settings
from django.db import connections

from dbtools import crypto, tenancy
from monitoring import collector
from monitoring.models import CollectorState
from servers import deployment
from servers.models import Server
from sqlsim.control import SubprocessFleet
from sqlsim.fleet import make_configs

SLUG = "bench-collect"
LATE_SECONDS = 5


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


def shard_process(slug: str, shard: int, shards: int, seconds: float, out: Any) -> None:
    """One shard task, as a Django-Q2 worker process runs it; reports its figures on `out`."""
    connections.close_all()  # never share the parent's sockets after fork
    stats: dict[str, Any] = {"late": 0, "max_late": 0.0, "lat": [], "ok": 0, "failed": 0}
    lock = threading.Lock()
    real = collector.collect_server

    def observed(job: collector.Job, alias: str, offline_after: int):
        result = real(job, alias, offline_after)
        late = (result.attempted_at - job.due_at).total_seconds()
        with lock:
            stats["lat"].append(result.duration_ms)
            stats["ok" if result.computed else "failed"] += 1
            stats["late"] += late > LATE_SECONDS
            stats["max_late"] = max(stats["max_late"], late)
        return result

    collector.collect_server = observed
    with tenancy.use_tenant_slug(slug):
        totals = collector.run_shard(shard, shards, seconds, owner=f"bench-{shard}")
    stats["rows"] = totals.get("rows", 0)
    stats["rss"] = rss_mb()
    out.put(stats)


def measure(minutes: float, shards: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    connections.close_all()
    procs = [ctx.Process(target=shard_process, args=(SLUG, k, shards, minutes * 60, out))
             for k in range(shards)]  # fmt: skip
    t0 = time.monotonic()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    for proc in procs:
        proc.start()
    parts = [out.get(timeout=minutes * 60 + 300) for _ in procs]
    for proc in procs:
        proc.join()
    wall = time.monotonic() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / wall * 100
    merged: dict[str, Any] = {"wall": wall, "cpu": cpu, "lat": [], "rss": [], "late": 0,
                              "max_late": 0.0, "ok": 0, "failed": 0, "rows": 0}  # fmt: skip
    for part in parts:
        merged["lat"] += part["lat"]
        merged["rss"].append(part["rss"])
        merged["max_late"] = max(merged["max_late"], part["max_late"])
        for key in ("late", "ok", "failed", "rows"):
            merged[key] += part[key]
    return merged


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
                shards = collector.shard_count(len(servers))
                # As a fresh collector start: every server due now (then spread by the collector).
                CollectorState.objects.all().delete()
                r = measure(args.minutes, shards)
                n = r["ok"] + r["failed"]
                kept = "yes" if r["late"] == 0 and r["failed"] == 0 else "NO"
                rate = n / r["wall"]
                print(f"  collections: {n} ({r['ok']} ok, {r['failed']} failed) in "
                      f"{r['wall']:.0f} s = {rate:.1f}/s (needed {size / 60:.1f}/s)")  # fmt: skip
                print(f"  60 s interval kept: {kept} (late > {LATE_SECONDS} s: {r['late']}, "
                      f"max lateness {r['max_late']:.1f} s)")  # fmt: skip
                if r["lat"]:
                    print(f"  latency per collection: p50 {pct(r['lat'], 50):.1f} ms, "
                          f"p95 {pct(r['lat'], 95):.1f} ms")  # fmt: skip
                rss = " + ".join(f"{m:.0f}" for m in r["rss"])
                print(f"  {shards} shard task(s); rows written: {r['rows'] / r['wall']:.0f}/s; "
                      f"collector CPU {r['cpu']:.0f} % of one core; RSS {rss} MB")  # fmt: skip
    finally:
        collector.CONNECTIONS.close_all()
        fleet.close()
        drop_tenant(SLUG)
    return 0


if __name__ == "__main__":
    assert _setup
    raise SystemExit(main())

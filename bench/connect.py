"""Connection benchmark: servers.sqlclient (pyodbc + FreeTDS) against a local sqlsim fleet.

    python bench/connect.py [--samples 200] [--seconds 5] [--threads 10] [--instances 20]

Prints p50/p95 of ``test_connection`` with no TLS, login-only TLS and full TLS, then
connect-query-disconnect cycles per second with N threads.  sqlsim runs in a child process
on 127.0.0.1 (free ports); every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from servers import sqlclient
from sqlsim.control import SubprocessFleet
from sqlsim.fleet import make_configs

MODES = [("no TLS", False), ("login-only TLS", "login"), ("full TLS", True)]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


def make_target(fleet: SubprocessFleet, name: str, encrypt: bool | str) -> sqlclient.Target:
    return sqlclient.Target(
        host="127.0.0.1",
        port=fleet.port(name),
        username="dbtools",
        password="DbTools!2026",
        encrypt=encrypt,
    )


def bench_test_connection(
    fleet: SubprocessFleet, names: list[str], encrypt: bool | str, samples: int
) -> list[float]:
    timings = []
    for i in range(samples):
        started = time.perf_counter()
        report = sqlclient.test_connection(make_target(fleet, names[i % len(names)], encrypt))
        timings.append((time.perf_counter() - started) * 1000)
        assert report.ok
    return timings


def bench_cycles(
    fleet: SubprocessFleet,
    names: list[str],
    encrypt: bool | str,
    threads: int,
    seconds: float,
) -> tuple[int, int, float]:
    deadline = time.monotonic() + seconds
    counts = [0] * threads
    errors = [0] * threads

    def worker(idx: int) -> None:
        n = 0
        while time.monotonic() < deadline and n < 1_000_000:
            target = make_target(fleet, names[(idx + n) % len(names)], encrypt)
            try:
                with sqlclient.connect(target, timeout=10) as conn:
                    conn.query("SELECT 1")
                counts[idx] += 1
            except sqlclient.TargetError:
                errors[idx] += 1
            n += 1

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(seconds + 30)
    elapsed = time.monotonic() - started
    return sum(counts), sum(errors), elapsed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--samples", type=int, default=200, help="test_connection calls per TLS mode")
    p.add_argument("--seconds", type=float, default=5.0, help="duration of each cycles run")
    p.add_argument("--threads", type=int, default=10)
    p.add_argument("--instances", type=int, default=20, help="sqlsim instances to spread over")
    args = p.parse_args(argv)

    fleet = SubprocessFleet(make_configs(args.instances, 0))
    try:
        names = fleet.names
        for _, encrypt in MODES:  # warm up: TLS context, driver loading
            sqlclient.test_connection(make_target(fleet, names[0], encrypt))
        print(f"sqlsim: {len(names)} instances in a child process; client: pyodbc + FreeTDS")
        print(f"\ntest_connection ({args.samples} calls each, sequential)")
        print(f"  {'mode':<16} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
        for label, encrypt in MODES:
            t = bench_test_connection(fleet, names, encrypt, args.samples)
            print(
                f"  {label:<16} {percentile(t, 50):>8.1f} {percentile(t, 95):>8.1f} "
                f"{statistics.fmean(t):>8.1f}"
            )
        print(f"\nconnect + SELECT 1 + disconnect, {args.threads} threads, {args.seconds:g} s each")
        print(f"  {'mode':<16} {'cycles/s':>9} {'cycles':>7} {'errors':>7}")
        for label, encrypt in MODES:
            done, errors, elapsed = bench_cycles(fleet, names, encrypt, args.threads, args.seconds)
            print(f"  {label:<16} {done / elapsed:>9.0f} {done:>7} {errors:>7}")
    finally:
        fleet.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

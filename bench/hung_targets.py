"""Hung instances benchmark (issue 8). Prints /api/health latency (p50, p95, max) measured over
about 20 s while 50 clients keep connection tests running against an instance that accepts TCP
connections and never answers, and what became of those tests (timed out after 10 s, or
refused at once with 429 because the bound on such requests was reached).

The web tier is the real one, started as `make run` starts it: gunicorn with the flags of
scripts/run.sh (DBTOOLS_WEB_WORKERS workers x DBTOOLS_WEB_THREADS threads), against the dev
system database, on a free loopback port. The tenant `bench-hung` (a `bench_` database) has ten
operators, each with an API token; the 50 clients use them in turn, and try again after a 429
when its Retry-After says (or after --pause seconds). The health latency of the idle web tier
is measured first, for comparison with the same machine's load. The hung instance is a
sqlsim child process on loopback. `--url` uses a web tier that is already running on the same
system database instead. `--unbounded` lifts the bound (both limits set to 1,000), to see what
it prevents.

Every loop is bounded: the clients stop firing when the window ends (and after at most 200
requests each), the health probe sends at most one request every 100 ms during the window.

Usage: .venv/bin/python bench/hung_targets.py [--clients 50] [--seconds 20] [--pause S] [--url URL]
                                              [--unbounded]
"""

import argparse
import collections
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _setup
from _setup import drop_tenant, fresh_tenant, pct
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from sqlsim.control import SubprocessFleet
from sqlsim.instance import InstanceConfig
from tenants.models import Membership

SLUG = "bench-hung"
USERS = [f"bench-hung-{n}" for n in range(10)]
ROOT = Path(__file__).resolve().parent.parent
MAX_REQUESTS_PER_CLIENT = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(url: str, body: dict | None = None, token: str = "", timeout: float = 30.0):
    """(status, seconds, JSON body or None, Retry-After or None) of one loopback request."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")  # noqa: S310
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Token {token}")
        req.add_header("X-Tenant-Slug", SLUG)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback
            status, raw, retry = resp.status, resp.read(), resp.headers.get("Retry-After")
    except urllib.error.HTTPError as exc:
        status, raw, retry = exc.code, exc.read(), exc.headers.get("Retry-After")
    elapsed = time.perf_counter() - started
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    return status, elapsed, answer, float(retry) if retry else None


def start_web(port: int, unbounded: bool) -> subprocess.Popen:
    """gunicorn as scripts/run.sh starts it, on a loopback port, in its own session."""
    env = dict(os.environ)  # carries the bench settings of _setup (tenant prefix, hosts)
    if unbounded:
        env["DBTOOLS_TARGET_REQUESTS_PER_PROCESS"] = "1000"
        env["DBTOOLS_TARGET_REQUESTS_PER_USER"] = "1000"
    workers = os.environ.get("DBTOOLS_WEB_WORKERS", "3")
    threads = str(settings.DBTOOLS_WEB_THREADS)
    cmd = [
        str(ROOT / ".venv/bin/gunicorn"),
        "dbtools.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        workers,
        "--threads",
        threads,
        "--timeout",
        "60",
        "--graceful-timeout",
        "3",
        "--access-logfile",
        "-",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True
    )
    for _ in range(300):  # up to 30 s for the workers to boot
        try:
            if request(f"http://127.0.0.1:{port}/api/health", timeout=2)[0] == 200:
                return proc
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited while starting")
        time.sleep(0.1)
    stop_web(proc)
    raise RuntimeError("gunicorn did not answer /api/health within 30 s")


def stop_web(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def make_users() -> list[str]:
    """Ten operators of the bench tenant; returns their API tokens."""
    from tenants.models import Tenant

    tenant = Tenant.objects.get(slug=SLUG)
    model = get_user_model()
    model.objects.filter(username__in=USERS).delete()
    tokens = []
    for name in USERS:
        user = model.objects.create_user(name, password=None)
        Membership.objects.create(user=user, tenant=tenant, role="operator")
        tokens.append(Token.objects.create(user=user).key)
    return tokens


def run(
    base: str, port: int, clients: int, seconds: float, pause: float | None, tokens: list[str]
) -> None:
    body = {
        "host": "127.0.0.1",
        "port": port,
        "auth_type": "sql",
        "username": "dbtools",
        "password": "DbTools!2026",
        "encrypt": "off",
    }
    outcomes: collections.Counter[str] = collections.Counter()
    accepted_seconds: list[float] = []
    in_flight = [0, 0]  # now, most at once (tests past the bound, i.e. not refused)
    lock = threading.Lock()
    window_ends = 0.0

    def client(n: int) -> None:
        token = tokens[n % len(tokens)]
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() >= window_ends:
                return
            with lock:
                in_flight[0] += 1
            try:
                status, elapsed, answer, retry = request(
                    base + "/api/servers/test-connection", body, token
                )
            except OSError as exc:
                status, elapsed, answer, retry = f"error {exc.__class__.__name__}", 0, None, None
            with lock:
                in_flight[0] -= 1
                kind = (answer or {}).get("error_kind", "") if status == 400 else ""
                outcomes[f"{status} {kind}".strip()] += 1
                if isinstance(status, int) and status != 429:
                    accepted_seconds.append(elapsed)
            if status == 429:  # try again when told to, or after --pause seconds
                time.sleep(pause if pause is not None else retry or 1.0)

    def probe_health(seconds: float) -> str:
        """p50/p95/max of /api/health, one request sent every 100 ms for ``seconds``.

        Each probe runs in its own thread, so a slow answer does not delay the next probe
        (which would hide how many requests it kept waiting).
        """

        def probe() -> tuple[int, float]:
            try:
                status, elapsed, _, _ = request(base + "/api/health", timeout=30)
            except OSError:  # no answer within 30 s: counted as 30 s and as a failure
                status, elapsed = 0, 30.0
            with lock:
                in_flight[1] = max(in_flight[1], in_flight[0])
            return status, elapsed * 1000

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=int(seconds * 10)) as pool:
            futures = []
            for n in range(int(seconds * 10)):
                time.sleep(max(0.0, started + n * 0.1 - time.monotonic()))
                futures.append(pool.submit(probe))
            results = [f.result() for f in futures]
        health = [ms for _, ms in results]
        failures = sum(status != 200 for status, _ in results)
        return (
            f"p50 {pct(health, 50):.1f} ms, p95 {pct(health, 95):.1f} ms, "
            f"max {max(health):.1f} ms (n={len(health)}, not 200: {failures})"
        )

    for _ in range(30):  # every worker loads its views on its first requests: not measured
        request(base + "/api/health", timeout=30)
    print(f"/api/health, idle web tier, 5 s: {probe_health(5)}")
    window_ends = time.monotonic() + seconds + 2  # 2 s for the tests to pile up first
    workers = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for w in workers:
        w.start()
    time.sleep(2)
    figures = probe_health(seconds)
    for w in workers:
        w.join(60)
    print(f"/api/health during {seconds:.0f} s with {clients} clients testing a hung instance:")
    print(f"  {figures}")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"  machine load average (1, 5, 15 min): {load}")
    print(f"  connection test requests open at once (client side): up to {in_flight[1]}")
    for outcome, count in sorted(outcomes.items()):
        print(f"  test-connection -> {outcome}: {count}")
    if accepted_seconds:
        print(f"  tests that ran took {min(accepted_seconds):.1f}-{max(accepted_seconds):.1f} s")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument(
        "--pause",
        type=float,
        default=None,
        help="seconds a client waits after 429 (default: its Retry-After)",
    )
    ap.add_argument("--url", default="", help="use this running web tier (loopback only)")
    ap.add_argument("--unbounded", action="store_true", help="lift the bound (to compare)")
    args = ap.parse_args()
    if args.url and not args.url.startswith(("http://127.0.0.1", "http://localhost")):
        ap.error("--url must be a loopback address")
    fleet = SubprocessFleet([InstanceConfig(name="SQLHANG01", port=0, hang=True)])
    web = None
    fresh_tenant(SLUG, "Bench Hung Targets")
    try:
        tokens = make_users()
        base = args.url.rstrip("/")
        if not base:
            port = free_port()
            web = start_web(port, args.unbounded)
            base = f"http://127.0.0.1:{port}"
        run(base, fleet.port("SQLHANG01"), args.clients, args.seconds, args.pause, tokens)
    finally:
        if web is not None:
            stop_web(web)
        fleet.close()
        drop_tenant(SLUG)
        get_user_model().objects.filter(username__in=USERS).delete()
    return 0


if __name__ == "__main__":
    assert _setup
    sys.exit(main())

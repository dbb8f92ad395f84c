"""Onboarding benchmark (issue 4). Prints the seconds to onboard N sqlsim instances through
`POST /api/servers` with `validate: true` (each one a real TLS login and probe through pyodbc +
FreeTDS), sequentially and with 8 client threads, then the server list's server-side time
(page and API) with N servers.

sqlsim runs in a child process on loopback ports; DbTools runs in this process through Django's
test client (server-side time, no HTTP).

Usage: .venv/bin/python bench/onboard.py [--servers 500] [--base-port 21000]
"""

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import _setup
from _setup import drop_tenant, fresh_tenant, summary
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client, override_settings
from rest_framework.test import APIClient

from sqlsim.control import SubprocessFleet
from sqlsim.fleet import make_configs

SLUG = "bench-onboard"


def onboard(fleet: SubprocessFleet, names: list[str], user: object, threads: int) -> float:
    def one(name: str) -> None:
        client = APIClient()
        client.force_authenticate(user)
        body = {
            "name": f"{name}-{threads}",
            "host": "127.0.0.1",
            "port": fleet.port(name),
            "auth_type": "sql",
            "username": "dbtools",
            "password": "DbTools!2026",
            "validate": True,
        }
        r = client.post("/api/servers", body, format="json", HTTP_X_TENANT_SLUG=SLUG)
        assert r.status_code == 201, r.content
        connections.close_all()

    started = time.perf_counter()
    if threads == 1:
        for name in names:
            one(name)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, names))
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=500)
    ap.add_argument("--base-port", type=int, default=21000)
    args = ap.parse_args()
    fleet = SubprocessFleet(make_configs(args.servers, args.base_port))
    fresh_tenant(SLUG, "Bench Onboard")
    user = get_user_model().objects.create_superuser("bench-onboard", "b@example.com", "x")
    try:
        names = fleet.names
        seconds = onboard(fleet, names, user, 1)
        print(
            f"onboard {len(names)} servers with validate=true, 1 client: {seconds:.1f} s "
            f"({seconds / len(names) * 1000:.0f} ms each)"
        )
        # Eight clients of one user in this one process: more than the bound on requests that
        # contact instances lets through (per process and per user), which this does not measure.
        with override_settings(
            DBTOOLS_TARGET_REQUESTS_PER_PROCESS=8, DBTOOLS_TARGET_REQUESTS_PER_USER=8
        ):
            seconds = onboard(fleet, names, user, 8)
        print(
            f"onboard {len(names)} servers with validate=true, 8 clients: {seconds:.1f} s "
            f"({len(names) / seconds:.0f} servers/s)"
        )
        page = Client()
        page.force_login(user)
        session = page.session
        session["tenant_slug"] = SLUG
        session.save()
        total = 2 * len(names)
        for label, url, extra in [
            (f"server list page, {total} servers", "/servers/", {}),
            ("server list page, search 'PROD01'", "/servers/?q=PROD01", {}),
            ("server list page, sorted by -name, page 5", "/servers/?ordering=-name&page=5", {}),
            (
                f"GET /api/servers ({total} servers, 50/page)",
                "/api/servers",
                {"HTTP_X_TENANT_SLUG": SLUG},
            ),
        ]:
            page.get(url, **extra)
            timings = []
            for _ in range(30):
                started = time.perf_counter()
                r = page.get(url, **extra)
                timings.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200, (url, r.status_code)
            print(f"  {label:<46} {summary(timings)}")
    finally:
        fleet.close()
        drop_tenant(SLUG)
        get_user_model().objects.filter(username="bench-onboard").delete()
    return 0


if __name__ == "__main__":
    assert _setup
    raise SystemExit(main())

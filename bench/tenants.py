"""Tenant benchmarks (issue 2). Prints:

- seconds to provision one tenant (median of N),
- seconds for `migrate_tenants` over 50 tenants,
- p50/p95 latency of a tenant-scoped API call (GET /api/activity) with requests rotating over the
  50 tenants, through the real middleware, router and per-tenant roles (Django test client, so
  the figures are server-side time without network),
- how many tenant connections one thread holds afterwards.

Runs against the configured PostgreSQL with its own `bench-*` tenants, removed at the end.
Usage: .venv/bin/python bench/tenants.py [--tenants 50] [--provision 10] [--requests 1000]
"""

import argparse
import statistics
import sys
import time

import _setup
from _setup import pct
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from dbtools import tenancy
from tenants import provisioning
from tenants.models import Tenant


def cleanup() -> None:
    for tenant in Tenant.objects.filter(slug__startswith="bench-"):
        provisioning.destroy_tenant_database(tenant.slug)
        tenant.delete()
    get_user_model().objects.filter(username="bench-admin").delete()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=50)
    ap.add_argument("--provision", type=int, default=10)
    ap.add_argument("--requests", type=int, default=1000)
    args = ap.parse_args()
    if not settings.DBTOOLS_TENANT_DB_PREFIX.startswith("bench_"):
        print("refusing to run without a bench_ database prefix", file=sys.stderr)
        return 2
    cleanup()
    try:
        timings = []
        for i in range(args.tenants):
            started = time.perf_counter()
            provisioning.create_tenant(f"bench-{i:03}", f"Bench {i}")
            if i < args.provision:
                timings.append(time.perf_counter() - started)
        print(
            f"provision one tenant: median {statistics.median(timings):.3f} s "
            f"(min {min(timings):.3f}, max {max(timings):.3f}, n={len(timings)})"
        )

        started = time.perf_counter()
        call_command("migrate_tenants", *[f"bench-{i:03}" for i in range(args.tenants)], quiet=True)
        print(
            f"migrate_tenants over {args.tenants} tenants (nothing pending): "
            f"{time.perf_counter() - started:.2f} s"
        )

        admin = get_user_model().objects.create_superuser("bench-admin", "b@example.com", "x")
        client = APIClient()
        client.force_authenticate(admin)
        slugs = [f"bench-{i:03}" for i in range(args.tenants)]
        for slug in slugs:  # warm: aliases registered, first connection made once
            client.get("/api/activity", HTTP_X_TENANT_SLUG=slug)
        latencies = []
        peak = 0
        for n in range(args.requests):
            slug = slugs[n % len(slugs)]
            started = time.perf_counter()
            r = client.get("/api/activity", HTTP_X_TENANT_SLUG=slug)
            latencies.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, r.content
            peak = max(peak, tenancy.open_tenant_connections())
        print(
            f"GET /api/activity rotating over {len(slugs)} tenants, {args.requests} requests: "
            f"p50 {pct(latencies, 50):.1f} ms, p95 {pct(latencies, 95):.1f} ms"
        )
        print(
            f"tenant connections held by the thread: at most {peak} "
            f"(DBTOOLS_TENANT_CONN_KEEP={settings.DBTOOLS_TENANT_CONN_KEEP})"
        )
        hot = slugs[:3]
        latencies = []
        for n in range(args.requests):
            started = time.perf_counter()
            client.get("/api/activity", HTTP_X_TENANT_SLUG=hot[n % 3])
            latencies.append((time.perf_counter() - started) * 1000)
        print(
            f"GET /api/activity over 3 hot tenants (connections reused): "
            f"p50 {pct(latencies, 50):.1f} ms, p95 {pct(latencies, 95):.1f} ms"
        )
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    assert _setup
    sys.exit(main())

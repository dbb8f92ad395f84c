"""Shared set-up for the benchmarks: Django with a `bench_` tenant namespace."""

import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dbtools.settings")
os.environ.setdefault("DBTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("DBTOOLS_TENANT_DB_PREFIX", "bench_dbtools_tenant_")
os.environ.setdefault("DBTOOLS_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

import django

django.setup()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    p50, p95, mean = pct(values, 50), pct(values, 95), statistics.mean(values)
    return f"p50 {p50:.1f} ms, p95 {p95:.1f} ms (n={len(values)}, mean {mean:.1f})"


def fresh_tenant(slug: str, name: str):
    from tenants import provisioning
    from tenants.models import Tenant

    old = Tenant.objects.filter(slug=slug).first()
    if old:
        provisioning.destroy_tenant_database(slug)
        old.delete()
    return provisioning.create_tenant(slug, name)


def drop_tenant(slug: str) -> None:
    from tenants import provisioning
    from tenants.models import Tenant

    provisioning.destroy_tenant_database(slug)
    Tenant.objects.filter(slug=slug).delete()

"""Retention: whole daily partitions past the tenant's metrics retention are dropped;
the activity log is trimmed in batches of 10,000 rows past its own retention."""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from django.db import connections
from django.utils import timezone

from core import settings_store
from core.models import ActivityLog
from dbtools import tenancy
from monitoring import partitions

log = structlog.get_logger(__name__)
BATCH = 10_000


def cleanup(now: dt.datetime | None = None) -> dict[str, Any]:
    """Clean the current tenant. Returns what was removed (also logged)."""
    now = now or timezone.now()
    alias = tenancy.current().alias
    days = settings_store.get("metrics_retention_days")
    cutoff = (now - dt.timedelta(days=days)).date()
    dropped = partitions.drop_older_than(alias, cutoff)
    partitions.ensure_around(alias, now)
    activity_cutoff = now - dt.timedelta(days=settings_store.get("activity_retention_days"))
    activity_deleted = 0
    while True:
        ids = list(
            ActivityLog.objects.filter(created_at__lt=activity_cutoff).values_list("id", flat=True)[
                :BATCH
            ]
        )
        if not ids:
            break
        activity_deleted += ActivityLog.objects.filter(id__in=ids).delete()[0]
    result = {
        "tenant": tenancy.current().slug,
        "retention_days": days,
        "partitions_dropped": dropped,
        "activity_rows_deleted": activity_deleted,
    }
    log.info("retention.cleanup", **result)
    return result


def cleanup_task() -> list[dict[str, Any]]:
    """Daily Django-Q2 task over every tenant that is not deleted."""
    results, _failed = tenancy.run_in_each_tenant(cleanup, failure_event="retention.cleanup_failed")
    return results


def stats() -> dict[str, Any]:
    """Row counts (planner estimates for the big tables), sizes and the date range stored."""
    alias = tenancy.current().alias
    out: dict[str, Any] = {"tables": {}}
    with connections[alias].cursor() as cur:
        for table in partitions.PARTITIONED:
            cur.execute(
                """SELECT count(*), coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint,
                          coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
                   FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                   WHERE i.inhparent = %s::regclass""",
                [table],
            )
            parts, rows, size = cur.fetchone()
            out["tables"][table] = {"partitions": parts, "rows_estimate": rows, "bytes": size}
        cur.execute("SELECT count(*), min(collected_at), max(collected_at) FROM server_snapshots")
        snapshots, first, last = cur.fetchone()
    out["snapshots"] = snapshots
    out["oldest"] = first
    out["newest"] = last
    out["retention_days"] = settings_store.get("metrics_retention_days")
    return out

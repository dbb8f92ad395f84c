"""The dashboard's platform health panel and the group page's metrics section: what monitoring
itself knows (collection timing, the collector slots' heartbeats, the tenant's last backup) and
group-level charts. Registered in `MonitoringConfig.ready()` (see `dbtools.sections`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from dbtools import tenancy
from engine.models import CollectorSlot
from monitoring import collector, health


def platform_health(request: HttpRequest, obj: Any = None) -> dict[str, Any]:
    """Is DbTools itself keeping up: collection on time, collector slots beating and busy, the
    tenant's database backed up. Three small reads (two of the system database)."""
    now = timezone.now()
    lag = health.collection_lag()
    alive = now - dt.timedelta(seconds=collector.SLOT_STALE_SECONDS)
    slots = list(
        CollectorSlot.objects.filter(slot__lt=settings.DBTOOLS_COLLECT_SLOTS).order_by("slot")
    )
    held = [s for s in slots if s.owner and s.heartbeat_at and s.heartbeat_at >= alive]
    # The slots' running counts since their task started: how much they collected and how much
    # of it started late, summed over the slots that beat now.
    collected = sum(int((s.stats or {}).get("collected", 0)) for s in held)
    late = sum(int((s.stats or {}).get("late", 0)) for s in held)
    worst = max((float((s.stats or {}).get("recent_max_late_s", 0)) for s in held), default=0.0)
    # Through the tenant model's relation: the tenants app sits above monitoring.
    tenant = tenancy.tenant_model()(pk=tenancy.current().id)
    backup = (
        tenant.backups.only("created_at", "restore_test_ok", "kind").order_by("-created_at").first()
    )
    backup_age = (now - backup.created_at) if backup else None
    return {
        "lag": lag,
        "slots_total": settings.DBTOOLS_COLLECT_SLOTS,
        "slots_held": len(held),
        "collected": collected,
        "late": late,
        "late_percent": round(100 * late / collected, 1) if collected else None,
        "worst_late_s": round(worst, 1),
        "backup": backup,
        # A tenant backup older than two days means the daily backup schedule is not running.
        "backup_stale": backup_age is not None and backup_age > dt.timedelta(days=2),
    }


def group_metrics(request: HttpRequest, group: Any) -> dict[str, Any]:
    """The group page's metrics section loads its charts on its own (a second request), so the
    page and its live member table never wait for them."""
    return {"url": reverse("groups-metrics", args=[group.pk])}

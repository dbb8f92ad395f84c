"""The platform admin's overview: one row of figures per tenant.

Each tenant's own figures come from its own database, read as its own role: one short connection
per tenant, so the page is for a platform's tens of tenants, not thousands; a tenant whose
database does not answer gets a row saying so instead of breaking the page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import structlog
from django.db.models import Count, Max
from django.utils import timezone

from dbtools import tenancy
from engine.models import DueWork
from tenants.models import Tenant, TenantBackup, TenantMove

log = structlog.get_logger(__name__)
# Collection this long past due means the background work is behind (leases run 30 s).
BEHIND_SECONDS = 120


@dataclass
class Row:
    tenant: Tenant
    users: int = 0
    size: int | None = None
    servers: int | None = None
    last_collection: dt.datetime | None = None
    alerts: int | None = None
    last_activity: dt.datetime | None = None
    work: str = ""  # "ok", "behind", "paused", "idle"
    work_detail: str = ""
    last_backup: TenantBackup | None = None
    proven: TenantBackup | None = None
    move: TenantMove | None = None
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _tenant_figures(row: Row) -> None:
    from alerts.models import Alert
    from core.models import ActivityLog
    from monitoring.models import CollectorState
    from servers.models import Server

    with tenancy.use_tenant(row.tenant) as ctx:
        from django.db import connections

        with connections[ctx.alias].cursor() as cur:
            cur.execute("SELECT pg_database_size(current_database())")
            row.size = cur.fetchone()[0]
        row.servers = Server.objects.alive().count()
        row.last_collection = CollectorState.objects.aggregate(m=Max("last_success_at"))["m"]
        row.alerts = Alert.objects.filter(status=Alert.Status.FIRING).count()
        row.last_activity = ActivityLog.objects.aggregate(m=Max("created_at"))["m"]


def _work_health(row: Row, due: DueWork | None, now: dt.datetime) -> None:
    status = row.tenant.status
    if status != Tenant.Status.ACTIVE:
        row.work, row.work_detail = "paused", f"paused while {status}"
        return
    if due is None or due.due_at is None:
        row.work, row.work_detail = "idle", "nothing due"
        return
    late = (now - due.due_at).total_seconds()
    if late > BEHIND_SECONDS:
        row.work, row.work_detail = "behind", f"collection {int(late)} s overdue"
    else:
        row.work, row.work_detail = "ok", "on time"


def rows(include_deleted: bool = False) -> list[Row]:
    tenants = Tenant.objects.annotate(users=Count("memberships")).order_by("name")
    if not include_deleted:
        tenants = tenants.exclude(status=Tenant.Status.DELETED)
    now = timezone.now()
    dues = {d.tenant_id: d for d in DueWork.objects.filter(kind=DueWork.Kind.COLLECT)}
    out = []
    for tenant in tenants:
        row = Row(tenant=tenant, users=tenant.users)
        row.last_backup = tenant.backups.order_by("-created_at").first()
        row.proven = tenant.backups.filter(restore_test_ok=True).order_by("-created_at").first()
        row.move = tenant.moves.filter(state__in=TenantMove.RUNNING_STATES).first()
        _work_health(row, dues.get(tenant.pk), now)
        if tenant.status != Tenant.Status.DELETED:
            try:
                _tenant_figures(row)
            except Exception as exc:
                log.warning("overview.tenant_unreachable", slug=tenant.slug, error=str(exc))
                row.error = "database does not answer"
                if row.work != "paused":
                    row.work, row.work_detail = "behind", "database does not answer"
        out.append(row)
    return out

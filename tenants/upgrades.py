"""A tenant whose upgrade failed is kept out of service, not half-upgraded in service."""

from __future__ import annotations

import structlog
from django.utils import timezone

from engine import due
from tenants.models import Tenant

log = structlog.get_logger(__name__)


def mark_failed(tenant: Tenant, exc: BaseException) -> None:
    """Take an active tenant out of service: pages and API refuse it with a clear message and
    background work skips it (it claims only active tenants). A suspended tenant stays so."""
    changed = Tenant.objects.filter(pk=tenant.pk, status=Tenant.Status.ACTIVE).update(
        status=Tenant.Status.NEEDS_ATTENTION, updated_at=timezone.now()
    )
    log.error("tenant.upgrade_failed", slug=tenant.slug, error=str(exc), out_of_service=changed)


def mark_migrated(tenant: Tenant) -> bool:
    """Back in service after a successful migration; True when it was out of service."""
    changed = Tenant.objects.filter(pk=tenant.pk, status=Tenant.Status.NEEDS_ATTENTION).update(
        status=Tenant.Status.ACTIVE, updated_at=timezone.now()
    )
    if changed:
        # Its collection was skipped while out of service: due now, collected once per server.
        due.mark(tenant.pk)
        log.info("tenant.back_in_service", slug=tenant.slug)
    return bool(changed)

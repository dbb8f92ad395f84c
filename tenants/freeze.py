"""What a tenant whose writes are frozen for a move answers: reads as usual, writes a 503.

The freeze lasts seconds (logical replication) or the length of a dump (the fallback); clients
retry after Retry-After. The mover also makes the tenant's database role read-only, so a write
that slipped past this check fails in PostgreSQL instead of being lost."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework import exceptions

from tenants.models import Tenant

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
RETRY_AFTER_SECONDS = 5
MESSAGE = "This tenant is being moved to another database server; retry in a few seconds."


class TenantMoving(exceptions.APIException):
    status_code = 503
    default_detail = MESSAGE
    default_code = "tenant_moving"
    wait = RETRY_AFTER_SECONDS  # DRF's handler turns it into a Retry-After header


def is_frozen(tenant: Tenant | None) -> bool:
    return tenant is not None and tenant.status == Tenant.Status.MOVING


def page_response(request: HttpRequest, tenant: Tenant | None) -> HttpResponse | None:
    """For pages: a 503 for a write to a frozen tenant, else None (go on)."""
    if not is_frozen(tenant) or request.method in SAFE_METHODS:
        return None
    response = render(
        request, "tenants/moving.html", {"tenant": tenant, "message": MESSAGE}, status=503
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def check_api_write(tenant: Tenant | None, method: str) -> None:
    """For the API: raise a 503 for a write to a frozen tenant."""
    if is_frozen(tenant) and method not in SAFE_METHODS:
        raise TenantMoving()

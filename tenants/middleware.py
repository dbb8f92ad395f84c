"""The tenant of each page request, chosen in the header's selector and kept in the session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.module_loading import import_string

from dbtools import tenancy
from tenants import access, freeze

SESSION_KEY = "tenant_slug"
# The tenant last chosen in the selector, remembered across sessions (a slug, not a secret).
LAST_TENANT_COOKIE = "dbtools_last_tenant"
BUSIEST_MAX_TENANTS = 20


def _busiest(tenants: list[Any]) -> Any:
    """The active tenant with the most servers: where a new session most likely has work."""
    workload: Callable[[], int] = import_string(settings.DBTOOLS_TENANT_WORKLOAD)

    def servers_in(tenant: Any) -> int:
        try:
            with tenancy.use_tenant(tenant):
                return workload()
        except Exception:  # an unreachable tenant database must not block the landing
            return -1

    active = [t for t in tenants if t.is_active]
    if not active or len(active) > BUSIEST_MAX_TENANTS:
        return None  # a platform admin of many tenants: one count per database is too many
    return max(active, key=servers_in)


# Pages outside any tenant. API views say so themselves (`tenant_scoped = False`): their tenant
# comes from the X-Tenant-Slug header, checked after authentication by the API's permission class.
SYSTEM_PAGE_PREFIXES = ("/admin/", "/accounts/", "/static/", "/tenant/", "/api/", "/favicon")


class TenantMiddleware:
    """Pages: the tenant chosen in the header's selector (kept in the session).

    Whatever tenant a request sets (here or in the API's permission class) is undone when the
    request ends, and idle tenant connections beyond the per-thread budget are closed."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.tenant = None  # type: ignore[attr-defined]
        request.tenant_role = None  # type: ignore[attr-defined]
        token = tenancy._current.set(tenancy._current.get())
        try:
            return self.get_response(request)
        finally:
            tenancy._current.reset(token)
            tenancy.trim_connections()

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if request.path.startswith(SYSTEM_PAGE_PREFIXES) or not request.user.is_authenticated:
            return None
        if getattr(view_func, "tenant_scoped", True) is False:
            return None
        choices = list(access.tenants_for(request.user))
        wanted = request.session.get(SESSION_KEY) or request.COOKIES.get(LAST_TENANT_COOKIE)
        tenant = next((t for t in choices if t.slug == wanted), None)
        if tenant is None or (not tenant.is_active and SESSION_KEY not in request.session):
            # First landing: the tenant last chosen, else the one with the most servers.
            tenant = _busiest(choices) if len(choices) > 1 else None
        if tenant is None:
            tenant = next((t for t in choices if t.is_active), None)
        if tenant is None and choices:
            tenant = choices[0]  # all of the user's tenants are suspended
        if tenant is None:
            return render(request, "no_tenant.html", {"choices": choices}, status=403)
        if not tenant.is_active and not freeze.is_frozen(tenant):
            return render(
                request, "no_tenant.html", {"choices": choices, "suspended": tenant}, status=403
            )
        request.session[SESSION_KEY] = tenant.slug
        activate(request, tenant, access.check_member(request.user, tenant))
        return freeze.page_response(request, tenant)


def activate(request: HttpRequest, tenant: Any, role: str) -> None:
    request.tenant = tenant  # type: ignore[attr-defined]
    request.tenant_role = role  # type: ignore[attr-defined]
    tenancy.activate(tenant)
    structlog.contextvars.bind_contextvars(tenant=tenant.slug)

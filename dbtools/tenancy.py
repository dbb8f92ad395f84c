"""The current tenant, and the database alias that reaches its database.

A request, a task or a command sets the tenant with `use_tenant(...)`; the router then sends every
tenant model to that tenant's alias. Aliases are registered on first use in
`connections.settings` with the tenant's own PostgreSQL role, so even a bug in our code cannot read
another tenant's database: that role has no CONNECT there.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from django.apps import apps
from django.conf import settings
from django.db import connections

log = structlog.get_logger("dbtools.tenancy")

# The only place tenant HTTP requests name their tenant (pages use the session instead).
TENANT_HEADER = "X-Tenant-Slug"


class Tenant(Protocol):
    """What the kernel reads of a tenant (the tenants app's model has it all)."""

    pk: Any
    slug: str
    name: str
    db_name: str
    db_user: str
    db_host: str
    db_port: int
    db_password_encrypted: str


class NoTenantError(RuntimeError):
    """A tenant model was used with no tenant set: we never fall back to the system database."""


@dataclass(frozen=True)
class TenantContext:
    id: int
    slug: str
    name: str
    alias: str


_current: ContextVar[TenantContext | None] = ContextVar("dbtools_tenant", default=None)


def alias_for(slug: str) -> str:
    return f"tenant_{slug}"


def database_name(slug: str) -> str:
    return f"{settings.DBTOOLS_TENANT_DB_PREFIX}{slug}"


def current() -> TenantContext:
    ctx = _current.get()
    if ctx is None:
        raise NoTenantError(
            "No tenant is set: wrap tenant work in dbtools.tenancy.use_tenant(...) "
            "(requests get it from the session or the X-Tenant-Slug header)."
        )
    return ctx


def current_or_none() -> TenantContext | None:
    return _current.get()


def register(tenant: Tenant) -> str:
    """Make sure the tenant's alias exists and points at its database as its own role."""
    from dbtools import crypto

    alias = alias_for(tenant.slug)
    wanted = {
        "NAME": tenant.db_name,
        "USER": tenant.db_user,
        "HOST": tenant.db_host,
        "PORT": str(tenant.db_port),
    }
    existing = connections.settings.get(alias)
    if existing and all(existing.get(k) == v for k, v in wanted.items()):
        return alias
    cfg = copy.deepcopy(connections.settings["default"])
    cfg.update(wanted)
    cfg["PASSWORD"] = crypto.decrypt(tenant.db_password_encrypted)
    cfg["CONN_MAX_AGE"] = settings.DBTOOLS_TENANT_CONN_MAX_AGE
    cfg["CONN_HEALTH_CHECKS"] = True
    cfg["TEST"] = {**cfg.get("TEST", {}), "NAME": tenant.db_name, "MIGRATE": True}
    connections.settings[alias] = cfg
    if existing:
        # Settings changed (a tenant moved servers): drop the stale connection of this thread.
        forget_connection(alias)
    return alias


def unregister(slug: str) -> None:
    alias = alias_for(slug)
    forget_connection(alias)
    connections.settings.pop(alias, None)


def forget_connection(alias: str) -> None:
    if alias in connections.settings:
        conn = connections[alias]
        if conn.in_atomic_block:
            return  # the surrounding transaction (a test's) still needs it
        conn.close()
        with contextlib.suppress(AttributeError):
            del connections[alias]


@contextlib.contextmanager
def use_tenant(tenant: Tenant) -> Iterator[TenantContext]:
    ctx = TenantContext(id=tenant.pk, slug=tenant.slug, name=tenant.name, alias=register(tenant))
    token = _current.set(ctx)
    _touch(ctx.alias)
    try:
        yield ctx
    finally:
        _current.reset(token)
        # Workers and commands hop between tenants: keep their connections bounded too.
        trim_connections()


def tenant_model() -> Any:
    """The tenant registry's model, looked up by name like `get_user_model()`: the kernel works
    with tenants without importing the app that stores them."""
    return apps.get_model(settings.DBTOOLS_TENANT_MODEL)


@contextlib.contextmanager
def use_tenant_slug(slug: str) -> Iterator[TenantContext]:
    """For tasks and commands: look the tenant up in the system database, then use it."""
    tenant = tenant_model().objects.get(slug=slug)
    with use_tenant(tenant) as ctx:
        yield ctx


def run_in_each_tenant[T](
    work: Callable[[], T], *, failure_event: str, active_only: bool = False
) -> tuple[list[T], int]:
    """Run `work` inside every tenant that is not deleted (only the active ones with
    `active_only`), in creation order. One tenant's failure (its database is down, a bug in its
    data) is logged as `failure_event` and does not stop the others.

    Returns the results of the tenants that succeeded and how many failed."""
    model = tenant_model()
    tenants = model.objects.exclude(status=model.Status.DELETED)
    if active_only:
        tenants = tenants.filter(status=model.Status.ACTIVE)
    results: list[T] = []
    failed = 0
    for tenant in tenants.order_by("pk"):
        try:
            with use_tenant(tenant):
                results.append(work())
        except Exception:
            log.exception(failure_event, tenant=tenant.slug)
            failed += 1
    return results, failed


# --- bounded tenant connections -------------------------------------------------------------
# Django keeps one connection per alias per thread. With hundreds of tenants a long-lived worker
# would end up holding one idle connection per tenant it ever served; instead each thread keeps at
# most DBTOOLS_TENANT_CONN_KEEP tenant connections and closes the least recently used ones.

_lru = threading.local()


def _touch(alias: str) -> None:
    order: OrderedDict[str, None] = getattr(_lru, "order", None) or OrderedDict()
    _lru.order = order
    order[alias] = None
    order.move_to_end(alias)


def keep_connections(keep: int | None) -> None:
    """Let this thread keep up to `keep` tenant connections (None: the setting). Collector slots
    visit tenants in turn and write back moments later: a few more kept saves a reconnect."""
    _lru.keep = keep


def pin(alias: str) -> None:
    """This thread will use `alias` again soon (a collector slot's tenant whose results are not
    written yet): close other connections first."""
    _pinned().add(alias)


def unpin(alias: str) -> None:
    _pinned().discard(alias)


def unpin_all() -> None:
    _pinned().clear()


def _pinned() -> set[str]:
    pinned = getattr(_lru, "pinned", None)
    if pinned is None:
        pinned = _lru.pinned = set()
    return pinned


def trim_connections(keep: int | None = None) -> None:
    if keep is None:
        keep = getattr(_lru, "keep", None) or settings.DBTOOLS_TENANT_CONN_KEEP
    order: OrderedDict[str, None] | None = getattr(_lru, "order", None)
    if not order:
        return
    pinned = _pinned()
    while len(order) > keep:
        # The least recently used connection nobody pinned. When every kept one is pinned, the
        # most recently used of them: a slot writes tenants back in about the order it visited
        # them, so the oldest pinned is the next one needed, exactly what least recently used
        # would close.
        alias = next((a for a in order if a not in pinned), None) or next(reversed(order))
        del order[alias]
        if alias in connections.settings:
            conn = connections[alias]
            if conn.connection is not None and not conn.in_atomic_block:
                conn.close()


def open_tenant_connections() -> int:
    """How many tenant connections this thread holds open (for tests and benchmarks)."""
    return sum(
        1
        for conn in connections.all(initialized_only=True)
        if conn.alias != "default" and conn.connection is not None
    )


def atomic():  # noqa: ANN201 - returns Django's Atomic context manager
    """A transaction on the current tenant's database."""
    from django.db import transaction

    return transaction.atomic(using=current().alias)


def activate(tenant: Tenant) -> TenantContext:
    """Set the tenant for the rest of the current request; TenantMiddleware undoes it."""
    ctx = TenantContext(id=tenant.pk, slug=tenant.slug, name=tenant.name, alias=register(tenant))
    _current.set(ctx)
    _touch(ctx.alias)
    return ctx

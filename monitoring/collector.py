"""The collector: runs inside Django-Q2 workers, one task per shard of a tenant's fleet.

`dispatch` (scheduled every minute) makes sure every shard of every active tenant has a task;
a shard task holds a lease on its shard, collects each due server at its interval with a thread
pool (one round trip per server, `DBTOOLS_COLLECTOR_TIMEOUT` seconds at most each), writes the
results in batches as they complete, and hands over when its time is up. A slow or dead server
only ever occupies one pool thread. SIGTERM stops new collections, drains the ones in flight and
writes them.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import signal
import socket
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.db import connections
from django.db.models import F, Q
from django.db.models.functions import Mod
from django.utils import timezone

from core import settings_store
from dbtools import tenancy
from monitoring import collect, store
from monitoring.models import CollectorLease
from servers import actions, sqlclient
from servers.models import Server

log = structlog.get_logger(__name__)
COLLECT_SQL = "EXEC DbTools.usp_CollectMetrics @last_cpu_record_id = ?"
LEASE_SECONDS = 30
# A shard task queued while its predecessor still runs waits this long for the hand-over; the
# dispatch (every minute) queues the successor when the predecessor has under DISPATCH_AHEAD left.
HANDOVER_WAIT = 120
DISPATCH_AHEAD = 90
_stopping = threading.Event()


def _on_sigterm(signum: int, frame: Any) -> None:
    _stopping.set()


def install_signal_handler() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


# -- connections reused across cycles ---------------------------------------------------------
@dataclass
class _Cached:
    conn: sqlclient.SqlConnection
    target: sqlclient.Target
    used: float


class ConnectionCache:
    """One open connection per server per worker process, reused from cycle to cycle; a failed
    one is dropped and the next cycle reconnects. Idle ones close after `idle_seconds`."""

    def __init__(self, idle_seconds: float = 600) -> None:
        self.idle_seconds = idle_seconds
        self._items: dict[tuple[str, int], _Cached] = {}
        self._lock = threading.Lock()

    def get(
        self, key: tuple[str, int], target: sqlclient.Target, timeout: int
    ) -> tuple[sqlclient.SqlConnection, bool]:
        """(connection, reused)."""
        with self._lock:
            item = self._items.pop(key, None)
        if item and item.target == target and not item.conn.closed:
            return item.conn, True
        if item:
            item.conn.close()
        return sqlclient.connect(target, timeout=timeout), False

    def put(self, key: tuple[str, int], conn: sqlclient.SqlConnection) -> None:
        with self._lock:
            self._items[key] = _Cached(conn, conn.target, time.monotonic())

    def prune(self) -> None:
        cutoff = time.monotonic() - self.idle_seconds
        with self._lock:
            stale = [k for k, v in self._items.items() if v.used < cutoff]
            items = [self._items.pop(k) for k in stale]
        for item in items:
            item.conn.close()

    def close_all(self) -> None:
        with self._lock:
            items, self._items = list(self._items.values()), {}
        for item in items:
            item.conn.close()


CONNECTIONS = ConnectionCache()


# -- one server ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    server_id: int
    target: sqlclient.Target
    due_at: dt.datetime
    interval: int
    last_cpu_record_id: int | None
    counters: dict[str, Any]
    enabled: frozenset[str]
    last_success_at: dt.datetime | None


def next_due(job: Job, now: dt.datetime) -> dt.datetime:
    """Keep the cadence; a late collector collects once and carries on, never in a burst.

    After a server's first collection its next one is spread over the interval (by its id), so
    a fleet onboarded at once does not stay a herd that hits the collector in the same second."""
    if job.last_success_at is None and not job.counters:
        spread = (job.server_id * 0.6180339887) % 1.0
        return now + dt.timedelta(seconds=job.interval * (0.5 + spread))
    nxt = job.due_at + dt.timedelta(seconds=job.interval)
    return nxt if nxt > now else now + dt.timedelta(seconds=job.interval)


def collect_server(job: Job, alias: str, offline_after: int) -> store.Result:
    started = time.monotonic()
    attempted = timezone.now()
    key = (alias, job.server_id)
    timeout = settings.DBTOOLS_COLLECTOR_TIMEOUT
    try:
        conn, reused = CONNECTIONS.get(key, job.target, timeout)
        try:
            sets = conn.query_sets(COLLECT_SQL, job.last_cpu_record_id or 0)
        except sqlclient.TargetError as exc:
            conn.close()
            if not reused or isinstance(exc, sqlclient.Timeout):
                raise
            # A kept connection can die quietly (instance restart, failover, idle timeout on a
            # firewall): reconnect once before calling the server down.
            conn = sqlclient.connect(job.target, timeout=timeout)
            try:
                sets = conn.query_sets(COLLECT_SQL, job.last_cpu_record_id or 0)
            except sqlclient.TargetError:
                conn.close()
                raise
        CONNECTIONS.put(key, conn)
        computed = collect.compute(collect.parse(sets), job.counters, set(job.enabled) or None)
        status = Server.Status.ONLINE
        kind = message = ""
    except (sqlclient.TargetError, ValueError) as exc:
        computed = None
        kind = getattr(exc, "kind", "bad_result")
        message = getattr(exc, "message", str(exc))
        reachable = kind in ("permission_missing", "query_failed", "bad_result")
        recent = (
            job.last_success_at
            and (attempted - job.last_success_at).total_seconds() < offline_after
        )
        status = Server.Status.DEGRADED if reachable or recent else Server.Status.OFFLINE
    return store.Result(
        server_id=job.server_id,
        attempted_at=attempted,
        next_due_at=next_due(job, attempted),
        duration_ms=round((time.monotonic() - started) * 1000, 1),
        status=status,
        computed=computed,
        error_kind=kind,
        error=message,
    )


# -- a shard of one tenant ----------------------------------------------------------------------
def collectable() -> Any:
    """Servers with monitoring objects deployed and collection not switched off."""
    return (
        Server.objects.alive()
        .filter(monitoring_status=Server.Monitoring.MONITORED)
        .filter(Q(collection_config__isnull=True) | Q(collection_config__enabled=True))
    )


def due_jobs(shard: int, shards: int, now: dt.datetime, busy: set[int]) -> list[Job]:
    default_interval = settings_store.get("collection_interval_seconds")
    servers = (
        collectable()
        .annotate(shard_no=Mod(F("id"), shards))
        .filter(shard_no=shard)
        .filter(
            Q(collector_state__isnull=True)
            | Q(collector_state__next_due_at__isnull=True)
            | Q(collector_state__next_due_at__lte=now)
        )
        .exclude(pk__in=busy)
        .select_related("collection_config", "collector_state")
    )
    jobs = []
    for server in servers:
        config = getattr(server, "collection_config", None)
        state = getattr(server, "collector_state", None)
        jobs.append(
            Job(
                server_id=server.pk,
                target=actions.target_for(server),
                due_at=(state.next_due_at if state and state.next_due_at else now),
                interval=config.interval_seconds if config else default_interval,
                last_cpu_record_id=state.last_cpu_record_id if state else None,
                counters=state.counters if state else {},
                enabled=frozenset(config.metrics_enabled if config else ()),
                last_success_at=state.last_success_at if state else None,
            )
        )
    return jobs


def _acquire(shards: int, shard: int, owner: str, ends_at: dt.datetime) -> bool:
    now = timezone.now()
    CollectorLease.objects.get_or_create(shards=shards, shard=shard)
    return bool(
        CollectorLease.objects.filter(shards=shards, shard=shard)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__lt=now) | Q(owner=owner))
        .update(owner=owner, expires_at=now + dt.timedelta(seconds=LEASE_SECONDS), ends_at=ends_at)
    )


def _release(shards: int, shard: int, owner: str) -> None:
    CollectorLease.objects.filter(shards=shards, shard=shard, owner=owner).update(
        owner="", expires_at=None, ends_at=None
    )


def _wait_for_lease(shards: int, shard: int, owner: str, ends_at: dt.datetime) -> bool:
    """A successor queued before its predecessor ends waits here for the hand-over."""
    give_up = time.monotonic() + HANDOVER_WAIT
    while not _stopping.is_set():
        if _acquire(shards, shard, owner, ends_at):
            return True
        if time.monotonic() > give_up:
            return False
        time.sleep(0.25)
    return False


def shard_count(servers: int) -> int:
    return max(1, math.ceil(servers / settings.DBTOOLS_COLLECTOR_SHARD_SIZE))


def run_shard(shard: int, shards: int, seconds: float, owner: str | None = None) -> dict[str, Any]:
    """Collect one shard of the current tenant for `seconds`. Returns counts for the task log."""
    alias = tenancy.current().alias
    owner = owner or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    ends_at = timezone.now() + dt.timedelta(seconds=seconds)
    if not _wait_for_lease(shards, shard, owner, ends_at):
        return {"skipped": "lease held by another worker"}
    CollectorLease.objects.filter(shards=shards, shard=shard).update(successor_queued_at=None)
    offline_after = settings_store.get("offline_after_seconds")
    deadline = time.monotonic() + seconds
    in_flight: dict[Future, int] = {}
    pending: list[store.Result] = []
    totals = {"collected": 0, "failed": 0, "rows": 0}
    last_write = next_check = time.monotonic()
    stopping = False

    def flush() -> None:
        nonlocal pending, last_write
        if pending:
            totals["rows"] += store.write(pending)
            pending = []
        last_write = time.monotonic()

    def run_job(job: Job) -> store.Result:
        try:
            return collect_server(job, alias, offline_after)
        finally:
            connections.close_all()  # the pool thread touched no Django DB; be sure anyway

    with ThreadPoolExecutor(settings.DBTOOLS_COLLECTOR_CONCURRENCY,
                            thread_name_prefix="collect") as pool:  # fmt: skip
        while True:
            now_mono = time.monotonic()
            stopping = stopping or _stopping.is_set() or now_mono >= deadline
            if not stopping and now_mono >= next_check:
                # Renew the lease; hand over if the fleet was resharded or the lease was lost.
                resharded = shard_count(collectable().count()) != shards
                stopping = resharded or not _acquire(shards, shard, owner, ends_at)
                next_check = now_mono + 5
            if not stopping:
                free = settings.DBTOOLS_COLLECTOR_CONCURRENCY * 4 - len(in_flight)
                if free > 0:
                    # Results not yet written still carry the old next_due_at: not due again.
                    busy = set(in_flight.values()) | {r.server_id for r in pending}
                    jobs = due_jobs(shard, shards, timezone.now(), busy)
                    for job in jobs[:free]:
                        in_flight[pool.submit(run_job, job)] = job.server_id
            if not in_flight and stopping:
                break
            done, _ = wait(list(in_flight), timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                in_flight.pop(fut)
                result = fut.result()
                totals["collected" if result.computed else "failed"] += 1
                pending.append(result)
            if pending and (len(pending) >= 200 or time.monotonic() - last_write > 0.5
                            or not in_flight):  # fmt: skip
                flush()
            if not in_flight and not done and not stopping:
                time.sleep(0.5)
    flush()
    _release(shards, shard, owner)
    CONNECTIONS.prune()
    return totals


# -- Django-Q2 entry points -----------------------------------------------------------------------
def dispatch() -> dict[str, int]:
    """Every minute: make sure each shard of each active tenant has a live task."""
    from django_q.tasks import async_task

    from tenants.models import Tenant

    queued = 0
    horizon = timezone.now() + dt.timedelta(seconds=LEASE_SECONDS)
    for tenant in Tenant.objects.filter(status=Tenant.Status.ACTIVE):
        try:
            with tenancy.use_tenant(tenant):
                shards = shard_count(collectable().count())
                held = set(
                    CollectorLease.objects.filter(
                        shards=shards, expires_at__gt=horizon
                    ).values_list("shard", flat=True)
                )
        except Exception:
            log.exception("collector.dispatch_failed", tenant=tenant.slug)
            continue
        for shard in range(shards):
            if shard not in held:
                async_task("monitoring.collector.shard_task", tenant.slug, shard, shards,
                           task_name=f"collect {tenant.slug} {shard}/{shards}",
                           group="collect")  # fmt: skip
                queued += 1
        tenancy.trim_connections()
    return {"queued": queued}


def shard_task(tenant_slug: str, shard: int, shards: int) -> dict[str, Any]:
    install_signal_handler()  # Django-Q2 closes stale DB connections around each task itself
    with tenancy.use_tenant_slug(tenant_slug):
        result = run_shard(shard, shards, settings.DBTOOLS_COLLECTOR_RUN_SECONDS)
    log.info("collector.shard_done", tenant=tenant_slug, shard=shard, shards=shards, **result)
    return result

"""The collector: DBTOOLS_COLLECT_SLOTS long-running slot tasks in the "collect" cluster.

A slot task runs for DBTOOLS_COLLECTOR_RUN_SECONDS, then queues its successor. It finds due work
with one query on the system database's due index (`engine.due`), oldest due tenant first,
visits each claimed tenant to claim its due servers (at most DBTOOLS_COLLECTOR_BATCH per visit)
by conditional UPDATE of their collector state, collects them in a thread pool kept for the life
of the task (one round trip per server, `DBTOOLS_COLLECTOR_TIMEOUT` seconds at most each),
writes results per tenant in batches, releases the claims and updates the tenant's due time.
A slow or dead server only ever occupies one pool thread. A claim ends after
DBTOOLS_COLLECTOR_LEASE_SECONDS, so a killed worker's servers are collected by another slot in
the next cycle. SIGTERM stops new claims, drains the collections in flight and writes them.
The per-minute `tick` (main cluster) re-queues slots whose task stopped beating.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import os
import queue
import signal
import socket
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, NamedTuple

import structlog
from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, Q
from django.db.models.functions import Mod
from django.utils import timezone

from core import settings_store
from dbtools import tenancy
from engine import due
from engine.models import CollectorSlot
from monitoring import counter_state, extra, rates, store
from servers import actions, sqlclient
from servers.models import Server

log = structlog.get_logger(__name__)
COLLECT_SQL = "EXEC DbTools.usp_CollectMetrics @last_cpu_record_id = ?"
# From this version of the monitoring objects the procedure filters CPU records on their
# [timestamp] (parsing new ones only, and right across a service restart).
CPU_SINCE_VERSION = 11
COLLECT_SINCE_SQL = (
    "EXEC DbTools.usp_CollectMetrics @last_cpu_record_id = ?, @last_cpu_ms_ticks = ?"
)
HEARTBEAT_SECONDS = 5
# A slot whose task has not beaten for this long is presumed dead and re-queued by the tick.
SLOT_STALE_SECONDS = 20
# A successor queued this long ago and never started (lost message, no node running) is
# queued again by the tick.
QUEUE_GRACE_SECONDS = 120
LATE_SECONDS = 5  # a collection started later than this after its due time counts as late
POLL_SECONDS = 0.5  # how often an idle slot asks the due index for work (one system query)
TENANTS_PER_CLAIM = 8
# Servers first collected together are spread over the interval by tenant and, in a large
# fleet, by groups of this many server ids: a small tenant's servers fall due together (one
# visit per cycle), a large one's in groups spread over the interval (no herd).
SPREAD_GROUP = 50
# A part left unclaimed this long after it fell due (its slot died, or is behind) is taken over
# by another slot: well inside one claim lease, and long enough that in normal running each
# target is collected by its own slot only.
STEAL_SECONDS = 10
GIL_SWITCH_SECONDS = 0.0005
# Servers a slot may hold claimed per collection thread: those collecting, those waiting for
# their due time within the lookahead (83/s x 3 s for 5,000 servers at 60 s) and visits' room.
ROOM_PER_THREAD = 4
_stopping = threading.Event()


def _on_sigterm(signum: int, frame: Any) -> None:
    _stopping.set()


def install_signal_handler() -> Any:
    """Hold SIGTERM back while collections are in flight; returns the handler it replaced."""
    if threading.current_thread() is threading.main_thread():
        return signal.signal(signal.SIGTERM, _on_sigterm)
    return None


def restore_signal_handler(previous: Any) -> None:
    """Put the worker's own handler back; a SIGTERM held back is delivered now (Django-Q2's
    workers die of it, as they would have without us: a worker that outlived its cluster would
    hold its memory forever)."""
    if previous is None:
        return
    signal.signal(signal.SIGTERM, previous)
    if _stopping.is_set():
        os.kill(os.getpid(), signal.SIGTERM)


# -- connections reused across cycles ---------------------------------------------------------
@dataclass
class _Cached:
    conn: sqlclient.SqlConnection
    target: sqlclient.Target
    expires: float


class ConnectionCache:
    """One open connection per server per worker process, reused from cycle to cycle; a failed
    one is dropped and the next cycle reconnects. A connection not used again within about two
    of its server's intervals closes: its server went to another slot (or process), and each
    target should see one DbTools session, not one per process that ever collected it."""

    def __init__(self, min_idle_seconds: float = 90) -> None:
        self.min_idle_seconds = min_idle_seconds
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

    def put(self, key: tuple[str, int], conn: sqlclient.SqlConnection, interval: float) -> None:
        keep = max(self.min_idle_seconds, 2 * interval + 15)
        with self._lock:
            self._items[key] = _Cached(conn, conn.target, time.monotonic() + keep)

    def __len__(self) -> int:
        return len(self._items)

    def prune(self) -> None:
        now = time.monotonic()
        with self._lock:
            stale = [k for k, v in self._items.items() if v.expires < now]
            items = [self._items.pop(k) for k in stale]
        for item in items:
            item.conn.close()

    def close_all(self) -> None:
        with self._lock:
            items, self._items = list(self._items.values()), {}
        for item in items:
            item.conn.close()


CONNECTIONS = ConnectionCache()


class WorkKey(NamedTuple):
    tenant_id: int
    part: int


# -- one server ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    server_id: int
    target: sqlclient.Target
    due_at: dt.datetime
    interval: int
    last_cpu_record_id: int | None
    counters: bytes  # packed by monitoring.counter_state
    enabled: frozenset[str]
    last_success_at: dt.datetime | None
    tenant_id: int = 0
    deployed_version: int | None = None


def next_due(job: Job, now: dt.datetime) -> dt.datetime:
    """Keep the cadence; a late collector collects once and carries on, never in a burst.

    After a server's first collection its next one is spread over the interval (by tenant and
    group of server ids), so a fleet onboarded at once does not stay a herd that hits the
    collector in the same second, while a small tenant's servers stay due together."""
    if job.last_success_at is None and not job.counters:
        spread = (job.tenant_id * 0.6180339887 + (job.server_id // SPREAD_GROUP) * 0.7548776662) % 1
        return now + dt.timedelta(seconds=job.interval * (0.5 + spread))
    nxt = job.due_at + dt.timedelta(seconds=job.interval)
    return nxt if nxt > now else now + dt.timedelta(seconds=job.interval)


def collect_server(job: Job, alias: str, offline_after: int) -> store.Result:
    started = time.monotonic()
    attempted = timezone.now()
    key = (alias, job.server_id)
    timeout = settings.DBTOOLS_COLLECTOR_TIMEOUT
    previous = counter_state.decode(job.counters) if job.counters else None
    # Version 12 on: blocking, availability groups and, on their slower cadence, space and
    # Agent jobs in the same round trip (monitoring.extra).
    call = extra.procedure_call(
        job.deployed_version, previous, job.last_cpu_record_id, job.interval
    )
    if call is None and (job.deployed_version or 0) >= CPU_SINCE_VERSION:
        since = previous.cpu_ms_ticks if previous else None
        call = (COLLECT_SINCE_SQL, job.last_cpu_record_id or 0, since)
    elif call is None:
        call = (COLLECT_SQL, job.last_cpu_record_id or 0)
    try:
        conn, reused = CONNECTIONS.get(key, job.target, timeout)
        try:
            sets = conn.query_sets(*call)
        except sqlclient.TargetError as exc:
            conn.close()
            if not reused or isinstance(exc, sqlclient.Timeout):
                raise
            # A kept connection can die quietly (instance restart, failover, idle timeout on a
            # firewall): reconnect once before calling the server down.
            conn = sqlclient.connect(job.target, timeout=timeout)
            try:
                sets = conn.query_sets(*call)
            except sqlclient.TargetError:
                conn.close()
                raise
        CONNECTIONS.put(key, conn, job.interval)
        computed = rates.compute(rates.parse(sets), previous, set(job.enabled) or None)
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


# -- what is due in one tenant ------------------------------------------------------------------
def part_of(tenant_id: int, server_id: int, parts: int | None = None) -> int:
    """Which collector slot's part a server belongs to. A small tenant's servers share one part
    (one visit per cycle); a large tenant's are dealt out in groups of SPREAD_GROUP ids. Each
    part is collected by its own slot, so a target sees one DbTools session, held by one
    process, from cycle to cycle."""
    parts = parts or settings.DBTOOLS_COLLECT_SLOTS
    return (server_id // SPREAD_GROUP + tenant_id) % parts


def collectable(part: int | None = None) -> Any:
    """Servers with monitoring objects deployed and collection not switched off (of one part
    of the current tenant's fleet, when `part` is given)."""
    servers = (
        Server.objects.alive()
        .filter(monitoring_status=Server.Monitoring.MONITORED)
        .filter(Q(collection_config__isnull=True) | Q(collection_config__enabled=True))
    )
    parts = settings.DBTOOLS_COLLECT_SLOTS
    if part is None or parts <= 1:
        return servers
    # The same arithmetic as part_of, in SQL (integer division).
    expr = Mod(F("pk") / SPREAD_GROUP + tenancy.current().id, parts)
    return servers.alias(collect_part=expr).filter(collect_part=part)


def _part_sql(part: int | None) -> tuple[str, dict[str, Any]]:
    """The collectable() filter in SQL, for the statements below (one round trip each)."""
    parts = settings.DBTOOLS_COLLECT_SLOTS
    where = """s.deleted_at IS NULL AND s.monitoring_status = 'monitored'
               AND coalesce(cc.enabled, true)"""
    params: dict[str, Any] = {}
    if part is not None and parts > 1:
        # The same arithmetic as part_of (integer division).
        where += " AND (s.id / %(group)s + %(tenant)s) %% %(parts)s = %(part)s"
        params = {
            "group": SPREAD_GROUP,
            "tenant": tenancy.current().id,
            "parts": parts,
            "part": part,
        }
    return where, params


def next_due_in_tenant(part: int = 0) -> dt.datetime | None:
    """When the current tenant next has a server to collect (None: none collectable). A claimed
    server counts from when its claim ends: if its worker died, that is when it is due again."""
    where, params = _part_sql(part)
    with connections[tenancy.current().alias].cursor() as cur:
        cur.execute(
            f"""SELECT min(CASE WHEN st.claimed_until > %(now)s
                                THEN greatest(coalesce(st.next_due_at, %(now)s), st.claimed_until)
                                ELSE coalesce(st.next_due_at, %(now)s) END)
                FROM servers s
                LEFT JOIN collection_config cc ON cc.server_id = s.id
                LEFT JOIN collector_state st ON st.server_id = s.id
                WHERE {where}""",
            {**params, "now": timezone.now()},
        )
        return cur.fetchone()[0]


SERVER_COLUMNS = (
    "id",
    "host",
    "port",
    "instance_name",
    "auth_type",
    "username",
    "password_encrypted",
    "encrypt",
    "trust_server_certificate",
    "deployed_version",
)
# Claim and read in one statement: an upsert of the chosen servers' state rows (a server
# collected for the first time has none yet) whose conflict branch re-checks the claim and the
# due time on the latest row version, so of two slots racing for a server one gets it, and a
# server collected meanwhile (its next due time moved on) is not taken. The outer SELECT reads
# what collecting needs of the servers actually claimed.
CLAIM_SQL = """
WITH pick AS (
    SELECT s.id FROM servers s
    LEFT JOIN collection_config cc ON cc.server_id = s.id
    LEFT JOIN collector_state st ON st.server_id = s.id
    WHERE {where}
      AND (st.next_due_at IS NULL OR st.next_due_at <= %(horizon)s)
      AND (st.claimed_until IS NULL OR st.claimed_until < %(now)s)
    ORDER BY st.next_due_at NULLS FIRST, s.id
    LIMIT %(limit)s
), claimed AS (
    INSERT INTO collector_state AS st (server_id, counters, consecutive_failures, last_error,
                                       last_error_kind, claimed_by, claimed_until)
    SELECT id, ''::bytea, 0, '', '', %(owner)s, %(until)s FROM pick
    ON CONFLICT (server_id) DO UPDATE SET claimed_by = excluded.claimed_by,
                                          claimed_until = excluded.claimed_until
      WHERE (st.claimed_until IS NULL OR st.claimed_until < %(now)s)
        AND (st.next_due_at IS NULL OR st.next_due_at <= %(horizon)s)
    RETURNING st.server_id, st.next_due_at, st.last_cpu_record_id, st.counters,
              st.last_success_at
)
SELECT {server_columns},
       cc.interval_seconds, cc.metrics_enabled,
       c.next_due_at, c.last_cpu_record_id, c.counters, c.last_success_at
FROM claimed c
JOIN servers s ON s.id = c.server_id
LEFT JOIN collection_config cc ON cc.server_id = s.id
ORDER BY c.next_due_at NULLS FIRST, s.id
"""


def claim_jobs(
    owner: str,
    limit: int,
    horizon: dt.datetime,
    part: int | None = None,
    default_interval: int | None = None,
    server_ids: list[int] | None = None,
) -> list[Job]:
    """Claim up to `limit` of the current tenant's servers due by `horizon`, most overdue first,
    and return what collecting them needs."""
    if default_interval is None:
        default_interval = settings_store.get("collection_interval_seconds")
    ctx = tenancy.current()
    now = timezone.now()
    where, params = _part_sql(part)
    if server_ids is not None:
        where += " AND s.id = ANY(%(ids)s)"
        params = {**params, "ids": server_ids}
    with connections[ctx.alias].cursor() as cur:
        cur.execute(
            CLAIM_SQL.format(
                where=where, server_columns=", ".join(f"s.{c}" for c in SERVER_COLUMNS)
            ),
            {
                **params,
                "owner": owner,
                "until": now + dt.timedelta(seconds=settings.DBTOOLS_COLLECTOR_LEASE_SECONDS),
                "now": now,
                "horizon": horizon,
                "limit": limit,
            },
        )
        rows = cur.fetchall()
    jobs = []
    for row in rows:
        # The SELECT's first columns are the server's, named as on the model.
        server = Server(**dict(zip(SERVER_COLUMNS, row, strict=False)))
        interval, metrics, next_due_at, cpu_record, counters, last_success = row[
            len(SERVER_COLUMNS) :
        ]
        jobs.append(
            Job(
                server_id=server.pk,
                target=actions.target_for(server),
                due_at=next_due_at or now,
                interval=interval or default_interval,
                last_cpu_record_id=cpu_record,
                counters=bytes(counters or b""),
                enabled=frozenset(metrics or ()),
                last_success_at=last_success,
                tenant_id=ctx.id,
                deployed_version=server.deployed_version,
            )
        )
    return jobs


def claim_servers(
    owner: str, limit: int, horizon: dt.datetime, part: int | None = None
) -> list[int]:
    """The ids `claim_jobs` claimed."""
    return [job.server_id for job in claim_jobs(owner, limit, horizon, part)]


def release_servers(owner: str, ids: list[int]) -> None:
    with connections[tenancy.current().alias].cursor() as cur:
        cur.execute(
            """UPDATE collector_state SET claimed_by = '', claimed_until = NULL
               WHERE server_id = ANY(%s) AND claimed_by = %s""",
            [ids, owner],
        )


def write_results(owner: str, results: list[store.Result], parts: list[int]) -> int:
    """In the current tenant: store a batch, release its claims, bring the due index rows of
    `parts` up to date and run the after-write hooks (alert evaluation). Returns rows written."""
    ctx = tenancy.current()
    ids = [r.server_id for r in results]
    with transaction.atomic(using=ctx.alias):
        rows = store.write(results)
        release_servers(owner, ids)
    for part in parts:
        due.refresh(ctx.id, part=part)
    _run_after_write(ctx.slug, ids)
    return rows


def collect_now(server_ids: list[int] | None = None) -> list[store.Result]:
    """In the current tenant, in the foreground: claim the given servers (default: every
    collectable one that is not claimed) whatever their due time, collect them as a slot does
    and write the results. What `manage.py collect` runs."""
    owner = f"{socket.gethostname()}:{os.getpid()}:manage.py collect"
    far = timezone.now() + dt.timedelta(days=3650)
    values = settings_store.get_all()
    jobs = claim_jobs(
        owner, 100_000, far, None, values["collection_interval_seconds"], server_ids=server_ids
    )
    alias = tenancy.current().alias
    with ThreadPoolExecutor(min(32, max(1, len(jobs)))) as pool:
        results = list(
            pool.map(lambda job: collect_server(job, alias, values["offline_after_seconds"]), jobs)
        )
    if results:
        write_results(owner, results, parts=list(range(settings.DBTOOLS_COLLECT_SLOTS)))
    return results


# -- slots ----------------------------------------------------------------------------------------
def _owner(slot: int) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{slot}:{uuid.uuid4().hex[:8]}"


def _ensure_slots(count: int) -> None:
    CollectorSlot.objects.bulk_create(
        [CollectorSlot(slot=n) for n in range(count)], ignore_conflicts=True
    )


def claim_slot(slot: int, owner: str) -> bool:
    """Take slot number `slot` if nobody holds it or its holder stopped beating."""
    now = timezone.now()
    _ensure_slots(slot + 1)
    stale = now - dt.timedelta(seconds=SLOT_STALE_SECONDS)
    return bool(
        CollectorSlot.objects.filter(slot=slot)
        .filter(Q(owner="") | Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale))
        .update(owner=owner, heartbeat_at=now)
    )


def beat(slot: int, owner: str, totals: dict[str, Any] | None = None) -> bool:
    """Still ours? (False: the slot was taken over after we looked dead; stop claiming.)
    `totals`: the task's running counts, kept on the slot's row for health pages and benches."""
    changes: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if totals is not None:
        changes["stats"] = totals
    return bool(CollectorSlot.objects.filter(slot=slot, owner=owner).update(**changes))


def release_slot(slot: int, owner: str, stopped: bool) -> None:
    """Give the slot back. `stopped` (SIGTERM: the node is going down, no successor queued):
    the next tick queues one on whichever node still runs; otherwise a successor is on its way."""
    CollectorSlot.objects.filter(slot=slot, owner=owner).update(
        owner="", heartbeat_at=None, queued_at=None if stopped else timezone.now()
    )


# Called on the slot's database thread, in the tenant's context, with the ids of each batch of
# servers just written. Alerting registers its evaluation here (alerts.apps): the rules are
# checked where the data was written, over the connection already open, the moment it lands.
# (A queued task per batch cost the routine cluster, with a thousand small tenants, a task, a
# pickled message and a tenant connection per tenant per minute: more than collecting them.)
_after_write: list[Callable[[list[int]], Any]] = []


def after_write(hook: Callable[[list[int]], Any]) -> None:
    if hook not in _after_write:
        _after_write.append(hook)


def _run_after_write(tenant_slug: str, server_ids: list[int]) -> None:
    for hook in _after_write:
        try:
            hook(server_ids)
        except Exception:
            # Nothing a hook does can stop collection.
            log.exception("collector.after_write_failed", tenant=tenant_slug, hook=hook.__name__)


def queue_slot(slot: int) -> None:
    from dbtools.tasks import enqueue

    enqueue(
        "monitoring.collector.slot_task",
        slot,
        kind="collect",
        task_name=f"collector slot {slot}",
        group="collect",
    )


class _Inline:
    """Database work on the slot's own thread (DBTOOLS_COLLECTOR_DB_THREADS = 0): what tests use
    when the whole test runs in one database transaction that other threads cannot see."""

    def submit(self, fn: Any, *args: Any) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:
            fut.set_exception(exc)
        return fut

    submit_write = submit_last = submit_renew = submit

    def shutdown(self, wait: bool = True) -> None:
        pass


class _DbThread:
    """One tenant-database thread of a slot, taking lease renewals first, then writes, then
    visits. A visit only claims more work; a write releases claims. Behind a queue of visits,
    results waited past their claim lease and the same servers were claimed and collected
    again; a renewal keeps the claims of results still queued."""

    RENEW, WRITE, VISIT, LAST = -1, 0, 1, 2

    def __init__(self, name: str, initializer: Callable[[], Any]) -> None:
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._seq = itertools.count()
        self._thread = threading.Thread(target=self._loop, args=(initializer,), name=name)
        self._thread.daemon = True
        self._thread.start()

    def _loop(self, initializer: Callable[[], Any]) -> None:
        try:
            initializer()
        except Exception:
            log.exception("collector.db_thread_setup_failed")  # work still runs, uncached
        while True:
            _, _, item = self._queue.get()
            if item is None:
                return
            fut, fn, args = item
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn(*args))
                except BaseException as exc:
                    fut.set_exception(exc)

    def _put(self, priority: int, fn: Any, args: tuple) -> Future:
        fut: Future = Future()
        self._queue.put((priority, next(self._seq), (fut, fn, args)))
        return fut

    def submit(self, fn: Any, *args: Any) -> Future:
        return self._put(self.VISIT, fn, args)

    def submit_write(self, fn: Any, *args: Any) -> Future:
        return self._put(self.WRITE, fn, args)

    def submit_last(self, fn: Any, *args: Any) -> Future:
        return self._put(self.LAST, fn, args)

    def submit_renew(self, fn: Any, *args: Any) -> Future:
        return self._put(self.RENEW, fn, args)

    def shutdown(self, wait: bool = True) -> None:
        self._queue.put((self.LAST + 1, next(self._seq), None))
        if wait:
            self._thread.join()


class SlotLoop:
    """One slot task's work: claim, collect, write, release, until its time is up.

    Work is tracked per (tenant id, part): a slot collects its own part of every tenant's fleet
    and, when another part is overdue, that part too."""

    def __init__(self, slot: int, owner: str, seconds: float) -> None:
        self.slot, self.owner = slot, owner
        self.deadline = time.monotonic() + seconds
        self.deadline_at = timezone.now() + dt.timedelta(seconds=seconds)
        self.threads = settings.DBTOOLS_COLLECTOR_THREADS
        self.scheduled: list[tuple[dt.datetime, int, WorkKey, Job]] = []  # heap by due time
        self.seq = itertools.count()
        self.in_flight: dict[Future, WorkKey] = {}
        self.due_at: dict[Future, dt.datetime] = {}
        self.pending: dict[WorkKey, list[store.Result]] = defaultdict(list)
        self.pending_since: dict[WorkKey, float] = {}
        self.outstanding: Counter[WorkKey] = Counter()  # claimed, not yet written
        self.tenants: dict[int, Any] = {}
        self.offline_after: dict[int, int] = {}
        self.totals = {
            "collected": 0,
            "failed": 0,
            "rows": 0,
            "visits": 0,
            "claims": 0,
            "late": 0,
            "max_late_s": 0.0,
            "stolen": 0,
            "renewed": 0,  # claims whose lease was extended while their results waited
            # Seconds of database work (claims on the slot's thread, visits and writes on its
            # database threads), summed: near DBTOOLS_COLLECTOR_DB_THREADS times the run time
            # means the slot is bound by its database round trips.
            "db_s": 0.0,
        }
        self.recent_max_late = 0.0  # worst lateness since the last heartbeat
        self.wrote = False  # a tenant's results were written: room to visit another at once
        # Tenant database work (visits, writes) runs on a few threads of its own, a tenant always
        # on the same one (its visit and its write share that thread's kept connection): the
        # round trips of many small tenants overlap instead of queueing behind one another.
        self.db_threads = settings.DBTOOLS_COLLECTOR_DB_THREADS
        self.db_pools: list[Any] = []
        self.visiting: dict[Future, tuple[WorkKey, int]] = {}  # -> (key, servers reserved)
        self.writing: set[Future] = set()
        self.lock = threading.Lock()  # totals written from database threads
        # Per tenant: when (monotonic) its oldest claim not yet renewed was made, and how many
        # of its writes are queued on its database thread. A claim outliving half its lease
        # with results still unwritten is renewed, so nobody claims those servers again.
        self.lease_from: dict[int, float] = {}
        self.writes_queued: Counter[int] = Counter()
        self.visit_started: dict[Future, float] = {}

    # -- claiming
    def busy_tenants(self) -> int:
        busy = {key.tenant_id for key, count in self.outstanding.items() if count > 0}
        busy.update(key.tenant_id for key, _ in list(self.visiting.values()))
        return len(busy)

    def reserved(self) -> int:
        """Servers that visits under way may still claim."""
        return sum(limit for _, limit in list(self.visiting.values()))

    def _db_pool(self, tenant_id: int) -> Any:
        return self.db_pools[tenant_id % len(self.db_pools)]

    def _start_db_thread(self) -> None:
        keep = max(1, -(-settings.DBTOOLS_COLLECTOR_TENANT_CONNS // max(1, self.db_threads)))
        tenancy.keep_connections(keep)

    @staticmethod
    def _stop_db_thread() -> None:
        tenancy.unpin_all()
        tenancy.keep_connections(None)
        tenancy.trim_connections(0)
        connections["default"].close()

    def claim(self, room: int) -> int:
        # Tenants under way are bounded on their own, not by the connections kept: a small
        # tenant's servers take a second or more to collect, and a slot that waited for each
        # to be written before visiting the next left most of its threads idle.
        tenant_room = settings.DBTOOLS_COLLECTOR_TENANTS_AT_ONCE - self.busy_tenants()
        if tenant_room <= 0:
            return 0
        horizon = min(
            timezone.now() + dt.timedelta(seconds=settings.DBTOOLS_COLLECTOR_LOOKAHEAD),
            self.deadline_at,
        )
        rows = due.claim_parts(
            self.owner,
            min(TENANTS_PER_CLAIM, room, tenant_room),
            horizon,
            settings.DBTOOLS_COLLECTOR_LEASE_SECONDS,
            part=self.slot,
            steal_after=STEAL_SECONDS,
        )
        if not rows:
            return 0
        self.totals["claims"] += 1
        tenants = tenancy.tenant_model().objects.in_bulk([row.tenant_id for row in rows])
        # Each visit reserves room for the servers it may claim: a share, not all of it (a
        # small tenant holding the whole room left the tenants claimed with it released
        # unvisited, one tenant per round trip), but at least a group's worth, so a tenant of
        # 50 servers is not visited in many small batches. A tenant with more due than its
        # share comes back at once (a full batch) behind the others.
        share = max(SPREAD_GROUP, room // len(rows))
        got = 0
        for row in rows:
            tenant = tenants.get(row.tenant_id)
            if tenant is None or room - got <= 0:
                due.release(row.tenant_id, self.owner, part=row.part)
                continue
            self.tenants[row.tenant_id] = tenant
            self.totals["stolen"] += row.part != self.slot
            self.totals["visits"] += 1
            limit = min(settings.DBTOOLS_COLLECTOR_BATCH, share, room - got)
            fut = self._db_pool(tenant.pk).submit(self.visit, tenant, row.part, limit, horizon)
            self.visiting[fut] = (WorkKey(tenant.pk, row.part), limit)
            self.visit_started[fut] = time.monotonic()  # the claim's lease runs from after this
            got += limit
        return got

    def visit(
        self, tenant: Any, part: int, limit: int, horizon: dt.datetime
    ) -> tuple[list[Job], int]:
        """On the tenant's database thread: claim its due servers of `part`, store its next due
        time and give back the visit claim. Returns the jobs and the tenant's offline limit."""
        started = time.monotonic()
        try:
            with tenancy.use_tenant(tenant):
                values = settings_store.get_all()
                offline_after = values["offline_after_seconds"]
                jobs = claim_jobs(
                    self.owner, limit, horizon, part, values["collection_interval_seconds"]
                )
                if jobs:
                    # Its results come back to this thread in a second or two: keep this
                    # connection for them rather than start another backend.
                    tenancy.pin(tenancy.current().alias)
                # A full batch: maybe more is due; it waits its turn behind other tenants.
                full = len(jobs) >= limit
                due.refresh(
                    tenant.pk,
                    release=self.owner,
                    not_before=timezone.now() if full else None,
                    part=part,
                )
        except Exception:
            # The tenant's database is unreachable or broken: leave its claims to expire and
            # try again after the lease; other tenants carry on.
            log.exception("collector.visit_failed", tenant=tenant.slug)
            return [], 0
        finally:
            with self.lock:
                self.totals["db_s"] += time.monotonic() - started
        return jobs, offline_after

    def visited(self) -> None:
        """Main thread: schedule the servers of finished visits."""
        for fut in [f for f in self.visiting if f.done()]:
            # Its reserved room is free again: claim more at once rather than at the next poll.
            self.wrote = True
            key, _ = self.visiting.pop(fut)
            started = self.visit_started.pop(fut)
            jobs, offline_after = fut.result()
            if jobs:
                self.offline_after[key.tenant_id] = offline_after
                self.lease_from.setdefault(key.tenant_id, started)
            for job in jobs:
                heapq.heappush(self.scheduled, (job.due_at, next(self.seq), key, job))
            self.outstanding[key] += len(jobs)

    # -- collecting
    def submit_due(self, pool: ThreadPoolExecutor) -> None:
        now = timezone.now()
        while self.scheduled and len(self.in_flight) < self.threads:
            due_at, _, key, job = self.scheduled[0]
            if due_at > now:
                break
            heapq.heappop(self.scheduled)
            alias = tenancy.alias_for(self.tenants[key.tenant_id].slug)
            fut = pool.submit(self._run_job, job, alias, self.offline_after[key.tenant_id])
            self.in_flight[fut] = key
            self.due_at[fut] = due_at

    @staticmethod
    def _run_job(job: Job, alias: str, offline_after: int) -> store.Result:
        # Pool threads never touch a Django connection (and must not walk the connection
        # registry, which the main thread grows as it meets new tenants).
        return collect_server(job, alias, offline_after)

    def drop_scheduled(self) -> None:
        """Stopping early: give back claims on servers not started yet (collected next cycle)."""
        by_key: dict[WorkKey, list[int]] = defaultdict(list)
        for _, _, key, job in self.scheduled:
            by_key[key].append(job.server_id)
        self.scheduled = []
        for key, ids in by_key.items():
            self.outstanding[key] -= len(ids)
            try:
                with tenancy.use_tenant(self.tenants[key.tenant_id]):
                    release_servers(self.owner, ids)
                    due.refresh(key.tenant_id, part=key.part)
            except Exception:
                log.exception("collector.release_failed", tenant=key.tenant_id)

    def harvest(self, timeout: float) -> None:
        waiting = [*self.in_flight, *self.visiting]
        if not waiting:
            time.sleep(timeout)
            return
        done, _ = wait(waiting, timeout=timeout, return_when=FIRST_COMPLETED)
        for fut in done:
            if fut not in self.in_flight:
                continue  # a visit: scheduled by visited()
            key = self.in_flight.pop(fut)
            due_at = self.due_at.pop(fut)
            if fut.exception() is not None:
                # A bug, not a server problem (those come back as results): this server's
                # claim runs out and it is collected next cycle; the slot carries on.
                log.error("collector.job_crashed", tenant=key.tenant_id, exc_info=fut.exception())
                self.outstanding[key] -= 1
                continue
            result = fut.result()
            self.totals["collected" if result.computed else "failed"] += 1
            # How long after its due time a collection started (the figure operators watch).
            late = (result.attempted_at - due_at).total_seconds()
            self.totals["late"] += late > LATE_SECONDS
            self.totals["max_late_s"] = round(max(self.totals["max_late_s"], late), 2)
            self.recent_max_late = max(self.recent_max_late, late)
            self.pending[key].append(result)
            self.pending_since.setdefault(key, time.monotonic())

    def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        for key in list(self.pending):
            results = self.pending[key]
            complete = len(results) >= self.outstanding[key]
            if force or complete or len(results) >= 200 or now - self.pending_since[key] > 1:
                self.write(key, self.pending.pop(key))
                self.pending_since.pop(key, None)

    def write(self, key: WorkKey, results: list[store.Result]) -> None:
        self.outstanding[key] -= len(results)
        with self.lock:
            self.writes_queued[key.tenant_id] += 1
        fut = self._db_pool(key.tenant_id).submit_write(self._write, key, results)
        self.writing.add(fut)
        fut.add_done_callback(lambda f: self._written(f, key.tenant_id))

    def _written(self, fut: Future, tenant_id: int) -> None:
        with self.lock:
            self.writes_queued[tenant_id] -= 1
        self.wrote = True

    def writes_pending(self) -> bool:
        with self.lock:
            return any(count > 0 for count in self.writes_queued.values())

    # -- leases
    def holds(self, tenant_id: int) -> bool:
        """Does the slot still hold claims of this tenant (claimed, collecting, or results
        waiting to be written)?"""
        with self.lock:
            if self.writes_queued[tenant_id] > 0:
                return True
        return any(
            count > 0 for key, count in self.outstanding.items() if key.tenant_id == tenant_id
        )

    def renew_leases(self) -> None:
        """Main thread: renew the claims of tenants whose results are still held past half the
        lease (the database thread is behind: under overload, writes queue for longer than a
        lease), ahead of the writes queued on their thread."""
        now_m = time.monotonic()
        half = settings.DBTOOLS_COLLECTOR_LEASE_SECONDS / 2
        for tenant_id, since in list(self.lease_from.items()):
            if not self.holds(tenant_id):
                del self.lease_from[tenant_id]
            elif now_m - since > half:
                self.lease_from[tenant_id] = now_m
                self._db_pool(tenant_id).submit_renew(self._renew, tenant_id)

    def _renew(self, tenant_id: int) -> None:
        """On the tenant's database thread: extend every claim this slot holds in the tenant."""
        started = time.monotonic()
        until = timezone.now() + dt.timedelta(seconds=settings.DBTOOLS_COLLECTOR_LEASE_SECONDS)
        try:
            tenant = self.tenants[tenant_id]
            with tenancy.use_tenant(tenant) as ctx, connections[ctx.alias].cursor() as cur:
                cur.execute(
                    """UPDATE collector_state SET claimed_until = %s
                       WHERE claimed_by = %s AND claimed_until IS NOT NULL""",
                    [until, self.owner],
                )
                renewed = cur.rowcount
            with self.lock:
                self.totals["renewed"] += renewed
        except Exception:
            # The claims run out as they would have; their servers may be collected again.
            log.exception("collector.renew_failed", tenant=tenant_id)
        finally:
            with self.lock:
                self.totals["db_s"] += time.monotonic() - started

    def _write(self, key: WorkKey, results: list[store.Result]) -> None:
        """On the tenant's database thread: store one batch of results and release its claims."""
        started = time.monotonic()
        try:
            with tenancy.use_tenant(self.tenants[key.tenant_id]) as ctx:
                rows = write_results(self.owner, results, parts=[key.part])
                with self.lock:
                    self.totals["rows"] += rows
                    last = self.writes_queued[key.tenant_id] <= 1
                if last and not any(
                    count > 0
                    for k, count in list(self.outstanding.items())
                    if k.tenant_id == key.tenant_id
                ):
                    tenancy.unpin(ctx.alias)
        except Exception:
            # Nothing was written: the claims expire and the servers are collected next cycle.
            log.exception("collector.write_failed", tenant=key.tenant_id, results=len(results))
        finally:
            with self.lock:
                self.totals["db_s"] += time.monotonic() - started

    def beat(self) -> bool:
        CONNECTIONS.prune()
        with self.lock:
            self.totals["db_s"] = round(self.totals["db_s"], 2)
            stats = {**self.totals, "recent_max_late_s": round(self.recent_max_late, 2)}
        self.recent_max_late = 0.0
        return beat(self.slot, self.owner, stats)

    # -- the loop
    def run(self) -> dict[str, Any]:
        # The database threads wait on many short round trips while up to 64 collection threads
        # parse results: at the default 5 ms switch interval each wake-up queued for the GIL
        # behind them, and a tenant's 30 round trips took ten times their database time.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        try:
            return self._run()
        finally:
            sys.setswitchinterval(switch)

    def _run(self) -> dict[str, Any]:
        tenancy.keep_connections(settings.DBTOOLS_COLLECTOR_TENANT_CONNS)
        self.db_pools = [
            _DbThread(f"collect-db{n}", self._start_db_thread) for n in range(self.db_threads)
        ] or [_Inline()]
        stopping = lost = False
        next_poll = 0.0
        next_beat = time.monotonic() + HEARTBEAT_SECONDS
        try:
            with ThreadPoolExecutor(self.threads, thread_name_prefix="collect") as pool:
                while True:
                    now_m = time.monotonic()
                    self.visited()
                    # SIGTERM, or the slot was taken over after we looked dead: servers claimed
                    # but not started go back (visits finishing now included).
                    if (_stopping.is_set() or lost) and self.scheduled:
                        self.drop_scheduled()
                    stopping = stopping or _stopping.is_set() or now_m >= self.deadline
                    if now_m >= next_beat:
                        next_beat = now_m + HEARTBEAT_SECONDS
                        if not self.beat() and not stopping:
                            stopping = lost = True
                            self.drop_scheduled()
                    self.submit_due(pool)
                    if self.wrote:
                        next_poll, self.wrote = 0.0, False
                    if not stopping and now_m >= next_poll:
                        room = (
                            self.threads * ROOM_PER_THREAD
                            - len(self.in_flight)
                            - len(self.scheduled)
                            - self.reserved()
                        )
                        started = time.monotonic()
                        got = self.claim(room) if room > 0 else 0
                        self.totals["db_s"] += time.monotonic() - started
                        # More may be waiting while there is room: ask again at once.
                        next_poll = now_m + (0 if got and got < room else POLL_SECONDS)
                    # Stopping waits for queued writes too, renewing their claims meanwhile.
                    if stopping and not (
                        self.in_flight
                        or self.scheduled
                        or self.visiting
                        or self.pending
                        or self.writes_pending()
                    ):
                        break
                    wait_for = 0.05 if self.in_flight or self.visiting else 0.1
                    if self.scheduled:
                        until = (self.scheduled[0][0] - timezone.now()).total_seconds()
                        wait_for = max(0.0, min(wait_for, until))
                    self.harvest(wait_for)
                    self.flush(force=stopping)
                    self.renew_leases()
            self.flush(force=True)
        finally:
            # Writes under way finish; each database thread closes its own connections.
            for db_pool in self.db_pools:
                if isinstance(db_pool, _DbThread):
                    db_pool.submit_last(self._stop_db_thread)
                db_pool.shutdown(wait=True)
            tenancy.keep_connections(None)
            tenancy.trim_connections()
            CONNECTIONS.prune()
        self.beat()
        return self.totals


def run_slot(slot: int, seconds: float, owner: str | None = None) -> dict[str, Any]:
    """Hold collector slot `slot` for `seconds`, collecting what falls due. Returns counts."""
    owner = owner or _owner(slot)
    if not claim_slot(slot, owner):
        return {"skipped": "slot held by another task"}
    successor = False
    try:
        result = SlotLoop(slot, owner, seconds).run()
        # A slot that was stopped (SIGTERM: the node is going down) leaves its successor to the
        # tick, which queues it on whichever node is still running. In sync mode (tests) a
        # successor would run inside its predecessor, forever.
        successor = not _stopping.is_set() and not settings.Q_CLUSTER.get("sync")
    finally:
        release_slot(slot, owner, stopped=_stopping.is_set())
    if successor:
        queue_slot(slot)
    return result


# -- Django-Q2 entry points -----------------------------------------------------------------------
def slot_task(slot: int) -> dict[str, Any]:
    if slot >= settings.DBTOOLS_COLLECT_SLOTS:
        return {"skipped": "slot beyond DBTOOLS_COLLECT_SLOTS"}
    previous = install_signal_handler()  # Django-Q2 closes stale DB connections around tasks
    try:
        result = run_slot(slot, settings.DBTOOLS_COLLECTOR_RUN_SECONDS)
        log.info("collector.slot_done", slot=slot, **result)
    finally:
        restore_signal_handler(previous)
    return result


def tick() -> dict[str, int]:
    """Every minute (main cluster): make sure each collector slot has a task, queueing one for a
    slot that nobody holds and nobody queued recently, or whose holder stopped beating."""
    now = timezone.now()
    slots = settings.DBTOOLS_COLLECT_SLOTS
    _ensure_slots(slots)
    stale = now - dt.timedelta(seconds=SLOT_STALE_SECONDS)
    grace = now - dt.timedelta(seconds=QUEUE_GRACE_SECONDS)
    not_queued_since = lambda t: Q(queued_at__isnull=True) | Q(queued_at__lt=t)  # noqa: E731
    idle = Q(owner="") & not_queued_since(grace)
    dead = ~Q(owner="") & (Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale))
    queued = 0
    for slot in range(slots):
        # Conditional UPDATE: two ticks at once queue a slot once.
        if CollectorSlot.objects.filter(
            Q(slot=slot), idle | (dead & not_queued_since(stale))
        ).update(queued_at=now):
            queue_slot(slot)
            queued += 1
    return {"queued": queued}

"""Moving a tenant's database to another PostgreSQL server with a write freeze of seconds.

With logical replication (the source needs `wal_level=logical`): the schema is copied first, a
publication on the source and a subscription on the target copy the rows while the tenant keeps
working; then writes are frozen (the tenant's status turns `moving`: background work skips it and
requests that write get a 503, and its role turns read-only on the source so nothing slips
through), the target catches up to a marker row written after the freeze, both sides are compared
table by table, sequences are set, and the tenant's address is switched. Without logical
replication the freeze covers a pg_dump | pg_restore of the whole database, which is said before
anything is touched.

The `TenantMove` row records what was created where. A move that fails is rolled back by the mover
itself; a move whose process died is rolled back (or, once switched, finished) by `recover`, which
the next move of that tenant and `manage.py move_tenant --recover` run. Either way the tenant ends
up working on exactly one server with no slot, publication, subscription or copy left behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
import structlog
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import close_old_connections, connections, transaction
from django.utils import timezone
from psycopg import sql

from core import activity
from dbtools import crypto, tenancy
from engine import due
from tenants.models import Tenant, TenantMove
from tenants.pgadmin import (
    Endpoint,
    EndpointError,
    create_tenant_database,
    database_exists,
    drop_tenant_database,
    is_superuser,
    pgadmin_tools_check,
    role_exists,
    tool,
)

log = structlog.get_logger(__name__)

PUBLICATION = "dbtools_move"
MARKER = "dbtools_move_marker"
# Test hook: "STATE:SECONDS" makes the mover wait at that point so a test can kill it there.
HOLD_ENV = "DBTOOLS_MOVE_HOLD"
# Requests already past the status check get this long to finish before their sessions end.
FREEZE_GRACE_SECONDS = float(os.environ.get("DBTOOLS_MOVE_GRACE_SECONDS", "1.0"))
SYNC_TIMEOUT_SECONDS = 3600.0
CATCH_UP_TIMEOUT_SECONDS = 60.0
# A running move whose heartbeat is older than this (and whose process is not known to be alive)
# is taken for dead: recover() may roll it back.
STALE_SECONDS = 120.0
CHECKSUM_GROUP_ROWS = 10_000


class MoveError(Exception):
    pass


class MoveInterrupted(BaseException):
    """Raised by the command's SIGTERM handler: unwinds like Ctrl-C, through the rollback."""


@dataclass
class Check:
    name: str
    ok: bool | None  # None: could not tell (a warning, not a failure)
    detail: str
    logical_only: bool = False


@dataclass
class Preflight:
    checks: list[Check] = field(default_factory=list)
    method: str = ""  # chosen method, "" when the move cannot go ahead
    note: str = ""

    def add(self, name: str, ok: bool | None, detail: str, logical_only: bool = False) -> None:
        self.checks.append(Check(name, ok, detail, logical_only))

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.ok is False and not c.logical_only]

    @property
    def logical_failures(self) -> list[Check]:
        return [c for c in self.checks if c.ok is False and c.logical_only]

    def lines(self) -> list[str]:
        marks = {True: "ok  ", False: "FAIL", None: "warn"}
        return [f"[{marks[c.ok]}] {c.name}: {c.detail}" for c in self.checks]


# --- preflight ------------------------------------------------------------------------------


def _source_admin_for(tenant: Tenant, url: str | None) -> Endpoint:
    if url:
        return Endpoint.from_url(url)
    system = Endpoint.system()
    if system.same_server(Endpoint.of_tenant(tenant)):
        return system
    raise EndpointError(
        f"The tenant lives on {tenant.db_host}:{tenant.db_port}, not on the system database's "
        "server: give --source-admin postgresql://admin@host:port/postgres for it."
    )


def _tables(cur: psycopg.Cursor) -> list[dict[str, Any]]:
    """Every table of the tenant database with its primary key columns and replica identity."""
    cur.execute(
        """SELECT c.oid::regclass::text, c.relkind, c.relreplident,
                  ARRAY(SELECT a.attname::text FROM pg_index i
                        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                        WHERE i.indrelid = c.oid AND i.indisprimary
                        ORDER BY array_position(i.indkey::int2[], a.attnum))
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND n.nspname NOT LIKE 'pg\\_%%' AND c.relname <> %s
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
           ORDER BY 1""",
        [MARKER],
    )
    return [
        {"name": name, "kind": kind, "replident": ident, "pk": list(pk)}
        for name, kind, ident, pk in cur.fetchall()
    ]


def preflight(
    tenant: Tenant, target: Endpoint, source_admin: Endpoint | None, method: str = "auto"
) -> Preflight:
    """Check everything that can be checked before touching anything, and choose the method."""
    pf = Preflight()
    src = Endpoint.of_tenant(tenant)
    pf.add(
        "tenant",
        tenant.status in (Tenant.Status.ACTIVE, Tenant.Status.SUSPENDED),
        f"{tenant.slug} is {tenant.status}",
    )
    running = TenantMove.objects.filter(tenant=tenant, state__in=TenantMove.RUNNING_STATES)
    pf.add(
        "no other move",
        not running.exists(),
        "none running" if not running.exists() else "another move of this tenant is running",
    )
    pf.add(
        "target differs", not target.same_server(src), f"source {src.where}, target {target.where}"
    )
    src_size = 0
    src_major = 0
    tables: list[dict[str, Any]] = []
    extensions: list[str] = []
    try:
        with src.connect() as conn, conn.cursor() as cur:
            src_major = conn.info.server_version // 10000
            src_size = cur.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            wal_level = cur.execute("SHOW wal_level").fetchone()[0]
            tables = _tables(cur)
            extensions = [
                r[0]
                for r in cur.execute(
                    "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1"
                )
            ]
        pf.add(
            "source reachable",
            True,
            f"PostgreSQL {src_major} at {src.where}, database {_size(src_size)}, "
            f"{len(tables)} tables",
        )
        pf.add(
            "source wal_level",
            wal_level == "logical",
            f"wal_level={wal_level}"
            + (
                ""
                if wal_level == "logical"
                else " (logical replication needs wal_level=logical, set with a restart)"
            ),
            logical_only=True,
        )
    except psycopg.Error as exc:
        pf.add("source reachable", False, f"{src.where} as {src.user}: {_pg_error(exc)}")
    missing_key = [
        t["name"]
        for t in tables
        if t["kind"] == "r" and not t["pk"] and t["replident"] not in ("f", "i")
    ]
    pf.add(
        "primary keys",
        not missing_key,
        "every table has a primary key or replica identity"
        if not missing_key
        else f"no primary key or replica identity: {', '.join(missing_key[:10])}",
        logical_only=True,
    )
    if source_admin is None:
        pf.add(
            "source admin", False, "no administrator login for the source server", logical_only=True
        )
    else:
        try:
            with source_admin.connect() as conn, conn.cursor() as cur:
                su = is_superuser(cur)
                slots_max = int(cur.execute("SHOW max_replication_slots").fetchone()[0])
                slots_used = cur.execute("SELECT count(*) FROM pg_replication_slots").fetchone()[0]
                senders = int(cur.execute("SHOW max_wal_senders").fetchone()[0])
                senders_used = cur.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'"
                ).fetchone()[0]
            pf.add(
                "source admin",
                su,
                f"{source_admin.user} is "
                + (
                    "a superuser"
                    if su
                    else "not a superuser (publication and replication slot need one)"
                ),
                logical_only=True,
            )
            free = min(slots_max - slots_used, senders - senders_used)
            pf.add(
                "replication slots",
                free >= 3,
                f"{slots_max - slots_used} slot(s) and {senders - senders_used} WAL sender(s) "
                "free on the source (the copy needs up to 3 of each)",
                logical_only=True,
            )
        except psycopg.Error as exc:
            pf.add("source admin", False, f"{source_admin.where}: {_pg_error(exc)}")
    try:
        with target.connect() as conn, conn.cursor() as cur:
            dst_major = conn.info.server_version // 10000
            su = is_superuser(cur)
            can = cur.execute(
                "SELECT rolcreaterole AND rolcreatedb FROM pg_roles WHERE rolname = current_user"
            ).fetchone()[0]
            taken = [
                n
                for n, f in ((tenant.db_user, role_exists), (tenant.db_name, database_exists))
                if f(cur, n)
            ]
            available = {r[0] for r in cur.execute("SELECT name FROM pg_available_extensions")}
            data_dir = None
            if su:
                data_dir = cur.execute("SHOW data_directory").fetchone()[0]
        pf.add("target reachable", True, f"PostgreSQL {dst_major} at {target.where}")
        pf.add(
            "target version",
            dst_major >= src_major,
            f"target {dst_major}, source {src_major}"
            + ("" if dst_major >= src_major else ": a dump does not go back to an older server"),
        )
        pf.add(
            "target admin",
            su or can,
            f"{target.user}: "
            + (
                "superuser"
                if su
                else "CREATEROLE and CREATEDB"
                if can
                else "needs CREATEROLE and CREATEDB"
            ),
        )
        pf.add(
            "target subscription",
            su,
            "superuser: can create the subscription"
            if su
            else f"{target.user} is not a superuser: PostgreSQL {dst_major} lets only superusers "
            "create subscriptions",
            logical_only=True,
        )
        pf.add(
            "target is free",
            not taken,
            "no role or database of the tenant's name"
            if not taken
            else f"already exists on the target: {', '.join(taken)}",
        )
        lacking = [e for e in extensions if e not in available]
        pf.add(
            "extensions",
            not lacking,
            (f"available on the target: {', '.join(extensions)}" if extensions else "none used")
            if not lacking
            else f"missing on the target: {', '.join(lacking)}",
        )
        pf.add(*_disk_check(target, data_dir, src_size))
    except psycopg.Error as exc:
        pf.add("target reachable", False, f"{target.where} as {target.user}: {_pg_error(exc)}")
    try:
        pf.add("client tools", True, pgadmin_tools_check(src_major))
    except (FileNotFoundError, RuntimeError) as exc:
        pf.add("client tools", False, str(exc))

    if pf.failures:
        pf.method = ""
    elif method == TenantMove.Method.DUMP:
        pf.method = TenantMove.Method.DUMP
        pf.note = (
            f"Dump and restore as asked: writes stay frozen for the whole copy ({_size(src_size)})."
        )
    elif not pf.logical_failures:
        pf.method = TenantMove.Method.LOGICAL
        pf.note = (
            "Logical replication: the tenant keeps working during the copy; writes freeze "
            "for a few seconds at the end."
        )
    elif method == TenantMove.Method.LOGICAL:
        pf.method = ""
        pf.note = "Logical replication was asked for and cannot be used here."
    else:
        pf.method = TenantMove.Method.DUMP
        why = "; ".join(f"{c.name}: {c.detail}" for c in pf.logical_failures)
        pf.note = (
            f"Logical replication cannot be used ({why}). Falling back to dump and "
            f"restore: writes stay frozen for the whole copy of {_size(src_size)}, "
            "minutes rather than seconds for a large tenant."
        )
    return pf


def _disk_check(target: Endpoint, data_dir: str | None, size: int) -> tuple[str, bool | None, str]:
    need = int(size * 1.2) + 64 * 1024 * 1024
    local = target.host in ("localhost", "127.0.0.1", "::1") or target.host.startswith("/")
    if data_dir and local and os.path.isdir(data_dir):
        free = shutil.disk_usage(data_dir).free
        return (
            "target disk",
            free >= need,
            f"{_size(free)} free at {data_dir}, the copy needs about {_size(need)}",
        )
    return (
        "target disk",
        None,
        f"cannot see the target's disk from here; make sure about {_size(need)} is free",
    )


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _pg_error(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# --- the proof ------------------------------------------------------------------------------


def _session(conn: psycopg.Connection) -> None:
    # Row text must not depend on the session: same time zone and formats on both sides.
    for stmt in (
        "SET TimeZone = 'UTC'",
        "SET DateStyle = 'ISO, YMD'",
        "SET IntervalStyle = 'postgres'",
        "SET extra_float_digits = 3",
        "SET bytea_output = 'hex'",
        "SET statement_timeout = 0",
    ):
        conn.execute(stmt)


def table_figures(
    ep: Endpoint, snapshot: psycopg.Connection | None = None
) -> dict[str, dict[str, Any]]:
    """Per table: row count and a checksum of the rows in primary-key order. Rows are hashed in
    groups of CHECKSUM_GROUP_ROWS so no single string grows with the table. `snapshot`: read in
    that connection's open transaction instead of a new connection."""
    with contextlib.ExitStack() as stack:
        conn = snapshot or stack.enter_context(ep.connect())
        _session(conn)
        return _figures(conn)


def _figures(conn: psycopg.Connection) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    with conn.cursor() as cur:
        for t in _tables(cur):
            if t["kind"] != "r":
                continue  # a partitioned table's rows are counted in its partitions
            order = (
                sql.SQL(", ").join(sql.Identifier(c) for c in t["pk"])
                if t["pk"]
                else (sql.SQL("t::text"))
            )
            q = sql.SQL(
                """SELECT coalesce(sum(c), 0), coalesce(md5(string_agg(h, '' ORDER BY g)), '')
                   FROM (SELECT (n - 1) / {group} AS g, count(*) AS c,
                                md5(string_agg(rh, '' ORDER BY n)) AS h
                         FROM (SELECT row_number() OVER (ORDER BY {order}) AS n,
                                      md5(t::text) AS rh FROM {table} t) a
                         GROUP BY 1) b"""
            ).format(
                group=sql.Literal(CHECKSUM_GROUP_ROWS), order=order, table=sql.SQL(t["name"])
            )  # regclass text: already quoted as needed
            rows, checksum = cur.execute(q).fetchone()
            out[t["name"]] = {"rows": int(rows), "checksum": checksum}
    return out


def _sequences(cur: psycopg.Cursor) -> list[dict[str, Any]]:
    cur.execute(
        """SELECT s.seqrelid::regclass::text, d.refobjid::regclass::text, a.attname::text
           FROM pg_sequence s
           LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
                AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
           LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
           ORDER BY 1"""
    )
    seqs = []
    for seq, table, column in cur.fetchall():
        last, called = cur.execute(
            sql.SQL("SELECT last_value, is_called FROM {}").format(sql.SQL(seq))
        ).fetchone()
        col_max = None
        if table and column:
            col_max = cur.execute(
                sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(column), sql.SQL(table))
            ).fetchone()[0]
        seqs.append(
            {
                "sequence": seq,
                "column": f"{table}.{column}" if table else "",
                "last_value": int(last) if called else None,
                "column_max": int(col_max) if col_max is not None else None,
            }
        )
    return seqs


def set_sequences(src: Endpoint, dst: Endpoint) -> list[dict[str, Any]]:
    """Logical replication copies no sequence values: set each on the target to the source's
    value or its column's maximum, whichever is higher, and report both sides."""
    with src.connect() as conn, conn.cursor() as cur:
        source = {s["sequence"]: s for s in _sequences(cur)}
    with dst.connect() as conn, conn.cursor() as cur:
        for s in _sequences(cur):
            src_s = source.get(s["sequence"], {})
            values = [
                v
                for v in (src_s.get("last_value"), s["column_max"], s["last_value"])
                if v is not None
            ]
            if values:
                cur.execute("SELECT setval(%s::regclass, %s, true)", [s["sequence"], max(values)])
        figures = []
        for s in _sequences(cur):
            src_s = source.get(s["sequence"], {})
            ok = s["column_max"] is None or (
                s["last_value"] is not None and s["last_value"] >= s["column_max"]
            )
            figures.append(
                {
                    "sequence": s["sequence"],
                    "column": s["column"],
                    "source_last": src_s.get("last_value"),
                    "target_last": s["last_value"],
                    "column_max": s["column_max"],
                    "ok": ok,
                }
            )
    return figures


def migration_state(ep: Endpoint, snapshot: psycopg.Connection | None = None) -> list[str]:
    with contextlib.ExitStack() as stack:
        conn = snapshot or stack.enter_context(ep.connect())
        cur = conn.cursor()
        return [
            f"{a}.{n}"
            for a, n in cur.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
        ]


def verify(
    src: Endpoint, dst: Endpoint, snapshot: psycopg.Connection | None = None
) -> dict[str, Any]:
    """Both sides' figures, computed in parallel. The source is frozen for good once writes are
    frozen; the target is read now, or in `snapshot`, a transaction opened at the cut-over."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        f_src = pool.submit(table_figures, src)
        target = table_figures(dst, snapshot)
        mig_dst = migration_state(dst, snapshot)
        source, mig_src = f_src.result(), migration_state(src)
    tables = {}
    for name in sorted(set(source) | set(target)):
        s, t = source.get(name), target.get(name)
        tables[name] = {
            "source_rows": s and s["rows"],
            "target_rows": t and t["rows"],
            "source_checksum": s and s["checksum"],
            "target_checksum": t and t["checksum"],
            "ok": s is not None and s == t,
        }
    return {
        "tables": tables,
        "tables_ok": all(t["ok"] for t in tables.values()),
        "rows": sum((t["source_rows"] or 0) for t in tables.values()),
        "migrations": {
            "source": len(mig_src),
            "target": len(mig_dst),
            "same": mig_src == mig_dst,
            "differences": sorted(set(mig_src) ^ set(mig_dst))[:20],
        },
    }


# --- the move -------------------------------------------------------------------------------


def start(
    tenant: Tenant,
    target_url: str,
    *,
    acting_user: AbstractBaseUser | None = None,
    source_admin_url: str | None = None,
    method: str = "auto",
    keep_source: bool = False,
    verify_before_switch: bool = False,
    out: Callable[[str], None] | None = None,
) -> tuple[TenantMove | None, Preflight]:
    """Preflight, then create the move's row (None when the preflight fails). Run it with run()."""
    for stale in recover_stale(tenant, out=out):
        log.info("tenant.move_recovered", slug=tenant.slug, move=stale.pk, state=stale.state)
    tenant.refresh_from_db()
    target = Endpoint.from_url(target_url)
    source_admin = _source_admin_for(tenant, source_admin_url)
    pf = preflight(tenant, target, source_admin, method)
    if not pf.method:
        return None, pf
    src = Endpoint.of_tenant(tenant)
    move = TenantMove.objects.create(
        tenant=tenant,
        method=pf.method,
        state=TenantMove.State.PREFLIGHT,
        source_host=src.host,
        source_port=src.port,
        target_host=target.host,
        target_port=target.port,
        source_admin_encrypted=source_admin.encrypted(),
        target_admin_encrypted=target.encrypted(),
        previous_status=tenant.status,
        keep_source=keep_source,
        requested_by=acting_user if _is_user(acting_user) else None,
        pid=os.getpid(),
        hostname=socket.gethostname(),
        heartbeat_at=timezone.now(),
        report={
            "preflight": [asdict(c) for c in pf.checks],
            "method_note": pf.note,
            "verify_before_switch": verify_before_switch,
        },
    )
    return move, pf


def _is_user(user: Any) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def run(move: TenantMove, out: Callable[[str], None] | None = None) -> TenantMove:
    """Carry the move out; on any failure (or interruption) roll it back and re-raise."""
    mover = _Mover(move, out)
    return mover.run()


class _Mover:
    def __init__(self, move: TenantMove, out: Callable[[str], None] | None) -> None:
        self.move = move
        self.out = out
        self.tenant = move.tenant
        self.src_admin = Endpoint.decrypted(move.source_admin_encrypted)
        self.dst_admin = Endpoint.decrypted(move.target_admin_encrypted)
        password = crypto.decrypt(self.tenant.db_password_encrypted)
        self.role, self.db = self.tenant.db_user, self.tenant.db_name
        self.src = Endpoint(move.source_host, move.source_port, self.role, password, self.db)
        self.dst = Endpoint(move.target_host, move.target_port, self.role, password, self.db)
        self.password = password
        self.started = time.monotonic()
        self.frozen_at: float | None = None
        self._beat_stop = threading.Event()

    # -- bookkeeping
    def say(self, msg: str) -> None:
        line = {"at": timezone.now().isoformat(timespec="seconds"), "msg": msg}
        self.move.progress = [*self.move.progress, line]
        self.move.heartbeat_at = timezone.now()
        self.move.save(update_fields=["progress", "heartbeat_at"])
        log.info("tenant.move", slug=self.tenant.slug, msg=msg)
        if self.out:
            self.out(msg)

    def state(self, state: str) -> None:
        self.move.state = state
        self.move.heartbeat_at = timezone.now()
        self.move.save(update_fields=["state", "heartbeat_at"])
        self.hold(state)

    def hold(self, point: str) -> None:
        spec = os.environ.get(HOLD_ENV, "")
        if spec.partition(":")[0] == point:
            self.say(f"holding at {point} ({HOLD_ENV})")
            time.sleep(float(spec.partition(":")[2] or 60))

    def _heartbeat(self) -> None:
        try:
            while not self._beat_stop.wait(10):
                TenantMove.objects.filter(pk=self.move.pk).update(heartbeat_at=timezone.now())
        finally:
            connections.close_all()

    # -- the whole move
    def run(self) -> TenantMove:
        beat = threading.Thread(target=self._heartbeat, name="move-heartbeat", daemon=True)
        beat.start()
        try:
            snapshot = self.copy_freeze_switch()
            if snapshot is not None:
                self.check_after_switch(snapshot)
        except BaseException as exc:
            interrupted = not isinstance(exc, Exception)
            self.say(("interrupted" if interrupted else "failed") + f": {_pg_error(exc)}")
            if self.move.state != TenantMove.State.SWITCHED:
                rollback(self.move, aborted=interrupted, error=_pg_error(exc), out=self.out)
            raise
        finally:
            self._beat_stop.set()
            beat.join(timeout=5)
        self.finish_source()
        return self.move

    def copy_freeze_switch(self) -> psycopg.Connection | None:
        """Everything up to the switch. Returns the cut-over snapshot to verify in afterwards,
        or None when the verification already ran in the freeze (verify_before_switch)."""
        self.say(
            f"moving {self.tenant.slug} from {self.src.where} to {self.dst.where} "
            f"by {self.move.get_method_display().lower()}"
        )
        if self.move.report.get("method_note"):
            self.say(self.move.report["method_note"])
        self.state(TenantMove.State.COPYING)
        self.say(f"creating role and database {self.db} on the target")
        create_tenant_database(self.dst_admin, self.role, self.password, self.db)
        if self.move.method == TenantMove.Method.LOGICAL:
            self.copy_logical()
            self.freeze()
            self.catch_up()
        else:
            self.freeze()
            self.copy_dump()
        self.prepare_switch()
        if self.move.report.get("verify_before_switch"):
            self.check()
            self.switch()
            return None
        snapshot = self.snapshot()
        try:
            self.switch()
        except BaseException:
            snapshot.close()
            raise
        return snapshot

    # -- copy
    def copy_logical(self) -> None:
        self.say("copying the schema")
        dump = subprocess.Popen(
            [
                tool("pg_dump"),
                "--schema-only",
                "--no-owner",
                "--no-privileges",
                "--no-publications",
                "--no-subscriptions",
            ],
            env=self.src.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        load = subprocess.run(
            [tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-o", os.devnull],
            env=self.dst.env(),
            stdin=dump.stdout,
            capture_output=True,
            text=True,
        )
        dump.stdout.close()  # type: ignore[union-attr]
        dump_err = dump.stderr.read().decode()  # type: ignore[union-attr]
        if dump.wait() != 0 or load.returncode != 0:
            raise MoveError(f"copying the schema failed: {dump_err or load.stderr}".strip())
        marker = sql.SQL("CREATE TABLE IF NOT EXISTS public.{} (id int PRIMARY KEY, token text)")
        with self.src_admin.connect(self.db) as conn:
            conn.execute(marker.format(sql.Identifier(MARKER)))
            conn.execute(
                sql.SQL("CREATE PUBLICATION {} FOR ALL TABLES").format(sql.Identifier(PUBLICATION))
            )
        slot = slot_name(self.move)
        with self.dst_admin.connect(self.db) as conn:
            conn.execute(marker.format(sql.Identifier(MARKER)))
            self.say("starting the subscription: rows copy while the tenant keeps working")
            conn.execute(
                sql.SQL(
                    "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} "
                    "WITH (slot_name = {}, copy_data = true)"
                ).format(
                    sql.Identifier(slot),
                    sql.Literal(self.src_admin.conninfo(self.db)),
                    sql.Identifier(PUBLICATION),
                    sql.Literal(slot),
                )
            )
        deadline = time.monotonic() + SYNC_TIMEOUT_SECONDS
        last = None
        with self.dst_admin.connect(self.db) as conn:
            while True:
                total, ready = conn.execute(
                    """SELECT count(*), count(*) FILTER (WHERE srsubstate IN ('r', 's'))
                       FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
                       WHERE s.subname = %s""",
                    [slot],
                ).fetchone()
                if (total, ready) != last:
                    self.say(f"initial copy: {ready} of {total} tables copied")
                    last = (total, ready)
                if total and ready == total:
                    break
                if time.monotonic() > deadline:
                    raise MoveError("the initial copy did not finish in time")
                time.sleep(0.3)
        self.hold("copied")

    def copy_dump(self) -> None:
        self.say("copying by pg_dump | pg_restore while writes are frozen")
        dump = subprocess.Popen(
            [tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges"],
            env=self.src.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        load = subprocess.run(
            [
                tool("pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--dbname",
                self.db,
            ],
            env=self.dst.env(),
            stdin=dump.stdout,
            capture_output=True,
            text=True,
        )
        dump.stdout.close()  # type: ignore[union-attr]
        dump_err = dump.stderr.read().decode()  # type: ignore[union-attr]
        if dump.wait() != 0 or load.returncode != 0:
            raise MoveError(f"dump and restore failed: {dump_err or load.stderr}".strip())
        self.hold("copied")

    # -- freeze
    def freeze(self) -> None:
        self.say("freezing writes")
        updated = Tenant.objects.filter(pk=self.tenant.pk, status=self.move.previous_status).update(
            status=Tenant.Status.MOVING, updated_at=timezone.now()
        )
        if not updated:
            raise MoveError("the tenant's status changed during the move")
        self.frozen_at = time.monotonic()
        self.move.frozen_at = timezone.now()
        self.move.save(update_fields=["frozen_at"])
        # Requests and tasks that passed the status check a moment ago may finish first.
        time.sleep(FREEZE_GRACE_SECONDS)
        with self.src_admin.connect() as conn:
            conn.execute(
                sql.SQL(
                    "ALTER ROLE {} IN DATABASE {} SET default_transaction_read_only = on"
                ).format(sql.Identifier(self.role), sql.Identifier(self.db))
            )
            killed = _end_sessions(conn, self.role, self.db)
        self.say(f"writes frozen ({killed} open session(s) of the tenant ended)")
        self.state(TenantMove.State.FROZEN)

    def catch_up(self) -> None:
        token = secrets.token_hex(8)
        with self.src_admin.connect(self.db) as conn:
            conn.execute(
                sql.SQL(
                    "INSERT INTO public.{} VALUES (1, %s) ON CONFLICT (id) DO UPDATE "
                    "SET token = excluded.token"
                ).format(sql.Identifier(MARKER)),
                [token],
            )
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_SECONDS
        with self.dst_admin.connect(self.db) as conn:
            while True:
                row = conn.execute(
                    sql.SQL("SELECT token FROM public.{} WHERE id = 1").format(
                        sql.Identifier(MARKER)
                    )
                ).fetchone()
                if row and row[0] == token:
                    break
                if time.monotonic() > deadline:
                    raise MoveError("the target did not catch up with the source in time")
                time.sleep(0.05)
        self.say("target caught up with the frozen source")
        _drop_subscription(self.dst_admin, self.db, slot_name(self.move))
        _drop_slots(self.src_admin, self.db)
        with self.dst_admin.connect(self.db) as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS public.{}").format(sql.Identifier(MARKER)))

    # -- proof
    def prepare_switch(self) -> None:
        """In the freeze, the cheap part of the proof: same tables and migrations on both
        sides, and sequences set (the tenant writes on the target right after the switch)."""
        with self.src.connect() as a, self.dst.connect() as b:
            src_tables = {t["name"] for t in _tables(a.cursor())}
            dst_tables = {t["name"] for t in _tables(b.cursor())}
        if src_tables != dst_tables:
            raise MoveError(f"the tables differ: {sorted(src_tables ^ dst_tables)[:5]}")
        if migration_state(self.src) != migration_state(self.dst):
            raise MoveError("verification failed: the migrations differ")
        sequences = set_sequences(self.src, self.dst)
        self.move.report = {**self.move.report, "sequences": sequences}
        self.move.save(update_fields=["report"])
        if not all(s["ok"] for s in sequences):
            raise MoveError("verification failed: a sequence is below its column's maximum")

    def snapshot(self) -> psycopg.Connection:
        """A read-only transaction on the target holding the state at the cut-over, for the
        verification after the switch: the frozen source never changes again."""
        conn = self.dst.connect(autocommit=False)
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        conn.execute("SELECT 1")  # the snapshot is taken by the first statement
        return conn

    def check(self, snapshot: psycopg.Connection | None = None) -> None:
        when = "after the switch, against the cut-over snapshot" if snapshot else "in the freeze"
        self.say(f"verifying {when}: row counts and ordered checksums of every table")
        began = time.monotonic()
        result = verify(self.src, self.dst, snapshot)
        result["sequences"] = self.move.report.get("sequences", [])
        result["sequences_ok"] = all(s["ok"] for s in result["sequences"])
        result["when"] = "after switch" if snapshot else "before switch"
        self.move.verify_seconds = round(time.monotonic() - began, 3)
        self.move.report = {**self.move.report, "verification": result}
        self.move.save(update_fields=["report", "verify_seconds"])
        bad = [n for n, t in result["tables"].items() if not t["ok"]]
        if bad:
            raise MoveError(
                f"verification failed: {len(bad)} table(s) differ: {', '.join(bad[:5])}"
            )
        if not result["migrations"]["same"]:
            raise MoveError("verification failed: the migrations differ")
        self.say(
            f"verified: {len(result['tables'])} tables, {result['rows']} rows, "
            f"{len(result['sequences'])} sequences, {result['migrations']['target']} "
            f"migrations, all equal ({self.move.verify_seconds:.2f} s)"
        )

    def check_after_switch(self, snapshot: psycopg.Connection) -> None:
        try:
            self.check(snapshot)
        except Exception as exc:
            # Too late to roll back (the tenant has written on the target): keep the frozen old
            # copy, locked, so the difference can be examined, and say so loudly.
            self.move.error = f"{_pg_error(exc)}; the old copy is kept, locked, on the source"
            self.move.keep_source = True
            self.move.save(update_fields=["error", "keep_source"])
            self.say(f"VERIFICATION FAILED after the switch: {self.move.error}")
            log.error("tenant.move_verification_failed", slug=self.tenant.slug, move=self.move.pk)
        finally:
            snapshot.close()

    # -- switch
    def switch(self) -> None:
        with transaction.atomic():
            Tenant.objects.filter(pk=self.tenant.pk).update(
                db_host=self.dst.host,
                db_port=self.dst.port,
                status=self.move.previous_status,
                updated_at=timezone.now(),
            )
            self.move.state = TenantMove.State.SWITCHED
            self.move.unfrozen_at = timezone.now()
            self.move.freeze_seconds = round(time.monotonic() - (self.frozen_at or 0), 3)
            self.move.save(update_fields=["state", "unfrozen_at", "freeze_seconds"])
        tenancy.unregister(self.tenant.slug)
        self.tenant.refresh_from_db()
        due.mark(self.tenant.pk)
        self.say(
            f"switched to {self.dst.where}: writes open again after "
            f"{self.move.freeze_seconds:.2f} s"
        )
        self.hold("switched")

    def finish_source(self) -> None:
        finish(self.move, out=self.out)
        self.move.total_seconds = round(time.monotonic() - self.started, 3)
        self.move.save(update_fields=["total_seconds"])
        with contextlib.suppress(Exception), tenancy.use_tenant(self.tenant):
            activity.record(
                "tenant.moved",
                "tenant",
                self.tenant.pk,
                self.tenant.name,
                {
                    "from": f"{self.move.source_host}:{self.move.source_port}",
                    "to": f"{self.move.target_host}:{self.move.target_port}",
                    "method": self.move.method,
                    "freeze_seconds": self.move.freeze_seconds,
                },
                self.move.requested_by,
            )


def slot_name(move: TenantMove) -> str:
    return f"dbtools_move_{move.pk}"


def _end_sessions(conn: psycopg.Connection, role: str, db: str) -> int:
    """End the tenant role's sessions on its database and wait until they are gone: a
    transaction that was committing when the freeze came must be in the WAL before the marker."""
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    try:
        pids = [
            r[0]
            for r in conn.execute(
                """SELECT pid FROM pg_stat_activity WHERE usename = %s AND datname = %s
               AND pid <> pg_backend_pid()""",
                [role, db],
            )
        ]
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        conn.execute("RESET ROLE")
    deadline = time.monotonic() + 10
    while pids and time.monotonic() < deadline:
        left = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]
        ).fetchone()[0]
        if not left:
            break
        time.sleep(0.05)
    return len(pids)


def _drop_subscription(admin: Endpoint, db: str, name: str) -> None:
    """Drop the subscription without relying on the source: detach it from its slot first (the
    slots are dropped on the source by _drop_slots)."""
    with admin.connect() as conn:
        if not database_exists(conn.cursor(), db):
            return
    with admin.connect(db) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_subscription WHERE subname = %s AND subdbid = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
            [name],
        ).fetchone()
        if not exists:
            return
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(ident))
        conn.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = NONE)").format(ident))
        conn.execute(sql.SQL("DROP SUBSCRIPTION {}").format(ident))


def _drop_slots(admin: Endpoint, db: str) -> None:
    """Drop every replication slot of the tenant's database on the source (ours: the move's
    slot and the table-sync slots), ending the WAL senders that still hold them."""
    deadline = time.monotonic() + 15
    with admin.connect() as conn:
        while True:
            slots = conn.execute(
                "SELECT slot_name, active_pid FROM pg_replication_slots WHERE database = %s", [db]
            ).fetchall()
            if not slots:
                return
            for name, pid in slots:
                try:
                    if pid:
                        conn.execute("SELECT pg_terminate_backend(%s)", [pid])
                    else:
                        conn.execute("SELECT pg_drop_replication_slot(%s)", [name])
                except psycopg.Error:
                    if time.monotonic() > deadline:
                        raise
            if time.monotonic() > deadline:
                raise MoveError(f"replication slots still held: {[s[0] for s in slots]}")
            time.sleep(0.1)


def _unfreeze_source(admin: Endpoint, role: str, db: str) -> None:
    with admin.connect() as conn:
        if role_exists(conn.cursor(), role) and database_exists(conn.cursor(), db):
            conn.execute(
                sql.SQL("ALTER ROLE {} IN DATABASE {} RESET default_transaction_read_only").format(
                    sql.Identifier(role), sql.Identifier(db)
                )
            )


def _clean_source_db(admin: Endpoint, db: str) -> None:
    """Publication and marker table in the tenant's database on the source (superuser only:
    a non-superuser source admin never created them)."""
    with admin.connect() as conn:
        if not is_superuser(conn.cursor()) or not database_exists(conn.cursor(), db):
            return
    with admin.connect(db) as conn:
        conn.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(PUBLICATION)))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS public.{}").format(sql.Identifier(MARKER)))


def rollback(
    move: TenantMove, *, aborted: bool, error: str = "", out: Callable[[str], None] | None = None
) -> TenantMove:
    """Undo a move that did not switch: the tenant stays on (and is writable on) its source; the
    target's copy, the subscription, the slots, the publication and the marker go. Each step runs
    even when an earlier one failed; what could not be cleaned is kept in the report."""
    tenant = Tenant.objects.get(pk=move.tenant_id)
    if (tenant.db_host, tenant.db_port) == (move.target_host, move.target_port):
        raise MoveError(
            "the tenant already lives on the target: a switched move is finished, not rolled back"
        )
    src_admin = Endpoint.decrypted(move.source_admin_encrypted)
    dst_admin = Endpoint.decrypted(move.target_admin_encrypted)
    role, db = tenant.db_user, tenant.db_name
    problems = []
    steps: list[tuple[str, Callable[[], None]]] = [
        ("drop the subscription", lambda: _drop_subscription(dst_admin, db, slot_name(move))),
        ("drop the replication slots", lambda: _drop_slots(src_admin, db)),
        ("drop the publication and marker", lambda: _clean_source_db(src_admin, db)),
        ("drop the target's copy", lambda: drop_tenant_database(dst_admin, role, db)),
        ("open writes on the source", lambda: _unfreeze_source(src_admin, role, db)),
    ]
    if move.state == TenantMove.State.PREFLIGHT:
        steps = steps[4:]  # nothing was created yet
    for label, fn in steps:
        try:
            fn()
        except Exception as exc:
            problems.append(f"{label}: {_pg_error(exc)}")
            log.exception("tenant.move_rollback_step_failed", step=label, move=move.pk)
    Tenant.objects.filter(pk=tenant.pk, status=Tenant.Status.MOVING).update(
        status=move.previous_status, updated_at=timezone.now()
    )
    due.mark(tenant.pk)
    move.state = TenantMove.State.ABORTED if aborted else TenantMove.State.FAILED
    move.error = error or move.error
    move.finished_at = timezone.now()
    if move.frozen_at and not move.freeze_seconds:
        move.freeze_seconds = round((move.finished_at - move.frozen_at).total_seconds(), 3)
    move.report = {**move.report, "rollback_problems": problems}
    move.progress = [
        *move.progress,
        {
            "at": move.finished_at.isoformat(timespec="seconds"),
            "msg": "rolled back: the tenant stays on its old server"
            + (f" (left to clean by hand: {'; '.join(problems)})" if problems else ""),
        },
    ]
    move.save()
    if out:
        out(move.progress[-1]["msg"])
    return move


def finish(move: TenantMove, out: Callable[[str], None] | None = None) -> TenantMove:
    """After the switch: remove (or lock, with keep_source) the old copy on the source."""
    tenant = Tenant.objects.get(pk=move.tenant_id)
    src_admin = Endpoint.decrypted(move.source_admin_encrypted)
    dst_admin = Endpoint.decrypted(move.target_admin_encrypted)
    role, db = tenant.db_user, tenant.db_name
    problems = []
    steps: list[tuple[str, Callable[[], None]]] = [
        ("drop the subscription", lambda: _drop_subscription(dst_admin, db, slot_name(move))),
        ("drop the replication slots", lambda: _drop_slots(src_admin, db)),
        ("drop the publication and marker", lambda: _clean_source_db(src_admin, db)),
    ]
    if not move.report.get("verification", {}).get("tables_ok"):
        # No complete proof (the mover died while verifying after the switch, or it found a
        # difference): the frozen old copy is the evidence, so it stays.
        move.keep_source = True
    if move.keep_source:
        steps.append(("lock the old copy", lambda: _lock_old_copy(src_admin, role, db)))
    else:
        steps.append(("drop the old copy", lambda: drop_tenant_database(src_admin, role, db)))
    for label, fn in steps:
        try:
            fn()
        except Exception as exc:
            problems.append(f"{label}: {_pg_error(exc)}")
            log.exception("tenant.move_finish_step_failed", step=label, move=move.pk)
    move.state = TenantMove.State.DONE
    move.finished_at = timezone.now()
    move.report = {**move.report, "cleanup_problems": problems}
    msg = (
        "done: the old copy is "
        + ("kept, locked" if move.keep_source else "dropped")
        + (f" (left to clean by hand: {'; '.join(problems)})" if problems else "")
    )
    move.progress = [
        *move.progress,
        {"at": move.finished_at.isoformat(timespec="seconds"), "msg": msg},
    ]
    move.save()
    if out:
        out(msg)
    return move


def _lock_old_copy(admin: Endpoint, role: str, db: str) -> None:
    with admin.connect() as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} IN DATABASE {} SET default_transaction_read_only = on").format(
                sql.Identifier(role), sql.Identifier(db)
            )
        )
        conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(move: TenantMove) -> bool:
    if not move.is_running:
        return False
    if move.hostname == socket.gethostname() and move.pid:
        return not _pid_alive(move.pid)
    age = (timezone.now() - (move.heartbeat_at or move.started_at)).total_seconds()
    return age > STALE_SECONDS


def recover(move: TenantMove, out: Callable[[str], None] | None = None) -> TenantMove:
    """Clean up after a move whose process died: finish it if it had switched, else roll back."""
    if move.state == TenantMove.State.SWITCHED:
        return finish(move, out=out)
    return rollback(move, aborted=True, error=move.error or "the mover stopped mid-way", out=out)


def recover_stale(
    tenant: Tenant | None = None, out: Callable[[str], None] | None = None
) -> list[TenantMove]:
    moves = TenantMove.objects.filter(state__in=TenantMove.RUNNING_STATES).select_related("tenant")
    if tenant is not None:
        moves = moves.filter(tenant=tenant)
    done = []
    for move in moves:
        if is_stale(move):
            done.append(recover(move, out=out))
    return done


def run_task(move_id: int) -> str:
    """Django-Q entry point for the super-admin action."""
    close_old_connections()
    # Claimed by a conditional UPDATE: a task delivered twice runs the move once, and a queued
    # move that was cleaned up meanwhile (recover) does not start.
    claimed = TenantMove.objects.filter(
        pk=move_id, state=TenantMove.State.PREFLIGHT, pid__isnull=True
    ).update(pid=os.getpid(), hostname=socket.gethostname(), heartbeat_at=timezone.now())
    if not claimed:
        return "not started: already running or cleaned up"
    move = TenantMove.objects.select_related("tenant").get(pk=move_id)
    try:
        run(move)
    except Exception as exc:
        return f"failed: {_pg_error(exc)}"
    return "done"


def format_report(move: TenantMove) -> list[str]:
    """The move's figures as text lines (the command prints them; the page shows them too)."""
    lines = [
        f"Move #{move.pk} of {move.tenant.slug}: {move.get_state_display()} "
        f"({move.get_method_display() or 'no method'})",
        f"  from {move.source_host}:{move.source_port} to {move.target_host}:{move.target_port}",
    ]
    for label, value in (
        ("write freeze", move.freeze_seconds),
        ("verification", move.verify_seconds),
        ("total", move.total_seconds),
    ):
        if value is not None:
            lines.append(f"  {label}: {value:.2f} s")
    if move.error:
        lines.append(f"  error: {move.error}")
    v = move.report.get("verification")
    if v:
        lines.append(f"  {'table':<44} {'rows src':>10} {'rows dst':>10}  checksum")
        for name, t in v["tables"].items():
            same = "equal" if t["ok"] else "DIFFERENT"
            lines.append(
                f"  {name:<44} {t['source_rows']!s:>10} {t['target_rows']!s:>10}  "
                f"{same} {(t['target_checksum'] or '')[:12]}"
            )
        for s in v.get("sequences", []):
            lines.append(
                f"  sequence {s['sequence']}: {s['target_last']} "
                f"(column max {s['column_max']}) {'ok' if s['ok'] else 'TOO LOW'}"
            )
        m = v["migrations"]
        lines.append(
            f"  migrations: {m['source']} on the source, {m['target']} on the target, "
            + ("same" if m["same"] else f"DIFFERENT {m['differences']}")
        )
    return lines


def recover_task() -> str:
    """Every few minutes: a tenant left frozen by a mover that died goes back to work."""
    recovered = recover_stale()
    return f"{len(recovered)} interrupted move(s) cleaned up"

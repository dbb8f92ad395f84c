"""DbTools' monitoring objects on a simulated instance: deployment DDL and the collection procedure.

What DbTools sends (``servers/monitoring_objects.py`` and ``servers/monitoring_sql/*.sql``) is
recognised by shape, not by exact text: whitespace, comments and letter case of keywords may
change; object names must be right.

Deployment (objects live in the session's database, ``master`` for DbTools; remembered per
instance for the life of the process, across client connections and simulated restarts):

- ``SELECT HAS_PERMS_BY_NAME(...) AS a, HAS_PERMS_BY_NAME(...) AS b, ...``: VIEW SERVER STATE
  from the login (live), CREATE PROCEDURE/TABLE/SCHEMA (and ALTER, CONTROL) from its
  ``can_deploy`` right (default granted; steer it with ``set_can_deploy``).
- ``SELECT OBJECT_ID(N'schema.name'[, N'U'|N'P'])`` and ``SCHEMA_ID``; ``IF OBJECT_ID(...) IS
  NULL <statement>`` / ``IF SCHEMA_ID(...) IS NULL <statement>``; ``EXEC(N'...')``.
- ``CREATE SCHEMA``, ``CREATE TABLE``, ``CREATE|ALTER|CREATE OR ALTER PROCEDURE`` (text and
  SHA-256 kept); without the right: error 262 "CREATE ... permission denied in database".
- ``DbTools.Config``: the version upsert batch (``DECLARE @v ... = ?; UPDATE ...; IF @@ROWCOUNT
  = 0 INSERT ...``), single UPDATE/INSERT, ``SELECT [CAST(]value[ AS int)] ... WHERE name = N'x'``.
- ``SELECT o.name, o.type_desc, o.modify_date FROM sys.objects AS o WHERE o.schema_id =
  SCHEMA_ID(N'DbTools') [AND o.type IN (...)] [ORDER BY o.name]``.

Collection: ``EXEC DbTools.usp_CollectMetrics @last_cpu_record_id = ?`` (RPC or batch) returns
the seven result sets of ``030_collect_metrics.sql`` from the instance's simulated clock
(``ms_ticks``); 2812 before deployment, nothing from the ``AS RETURN 0`` stub, 300/297 without
VIEW SERVER STATE.  ``DBCC SQLPERF('sys.dm_os_wait_stats', CLEAR)`` clears the wait stats.

Steering added to :class:`sqlsim.fleet.Fleet` / ``FleetThread`` and the control client
(``SqlsimFleet``), and to the control port's ``POST /instances/NAME/steer`` body:

==========================================  =====================================================
``restart(name)``                           ``{"restart": true}``: a service restart: counters
                                            and ring-buffer record ids start again from small
                                            values, ``sqlserver_start_time`` moves, ``ms_ticks``
                                            (the machine's uptime) keeps counting; open
                                            connections are dropped; deployed objects stay.
``clear_wait_stats(name)``                  ``{"clear_wait_stats": true}`` (like DBCC SQLPERF)
``set_can_deploy(name, granted, login)``    ``{"can_deploy": false[, "login": "dbtools"]}``
``set_permissions(name, login, **perms)``   ``{"permissions": {"VIEW ANY DEFINITION": false}[,
                                            "login": "dbtools"]}``: one permission apart from
                                            ``can_deploy`` (which grants all of them)
``steer(name, odd_cpu_records=True)``       ``{"odd_cpu_records": true}``: SystemHealth
                                            records as some hardware writes them: every 5th
                                            without ProcessUtilization, every 7th without
                                            SystemIdle, ProcessUtilization on a base of 100 per
                                            NUMA node (``{"numa_nodes": 2}``)
``steer(name, requests={...})``             ``{"requests": {"user": 3, "blocked": 1,
                                            "latch_waits": 4, "system_over_50": 6}}``: the
                                            rows of sys.dm_exec_requests (``null``: from load)
``steer(name, memory_pressure=True)``       ``{"memory_pressure": true}``: another process eats
                                            the OS reserve: low-memory signals, SQL Server
                                            trimmed, memory grants pending
``steer(name, failover="SQLAG02")``         ``{"failover": "SQLAG02"}`` or ``{"failover":
                                            {"replica": ..., "busier": 3, "started_seconds_ago":
                                            ...}}``: the listener reaches another replica
``advance_clock(name, seconds)``            ``{"advance_seconds": 300}``: simulated time passes at
                                            once (new ring-buffer records, counters move on)
``drop_objects(name)``                      ``{"drop_objects": true}``: a DBA dropped them
==========================================  =====================================================

Also ``POST /instances/NAME/restart`` and ``POST /instances/NAME/clear-wait-stats``.  ``reset()``
grants ``can_deploy`` again.  All metric values are computed from a few precomputed rates per
instance when asked for (nothing runs for idle instances; a collection costs well under 1 ms of
server CPU).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
import re
import time
import zlib
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import dbtools_extra
from .control import ControlClient
from .engine import (
    Context,
    Output,
    ResultSet,
    RowCount,
    SqlError,
    _lex_strings,
    col,
    permission_denied_view_server_state,
    registry,
)
from .fleet import Fleet, FleetThread

if TYPE_CHECKING:
    from .server import Instance

PROCEDURE = "DbTools.usp_CollectMetrics"
RING_SIZE = 256  # records kept by RING_BUFFER_SCHEDULER_MONITOR
RING_INTERVAL_MS = 60_000  # one SystemHealth record a minute


# -- helpers on text ------------------------------------------------------------------------------
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_STR = r"[nN]?'(?:[^']|'')*'"
_NAME = r"(?:\[[^\]]+\]|[\w#]+)(?:\.(?:\[[^\]]+\]|[\w#]+)){0,2}"


def plain(sql: str) -> str:
    """Comments removed, whitespace collapsed, case kept (for names and definitions)."""
    out = []
    for kind, text in _lex_strings(sql):
        out.append(_COMMENT.sub(" ", text) if kind == "code" else text)
    return re.sub(r"\s+", " ", "".join(out)).strip().rstrip(";").strip()


def unquote(literal: str) -> str:
    body = literal[1:] if literal[:1] in "nN" else literal
    return body[1:-1].replace("''", "'")


def split_name(text: str) -> tuple[str, str]:
    """``[DbTools].[Config]`` -> ("DbTools", "Config"); one part -> dbo; three -> db dropped."""
    parts = [p.strip().strip("[]") for p in re.findall(r"\[[^\]]+\]|[^.]+", text.strip())]
    if len(parts) >= 3:
        parts = parts[-2:]
    if len(parts) == 1:
        parts = ["dbo", parts[0]]
    return parts[0], parts[1]


def key_of(schema: str, name: str) -> str:
    return f"{schema.lower()}.{name.lower()}"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# What CONTROL on the DbTools schema gives on the schema and the objects in it.
_IMPLIED_BY_SCHEMA_CONTROL = {"ALTER SCHEMA", "EXECUTE", "INSERT", "UPDATE", "SELECT"}


# -- per-instance deployment state ----------------------------------------------------------------
class Deployment:
    """Schemas, objects and DbTools.Config rows of one instance, plus the can_deploy right.

    Objects are also put in ``Instance.catalog`` (key ``schema.name`` lower-cased) so the
    built-in ``OBJECT_ID()`` sees them.
    """

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.schemas: dict[tuple[str, str], dict[str, Any]] = {}  # (db, schema) -> info
        self.config_rows: dict[str, dict[str, str | None]] = {}  # db -> {name: value}
        self.can_deploy_all = True
        self.can_deploy_logins: dict[str, bool] = {}
        # login -> permission name (upper case) -> granted: what steering set apart from
        # can_deploy, e.g. a least-privilege collector login without VIEW ANY DEFINITION.
        self.permissions: dict[str, dict[str, bool]] = {}
        self.execute_grantees: set[str] = set()  # GRANT EXECUTE ON the procedure TO ...

    @property
    def catalog(self) -> dict[str, Any]:
        return self.inst.catalog

    def new_id(self, db: str, key: str) -> int:
        """Stable per instance and name, shaped like SQL Server's object ids."""
        seed = f"{self.inst.config.server_name}|{db.lower()}|{key}".encode()
        return 0x01000000 | zlib.crc32(seed) & 0x7FFFFFFF

    def can_deploy(self, ctx: Context) -> bool:
        login = ctx.session.login.lower()
        if login in self.can_deploy_logins:
            return self.can_deploy_logins[login]
        entry = None if ctx.session.windows else ctx.config.login(ctx.session.login)
        return self.can_deploy_all and bool(getattr(entry, "can_deploy", True))

    def has(self, ctx: Context, permission: str) -> bool:
        """A permission of the session's login other than VIEW SERVER STATE: as steered, else
        what a db_owner of master with server-wide rights has when can_deploy, and nothing
        otherwise (a login with VIEW SERVER STATE only)."""
        granted = self.permissions.get(ctx.session.login.lower(), {})
        name = permission.upper()
        if name in granted:
            return granted[name]
        if granted.get("CONTROL DATABASE"):
            return True  # CONTROL on the database implies every permission in it
        if name in _IMPLIED_BY_SCHEMA_CONTROL and granted.get("CONTROL SCHEMA"):
            return True
        return self.can_deploy(ctx)

    def execute_granted(self, ctx: Context) -> bool:
        """EXECUTE on the collection procedure: held by its owner's peers (db_owner, CONTROL on
        the schema), granted to the login, or granted to public."""
        return "public" in self.execute_grantees or self.has(ctx, "EXECUTE")

    def set_permissions(self, changes: dict[str, bool], login: str | None = None) -> None:
        logins = [login] if login else [lg.name for lg in self.inst.config.logins]
        for name in logins:
            mine = self.permissions.setdefault(name.lower(), {})
            mine.update({k.upper(): bool(v) for k, v in changes.items()})

    def set_can_deploy(self, granted: bool, login: str | None = None) -> None:
        if login is None:
            self.can_deploy_all = granted
            self.can_deploy_logins.clear()
        else:
            self.can_deploy_logins[login.lower()] = granted

    def schema(self, db: str, name: str) -> dict[str, Any] | None:
        return self.schemas.get((db.lower(), name.lower()))

    def obj(self, db: str, schema: str, name: str, kind: str | None = None) -> dict[str, Any]:
        found = self.catalog.get(key_of(schema, name))
        if (
            isinstance(found, dict)
            and found.get("database", "").lower() == db.lower()
            and (kind is None or found["type"] == kind)
        ):
            return found
        return {}

    def drop_all(self) -> None:
        for key in [k for k, v in self.catalog.items() if isinstance(v, dict) and "sqlsim" in v]:
            del self.catalog[key]
        self.schemas.clear()
        self.config_rows.clear()
        self.execute_grantees.clear()

    def describe(self) -> dict[str, Any]:
        return {
            "can_deploy": self.can_deploy_all,
            "can_deploy_logins": dict(self.can_deploy_logins),
            "permissions": {k: dict(v) for k, v in self.permissions.items()},
            "execute_grantees": sorted(self.execute_grantees),
            "schemas": [f"{db}.{info['name']}" for (db, _), info in self.schemas.items()],
            "objects": [
                {k: v.get(k) for k in ("database", "schema", "name", "type", "hash")}
                for v in self.catalog.values()
                if isinstance(v, dict) and "sqlsim" in v
            ],
            "config": {db: dict(rows) for db, rows in self.config_rows.items()},
        }


def deployment(inst: Instance) -> Deployment:
    dep = inst.__dict__.get("dbtools_deployment")
    if dep is None:
        dep = inst.__dict__["dbtools_deployment"] = Deployment(inst)
    return dep


def _dep(ctx: Context) -> Deployment:
    return deployment(ctx.instance)


def _has_view_server_state(ctx: Context) -> bool:
    """Checked live (a REVOKE applies to open sessions too)."""
    if ctx.session.windows:
        return bool(ctx.config.windows_view_server_state)
    entry = ctx.config.login(ctx.session.login)
    return bool(entry.view_server_state) if entry is not None else ctx.session.view_server_state


def _has_performance_state(ctx: Context) -> bool:
    """VIEW SERVER PERFORMANCE STATE (2022): held through VIEW SERVER STATE, or on its own."""
    granted = _dep(ctx).permissions.get(ctx.session.login.lower(), {})
    return _has_view_server_state(ctx) or granted.get("VIEW SERVER PERFORMANCE STATE", False)


def _denied(ctx: Context, action: str) -> SqlError:
    return SqlError(262, f"{action} permission denied in database '{ctx.session.database}'.", 1, 14)


# -- permissions ----------------------------------------------------------------------------------
_PERM_ITEM = (
    rf"has_perms_by_name ?\( ?(?P<sec>null|db_name ?\( ?\)|{_STR}) ?, ?(?P<cls>null|{_STR}) ?, ?"
    rf"(?P<perm>{_STR}) ?\)(?: as (?P<alias>\[[^\]]+\]|\w+))?"
)
_PERM_RE = re.compile(_PERM_ITEM, re.I)


@registry.statement(rf"(?i)select {_PERM_ITEM}(?: ?, ?{_PERM_ITEM.replace('?P<', '?P<x')})*")
def has_perms(ctx: Context, m: re.Match[str]) -> list[Output]:
    dep = _dep(ctx)
    columns, values = [], []
    for item in _PERM_RE.finditer(m.group(0)):
        sec_class = unquote(item.group("cls")).lower() if item.group("cls") != "null" else ""
        perm = unquote(item.group("perm")).lower()
        sec = item.group("sec")
        if sec_class in ("", "server"):
            if perm in ("view server state", "alter server state"):
                value = int(_has_view_server_state(ctx))
            elif perm == "view server performance state":
                # A permission of SQL Server 2022: earlier versions do not know the name (NULL).
                value = int(_has_performance_state(ctx)) if ctx.config.version >= 2022 else None
            elif perm in ("view any definition", "create any database", "alter any database"):
                value = int(dep.has(ctx, perm.replace("create any", "create")))
            else:
                value = int(perm in ("connect sql", "view any database"))
        elif sec_class == "database":
            if perm in ("connect",):
                value = 1
            elif perm == "control":
                value = int(dep.has(ctx, "CONTROL DATABASE"))
            elif perm.startswith(("create ", "alter", "view definition", "insert", "update")):
                value = int(dep.has(ctx, perm))
            else:
                value = 0
        elif sec_class == "user":
            name = unquote(sec).lower() if sec.startswith(("'", "N'", "n'")) else ""
            value = int(perm == "impersonate" and name == "dbo" and dep.has(ctx, "IMPERSONATE DBO"))
        elif sec_class in ("object", "schema"):
            name = unquote(sec) if sec.startswith(("'", "N'", "n'")) else ""
            exists = (
                bool(dep.obj(ctx.session.database, *split_name(name)))
                if sec_class == "object"
                else dep.schema(ctx.session.database, name) is not None
            )
            if not exists:
                value = None
            elif perm == "execute":
                value = int(dep.execute_granted(ctx))
            elif perm in ("select", "view definition"):
                value = 1
            elif perm == "control":
                value = int(dep.has(ctx, "CONTROL SCHEMA"))
            else:
                value = int(dep.has(ctx, "ALTER SCHEMA"))
        else:
            value = 0
        alias = (item.group("alias") or "").strip("[]")
        columns.append(col(alias, "int"))
        values.append(value)
    return [ResultSet(columns, [tuple(values)])]


# -- OBJECT_ID / SCHEMA_ID ------------------------------------------------------------------------
_KIND_DESC = {"U": "USER_TABLE", "P": "SQL_STORED_PROCEDURE"}


def _object_id(ctx: Context, name_lit: str, kind_lit: str | None) -> int | None:
    schema, name = split_name(unquote(name_lit))
    kind = unquote(kind_lit).strip().upper() if kind_lit else None
    return _dep(ctx).obj(ctx.session.database, schema, name, kind).get("object_id")


def _schema_id(ctx: Context, name_lit: str) -> int | None:
    info = _dep(ctx).schema(ctx.session.database, unquote(name_lit))
    return info["schema_id"] if info else None


_OBJECT_ID_CALL = rf"object_id ?\( ?(?P<obj>{_STR}) ?(?:, ?(?P<kind>{_STR}) ?)?\)"
_SCHEMA_ID_CALL = rf"schema_id ?\( ?(?P<schema>{_STR}) ?\)"


@registry.statement(rf"(?i)select {_OBJECT_ID_CALL}(?: as (?P<alias>\[[^\]]+\]|\w+))?")
def select_object_id(ctx: Context, m: re.Match[str]) -> list[Output]:
    value = _object_id(ctx, m.group("obj"), m.group("kind"))
    return [ResultSet([col((m.group("alias") or "").strip("[]"), "int")], [(value,)])]


@registry.statement(rf"(?i)select {_SCHEMA_ID_CALL}(?: as (?P<alias>\[[^\]]+\]|\w+))?")
def select_schema_id(ctx: Context, m: re.Match[str]) -> list[Output]:
    value = _schema_id(ctx, m.group("schema"))
    return [ResultSet([col((m.group("alias") or "").strip("[]"), "int")], [(value,)])]


@registry.statement(
    rf"(?i)if (?:{_OBJECT_ID_CALL}|{_SCHEMA_ID_CALL}) is (?P<neg>not )?null (?P<rest>.+)"
)
async def if_exists(ctx: Context, m: re.Match[str]) -> list[Output]:
    if m.group("obj"):
        value: int | None = _object_id(ctx, m.group("obj"), m.group("kind"))
    else:
        value = _schema_id(ctx, m.group("schema"))
    if (value is None) == bool(m.group("neg")):
        return []  # condition false: nothing runs
    orig = re.match(
        r"(?is)\s*if\s+(?:object_id|schema_id)\s*\([^)]*\)\s+is\s+(?:not\s+)?null\s+(.*)",
        plain(ctx.sql),
    )
    rest = orig.group(1) if orig else m.group("rest")
    return await ctx.instance.registry.run_batch(
        Context(ctx.instance, ctx.session, rest, ctx.params)
    )


@registry.statement(rf"(?i)exec(?:ute)? ?\( ?(?P<text>{_STR}) ?\)")
async def exec_string(ctx: Context, m: re.Match[str]) -> list[Output]:
    inner = unquote(m.group("text"))
    return await ctx.instance.registry.run_batch(
        Context(ctx.instance, ctx.session, inner, ctx.params)
    )


# -- DDL ------------------------------------------------------------------------------------------
@registry.statement(rf"(?i)create schema (?P<name>{_NAME})(?: authorization (?:\[[^\]]+\]|\w+))?")
def create_schema(ctx: Context, m: re.Match[str]) -> list[Output]:
    dep = _dep(ctx)
    name = re.match(rf"(?i)create schema ({_NAME})", plain(ctx.sql))
    schema = (name.group(1) if name else m.group("name")).strip("[]")
    if not dep.has(ctx, "CREATE SCHEMA"):
        raise _denied(ctx, "CREATE SCHEMA")
    owner = re.search(r"(?i)\bauthorization \[?(\w+)\]?", plain(ctx.sql))
    if owner and owner.group(1).lower() == "dbo" and not dep.has(ctx, "IMPERSONATE DBO"):
        # Making another principal the owner needs IMPERSONATE on it (db_owner has it).
        raise SqlError(
            15151,
            "Cannot find the user 'dbo', because it does not exist or you do not have permission.",
            1,
            16,
        )
    db = ctx.session.database
    if dep.schema(db, schema) is not None:
        raise SqlError(2714, f"There is already an object named '{schema}' in the database.", 6, 16)
    dep.schemas[(db.lower(), schema.lower())] = {
        "name": schema,
        "schema_id": 5 + len([s for s in dep.schemas if s[0] == db.lower()]),
    }
    return []


def _store_object(ctx: Context, schema: str, name: str, kind: str, definition: str) -> None:
    dep = _dep(ctx)
    db = ctx.session.database
    if dep.schema(db, schema) is None and schema.lower() != "dbo":
        raise SqlError(
            2760,
            f'The specified schema name "{schema}" either does not exist or you do not have '
            "permission to use it.",
            1,
            16,
        )
    if schema.lower() != "dbo" and not dep.has(ctx, "ALTER SCHEMA"):
        # Creating an object in a schema needs ALTER on it, besides CREATE TABLE/PROCEDURE.
        raise SqlError(
            2760,
            f'The specified schema name "{schema}" either does not exist or you do not have '
            "permission to use it.",
            1,
            16,
        )
    key = key_of(schema, name)
    existing = dep.obj(db, schema, name)
    now = _utcnow()
    dep.catalog[key] = {
        "sqlsim": "dbtools_objects",
        "object_id": existing.get("object_id") or dep.new_id(db, key),
        "database": db,
        "schema": existing.get("schema", schema),
        "name": existing.get("name", name),
        "type": kind,
        "type_desc": _KIND_DESC[kind],
        "create_date": existing.get("create_date", now),
        "modify_date": now,
        "definition": definition,
        "hash": hashlib.sha256(definition.encode()).hexdigest(),
        "stub": bool(
            re.fullmatch(r"(?is).*?\bas\s+(?:begin\s+)?return(?:\s+0)?;?(?:\s+end)?;?", definition)
        ),
    }


def _exists_error(ctx: Context, schema: str, name: str) -> SqlError:
    return SqlError(2714, f"There is already an object named '{name}' in the database.", 6, 16)


@registry.statement(rf"(?i)create table (?P<name>{_NAME}) ?\((?P<body>.*)\)")
def create_table(ctx: Context, m: re.Match[str]) -> list[Output]:
    dep = _dep(ctx)
    orig = re.match(rf"(?is)create\s+table\s+({_NAME})", plain(ctx.sql))
    schema, name = split_name(orig.group(1) if orig else m.group("name"))
    if not dep.has(ctx, "CREATE TABLE"):
        raise _denied(ctx, "CREATE TABLE")
    if dep.obj(ctx.session.database, schema, name):
        raise _exists_error(ctx, schema, name)
    _store_object(ctx, schema, name, "U", plain(ctx.sql))
    if key_of(schema, name) == "dbtools.config":
        dep.config_rows[ctx.session.database.lower()] = {}
    return []


@registry.batch(
    rf"(?i)(?P<verb>create or alter|create|alter) proc(?:edure)? (?P<name>{_NAME})(?P<rest>\b.*)"
)
def create_procedure(ctx: Context, m: re.Match[str]) -> list[Output]:
    dep = _dep(ctx)
    head = rf"(?is)\s*(?:create\s+or\s+alter|create|alter)\s+proc(?:edure)?\s+({_NAME})"
    orig = re.match(head, _COMMENT.sub(" ", ctx.sql))
    schema, name = split_name(orig.group(1) if orig else m.group("name"))
    verb = m.group("verb").lower()
    db = ctx.session.database
    existing = dep.obj(db, schema, name)
    if verb == "alter" and not existing:
        raise SqlError(208, f"Invalid object name '{schema}.{name}'.", 6, 16)
    if existing and existing["type"] != "P":
        raise _exists_error(ctx, schema, name)
    # ALTER PROCEDURE needs ALTER on the procedure (through its schema); CREATE needs CREATE
    # PROCEDURE in the database and ALTER on the schema (checked when stored).
    if not (dep.has(ctx, "ALTER SCHEMA") if existing else dep.has(ctx, "CREATE PROCEDURE")):
        if existing:
            raise SqlError(
                15151,
                f"Cannot alter the procedure '{name}', because it does not exist or you do not "
                "have permission.",
                1,
                16,
            )
        raise _denied(ctx, "CREATE PROCEDURE")
    if verb == "create" and existing:
        raise _exists_error(ctx, schema, name)
    _store_object(ctx, schema, name, "P", ctx.sql.strip())
    return []


# -- DbTools.Config -------------------------------------------------------------------------------
_CONFIG = r"(?:\[?dbtools\]?\.\[?config\]?)"
_VALUE = rf"(?P<value>@\w+|{_STR}|null|\d+)"


def _config_rows(ctx: Context) -> dict[str, str | None]:
    dep = _dep(ctx)
    if not dep.obj(ctx.session.database, "DbTools", "Config", "U"):
        raise SqlError(208, "Invalid object name 'DbTools.Config'.", 1, 16)
    return dep.config_rows.setdefault(ctx.session.database.lower(), {})


def _value(ctx: Context, token: str, variables: dict[str, Any]) -> str | None:
    low = token.lower()
    if low == "null":
        return None
    if token.startswith("@"):
        if low in variables:
            value = variables[low]
        elif low in ctx.params:
            value = ctx.params[low]
        else:
            raise SqlError(137, f'Must declare the scalar variable "{token}".', 2, 15)
        return None if value is None else str(value)
    if token[:1] in "'nN":
        return unquote(token)
    return token


def _write_denied(ctx: Context, action: str) -> SqlError:
    return SqlError(
        229,
        f"The {action} permission was denied on the object 'Config', database "
        f"'{ctx.session.database}', schema 'DbTools'.",
        5,
        14,
    )


@registry.batch(
    r"(?i)(?P<nocount>set nocount on ?; ?)?"
    rf"declare @(?P<var>\w+) n?varchar ?\( ?(?:\d+|max) ?\) ?= ?(?P<src>@\w+|{_STR}) ?; ?"
    rf"update {_CONFIG} set value ?= ?@(?P=var)(?: ?, ?updated_at ?= ?[\w()]+)? "
    rf"where name ?= ?(?P<key>{_STR}) ?; ?if @@rowcount ?= ?0 "
    rf"insert (?:into )?{_CONFIG} ?\( ?name ?, ?value ?\) values ?\( ?(?P<key2>{_STR}) ?, ?"
    rf"@(?P=var) ?\)"
)
def config_upsert(ctx: Context, m: re.Match[str]) -> list[Output]:
    """The version upsert: the UPDATE's row count goes to the client unless NOCOUNT is on, and
    an error of the INSERT after it reaches an ODBC client only if it reads past that count
    (pyodbc does not): without SET NOCOUNT ON the failure goes unseen."""
    rows = _config_rows(ctx)
    dep = _dep(ctx)
    if not dep.has(ctx, "UPDATE"):
        raise _write_denied(ctx, "UPDATE")
    counts = not m.group("nocount") and ctx.session.options.get("nocount", "").lower() != "on"
    value = _value(ctx, m.group("src"), {})
    name = unquote(m.group("key"))
    if name in rows:
        rows[name] = value
        return [RowCount(1, 0xC5)] if counts else []
    updated: list[Output] = [RowCount(0, 0xC5)] if counts else []
    if not dep.has(ctx, "INSERT"):
        err = _write_denied(ctx, "INSERT")
        err.partial = updated  # type: ignore[attr-defined]
        raise err
    rows[unquote(m.group("key2"))] = value
    return [*updated, RowCount(1, 0xC3)] if counts else []


@registry.statement(
    rf"(?i)update {_CONFIG} set value ?= ?{_VALUE}(?: ?, ?updated_at ?= ?[\w()]+)? "
    rf"where name ?= ?(?P<key>{_STR})"
)
def config_update(ctx: Context, m: re.Match[str]) -> list[Output]:
    rows = _config_rows(ctx)
    if not _dep(ctx).has(ctx, "UPDATE"):
        raise _write_denied(ctx, "UPDATE")
    name = unquote(m.group("key"))
    if name not in rows:
        return [RowCount(0, 0xC5)]
    rows[name] = _value(ctx, m.group("value"), {})
    return [RowCount(1, 0xC5)]


@registry.statement(
    rf"(?i)insert (?:into )?{_CONFIG} ?\( ?name ?, ?value ?\) values ?\( ?(?P<key>{_STR}) ?, ?"
    rf"{_VALUE} ?\)"
)
def config_insert(ctx: Context, m: re.Match[str]) -> list[Output]:
    rows = _config_rows(ctx)
    if not _dep(ctx).has(ctx, "INSERT"):
        raise _write_denied(ctx, "INSERT")
    name = unquote(m.group("key"))
    if name in rows:
        raise SqlError(
            2627,
            "Violation of PRIMARY KEY constraint 'PK_DbTools_Config'. Cannot insert duplicate key "
            f"in object 'DbTools.Config'. The duplicate key value is ({name}).",
            1,
            14,
        )
    rows[name] = _value(ctx, m.group("value"), {})
    return [RowCount(1, 0xC3)]


@registry.statement(
    rf"(?i)select (?:top ?\(?1\)? )?(?P<expr>(?:try_)?cast ?\( ?value as int ?\)|value)"
    rf"(?: as (?P<alias>\[[^\]]+\]|\w+))? from {_CONFIG}(?: with ?\(nolock\))? "
    rf"where name ?= ?(?P<key>{_STR})"
)
def config_select(ctx: Context, m: re.Match[str]) -> list[Output]:
    rows = _config_rows(ctx)
    name = unquote(m.group("key"))
    alias = (m.group("alias") or ("" if "cast" in m.group("expr").lower() else "value")).strip("[]")
    as_int = "cast" in m.group("expr").lower()
    if name not in rows:
        return [ResultSet([col(alias, "int" if as_int else "nvarchar", 4000)], [])]
    value: Any = rows[name]
    if as_int and value is not None:
        try:
            value = int(str(value).strip())
        except ValueError:
            if m.group("expr").lower().startswith("try_"):
                value = None
            else:
                raise SqlError(
                    245,
                    f"Conversion failed when converting the nvarchar value '{value}' to data "
                    "type int.",
                    1,
                    16,
                ) from None
    column = col(alias, "int") if as_int else col(alias, "nvarchar", 4000)
    return [ResultSet([column], [(value,)])]


# -- GRANT ----------------------------------------------------------------------------------------
@registry.statement(
    rf"(?i)grant execute on (?:object ?:: ?)?(?P<name>{_NAME}) to (?P<grantee>\[[^\]]+\]|\w+)"
)
def grant_execute(ctx: Context, m: re.Match[str]) -> list[Output]:
    dep = _dep(ctx)
    orig = re.search(rf"(?i)grant\s+execute\s+on\s+(?:object\s*::\s*)?({_NAME})", plain(ctx.sql))
    schema, name = split_name(orig.group(1) if orig else m.group("name"))
    if not dep.obj(ctx.session.database, schema, name, "P") or not dep.has(ctx, "CONTROL SCHEMA"):
        # Granting needs CONTROL on the object (its owner, db_owner, CONTROL on the schema).
        raise SqlError(
            15151,
            f"Cannot find the object '{name}', because it does not exist or you do not have "
            "permission.",
            1,
            16,
        )
    dep.execute_grantees.add(m.group("grantee").strip("[]").lower())
    return []


# -- sys.objects ----------------------------------------------------------------------------------
@registry.statement(
    r"(?i)select (?P<a>\w+\.)?name, ?(?P=a)?type_desc, ?(?P=a)?modify_date from sys\.objects"
    r"(?: (?:as )?\w+)? where (?P=a)?schema_id ?= ?"
    + _SCHEMA_ID_CALL
    + r"(?: and (?P=a)?type in ?\((?P<types>[^)]*)\))?(?: order by (?P=a)?name(?: asc)?)?"
)
def sys_objects(ctx: Context, m: re.Match[str]) -> list[Output]:
    dep = _dep(ctx)
    db = ctx.session.database.lower()
    schema = unquote(m.group("schema")).lower()
    types = (
        {unquote(t.strip()).strip().upper() for t in m.group("types").split(",")}
        if m.group("types")
        else None
    )
    found = [
        (o["name"], o["type_desc"], o["modify_date"])
        for o in dep.catalog.values()
        if isinstance(o, dict)
        and "sqlsim" in o
        and o["database"].lower() == db
        and o["schema"].lower() == schema
        and (types is None or o["type"] in types)
    ]
    found.sort(key=lambda r: r[0].lower())
    columns = [
        col("name", "nvarchar", 128),
        col("type_desc", "nvarchar", 60),
        col("modify_date", "datetime"),
    ]
    return [ResultSet(columns, found)]


# -- metrics model --------------------------------------------------------------------------------
_CUMULATIVE, _RAW, _RATIO, _BASE = 272696576, 65792, 537003264, 1073939712

# wait type -> (wait ms per second at load 1: low, high; average ms per wait; signal share)
_WAITS: dict[str, tuple[float, float, float, float]] = {
    "CXPACKET": (40, 300, 6.0, 0.12),
    "CXCONSUMER": (20, 150, 9.0, 0.02),
    "PAGEIOLATCH_SH": (20, 200, 8.0, 0.03),
    "PAGEIOLATCH_EX": (5, 60, 9.0, 0.03),
    "WRITELOG": (10, 90, 2.0, 0.05),
    "LCK_M_X": (1, 40, 180.0, 0.01),
    "LCK_M_S": (1, 20, 120.0, 0.01),
    "SOS_SCHEDULER_YIELD": (5, 60, 0.2, 0.99),
    "ASYNC_NETWORK_IO": (10, 120, 12.0, 0.04),
    "PAGELATCH_EX": (2, 30, 1.2, 0.15),
    "LATCH_EX": (2, 25, 3.5, 0.08),
    "RESOURCE_SEMAPHORE": (0.1, 8, 450.0, 0.01),
}
# database -> (I/O weight, data file name, log file name)
_SYSTEM_DBS = {
    "master": (0.02, "master.mdf", "mastlog.ldf"),
    "tempdb": (0.6, "tempdb.mdf", "templog.ldf"),
    "model": (0.004, "model.mdf", "modellog.ldf"),
    "msdb": (0.05, "MSDBData.mdf", "MSDBLog.ldf"),
}
_SYS_DB_IDS = {"master": 1, "tempdb": 2, "model": 3, "msdb": 4}

# Every wait type a real instance lists (Microsoft's documented table, see the data file).
WAIT_NAMES: tuple[str, ...] = tuple(
    line.strip()
    for line in (Path(__file__).parent / "data" / "wait_types.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)
_WAIT_INDEX = {w: i for i, w in enumerate(WAIT_NAMES)}
# Background threads that wait all the time on any instance, busy or not: their counters grow
# with wall-clock time (threads x 1000 ms per second), never with the load.  A monitor must
# filter them out; the list is wider than any one tool's (sp_BlitzFirst, DBA Dash, Paul Randal's)
# so that a filter missing one shows it, as PVS_PREALLOCATE once did.
_BACKGROUND = (
    "BROKER_EVENTHANDLER",
    "BROKER_RECEIVE_WAITFOR",
    "BROKER_TASK_STOP",
    "BROKER_TO_FLUSH",
    "BROKER_TRANSMITTER",
    "CHECKPOINT_QUEUE",
    "CHKPT",
    "CLR_AUTO_EVENT",
    "CLR_MANUAL_EVENT",
    "CLR_SEMAPHORE",
    "DBMIRROR_EVENTS_QUEUE",
    "DIRTY_PAGE_POLL",
    "DISPATCHER_QUEUE_SEMAPHORE",
    "FT_IFTS_SCHEDULER_IDLE_WAIT",
    "FT_IFTSHC_MUTEX",
    "HADR_FILESTREAM_IOMGR_IOCOMPLETION",
    "HADR_CLUSAPI_CALL",
    "HADR_FABRIC_CALLBACK",
    "HADR_LOGCAPTURE_WAIT",
    "HADR_NOTIFICATION_DEQUEUE",
    "HADR_TIMER_TASK",
    "HADR_WORK_QUEUE",
    "KSOURCE_WAKEUP",
    "LAZYWRITER_SLEEP",
    "LOGMGR_QUEUE",
    "MEMORY_ALLOCATION_EXT",
    "ONDEMAND_TASK_QUEUE",
    "PARALLEL_REDO_TRAN_TURN",
    "PREEMPTIVE_HADR_LEASE_MECHANISM",
    "PREEMPTIVE_OS_FLUSHFILEBUFFERS",
    # Preemptive calls into the OS and Extended Events that idle background threads sit in.
    "PREEMPTIVE_OS_AUTHENTICATIONOPS",
    "PREEMPTIVE_OS_AUTHORIZATIONOPS",
    "PREEMPTIVE_OS_COMOPS",
    "PREEMPTIVE_OS_CRYPTOPS",
    "PREEMPTIVE_OS_DEVICEOPS",
    "PREEMPTIVE_OS_GENERICOPS",
    "PREEMPTIVE_OS_GETPROCADDRESS",
    "PREEMPTIVE_OS_LIBRARYOPS",
    "PREEMPTIVE_OS_PIPEOPS",
    "PREEMPTIVE_OS_QUERYREGISTRY",
    "PREEMPTIVE_OS_VERIFYTRUST",
    "PREEMPTIVE_OS_WAITFORSINGLEOBJECT",
    "PREEMPTIVE_XE_CALLBACKEXECUTE",
    "PREEMPTIVE_XE_DISPATCHER",
    "PREEMPTIVE_XE_SESSIONCOMMIT",
    "PREEMPTIVE_XE_TARGETFINALIZE",
    "PREEMPTIVE_XE_TARGETINIT",
    "PREEMPTIVE_SP_SERVER_DIAGNOSTICS",
    "PREEMPTIVE_XE_GETTARGETSTATE",
    "PVS_PREALLOCATE",
    "PWAIT_ALL_COMPONENTS_INITIALIZED",
    "PWAIT_EXTENSIBILITY_CLEANUP_TASK",
    "QDS_ASYNC_QUEUE",
    "QDS_CLEANUP_STALE_QUERIES_TASK_MAIN_LOOP_SLEEP",
    "QDS_PERSIST_TASK_MAIN_LOOP_SLEEP",
    "QDS_SHUTDOWN_QUEUE",
    "REDO_THREAD_PENDING_WORK",
    "REQUEST_FOR_DEADLOCK_SEARCH",
    "RESOURCE_QUEUE",
    "SERVER_IDLE_CHECK",
    "SLEEP_BPOOL_FLUSH",
    "SLEEP_DBSTARTUP",
    "SLEEP_DCOMSTARTUP",
    "SLEEP_MASTERDBREADY",
    "SLEEP_MASTERMDREADY",
    "SLEEP_MASTERUPGRADED",
    "SLEEP_MSDBSTARTUP",
    "SLEEP_SYSTEMTASK",
    "SLEEP_TASK",
    "SLEEP_TEMPDBSTARTUP",
    "SNI_HTTP_ACCEPT",
    "SOS_WORK_DISPATCHER",
    "SP_SERVER_DIAGNOSTICS_SLEEP",
    "SQLTRACE_BUFFER_FLUSH",
    "SQLTRACE_INCREMENTAL_FLUSH_SLEEP",
    "SQLTRACE_WAIT_ENTRIES",
    "STARTUP_DEPENDENCY_MANAGER",
    "UCS_SESSION_REGISTRATION",
    "WAIT_FOR_RESULTS",
    "WAIT_XTP_CKPT_CLOSE",
    "WAIT_XTP_HOST_WAIT",
    "WAIT_XTP_OFFLINE_CKPT_NEW_LOG",
    "WAIT_XTP_RECOVERY",
    "WAITFOR",
    "XE_BUFFERMGR_ALLPROCESSED_EVENT",
    "XE_DISPATCHER_JOIN",
    "XE_DISPATCHER_WAIT",
    "XE_LIVE_TARGET_TVF",
    "XE_TIMER_EVENT",
)
_BACKGROUND_IDX = array("H", sorted(_WAIT_INDEX[w] for w in _BACKGROUND if w in _WAIT_INDEX))


def _unit(i: int, salt: int = 0) -> float:
    """A fixed pseudo-random number in [0, 1) for wait type ``i``: a property of the wait type,
    the same on every instance (its usual duration, its signal share, how its rate drifts)."""
    return (((i + 1) * 2654435761 + salt * 40503) % 1000003) / 1000003.0


# Per wait type, shared by all instances: average ms per wait, signal share, drift period.
_AVG_MS = array("f", (0.05 * 1000 ** _unit(i, 1) for i in range(len(WAIT_NAMES))))
_SIGNAL = array("f", (0.12 * _unit(i, 2) for i in range(len(WAIT_NAMES))))
_OMEGA = array(
    "f", (2 * math.pi / (600.0 * (1 + 35 * _unit(i, 3))) for i in range(len(WAIT_NAMES)))
)
_DRIFT = 0.6  # a wait's rate swings by +/- 60 % around its mean, each on its own period
for _w in _BACKGROUND:
    if _w in _WAIT_INDEX:
        _AVG_MS[_WAIT_INDEX[_w]] = 1000.0 + 30_000 * _unit(_WAIT_INDEX[_w], 4)
        _SIGNAL[_WAIT_INDEX[_w]] = 0.001


_SET1 = [
    col("collected_at", "datetime2", scale=7),
    col("ms_ticks", "bigint"),
    col("sqlserver_start_time", "datetime"),
    col("cpu_count", "int"),
    col("physical_memory_kb", "bigint"),
    col("committed_kb", "bigint"),
    col("committed_target_kb", "bigint"),
]
_SET2 = [
    col("record_id", "bigint"),
    col("event_time", "datetime2", scale=7),
    col("sql_cpu", "int"),
    col("system_idle", "int"),
]
_SET3 = [
    col("total_physical_memory_kb", "bigint"),
    col("available_physical_memory_kb", "bigint"),
    col("system_memory_state_desc", "nvarchar", 256),
    col("physical_memory_in_use_kb", "bigint"),
    col("memory_utilization_percentage", "int"),
    col("process_physical_memory_low", "bit"),
    col("process_virtual_memory_low", "bit"),
]
_SET4 = [
    col("connections", "int"),
    col("user_sessions", "int"),
    col("active_requests", "int"),
    col("blocked_requests", "int"),
]
_SET5 = [
    col("object_name", "nvarchar", 128),
    col("counter_name", "nvarchar", 128),
    col("instance_name", "nvarchar", 128),
    col("cntr_value", "bigint"),
    col("cntr_type", "int"),
]
_SET6 = [
    col("wait_type", "nvarchar", 60),
    col("waiting_tasks_count", "bigint"),
    col("wait_time_ms", "bigint"),
    col("signal_wait_time_ms", "bigint"),
]
_SET7 = [
    col("database_id", "int"),
    col("database_name", "nvarchar", 128),
    col("file_id", "int"),
    col("file_type", "nvarchar", 60),
    col("physical_name", "nvarchar", 260),
    col("num_of_reads", "bigint"),
    col("num_of_bytes_read", "bigint"),
    col("io_stall_read_ms", "bigint"),
    col("num_of_writes", "bigint"),
    col("num_of_bytes_written", "bigint"),
    col("io_stall_write_ms", "bigint"),
    col("size_on_disk_bytes", "bigint"),
    col("sample_ms", "bigint"),
]
_SET7_PER_DATABASE = [
    col("database_id", "int"),
    col("database_name", "nvarchar", 128),
    col("files", "int"),
    col("num_of_reads", "bigint"),
    col("num_of_bytes_read", "bigint"),
    col("io_stall_read_ms", "bigint"),
    col("num_of_writes", "bigint"),
    col("num_of_bytes_written", "bigint"),
    col("io_stall_write_ms", "bigint"),
    col("size_on_disk_bytes", "bigint"),
    col("sample_ms", "bigint"),
]
COLLECTION_COLUMNS = (_SET1, _SET2, _SET3, _SET4, _SET5, _SET6, _SET7)

_JITTER = random.Random()  # shared: per-call noise needs no per-instance generator
_N_PERF = 4  # batch requests, compilations, re-compilations, lock waits


def _noise(k: int) -> float:
    """Deterministic noise in [-1, 1) for minute k."""
    return ((k * 2654435761) % 1000003) / 500001.5 - 1.0


class Metrics:
    """Cumulative counters and the CPU ring buffer of one instance, on its simulated clock.

    Rates are drawn once; each read advances every counter by rate x elapsed x load (one pass
    over ~100 floats).  Ring-buffer records are not stored: record k (written at ms_ticks =
    k minutes) is computed from k, with CPU spikes kept as (from, until, value) intervals.
    """

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.state = inst.state
        cfg = inst.config
        seed = cfg.seed if cfg.seed is not None else zlib.crc32(cfg.server_name.encode())
        rng = random.Random(seed ^ 0x5EED)  # only while drawing the rates: 2.5 KiB each
        st = self.state
        self.base_cpu = float(getattr(st, "base_cpu", rng.uniform(5, 45)))
        self.phase = float(getattr(st, "_phase", rng.uniform(0, 2 * math.pi)))
        self.sessions = int(getattr(st, "user_connections", rng.randint(10, 200)))
        batch = float(getattr(st, "batch_rate", rng.uniform(50, 2500)))
        compiles = batch * rng.uniform(0.02, 0.15)
        rates = [batch, compiles, compiles * rng.uniform(0.01, 0.06), rng.uniform(0.1, 20)]
        self.waits: list[str] = []
        self.wait_boost: list[float] = []
        for wait, (low, high, avg_ms, signal) in _WAITS.items():
            if wait == "CXCONSUMER" and cfg.version < 2017:
                continue
            wait_ms = rng.uniform(low, high)
            rates += [wait_ms / avg_ms, wait_ms, wait_ms * signal]
            self.waits.append(wait)
            self.wait_boost.append(3.0 if wait in ("SOS_SCHEDULER_YIELD", "CXPACKET") else 1.0)
        # Files: two per database (rows, log), described by the database's position only; the
        # paths are built when asked for, so a 300-database instance keeps a few arrays.
        self.folder = (
            f"C:\\Program Files\\Microsoft SQL Server\\MSSQL{cfg.version_info.major}."
            f"{cfg.instance_name or 'MSSQLSERVER'}\\MSSQL\\DATA\\"
        )
        self.data_sizes = array("q")
        for db in cfg.databases:
            low = db.lower()
            if low in _SYSTEM_DBS:
                weight = _SYSTEM_DBS[low][0]
                size = rng.randint(8, 64) * 2**20 if low != "tempdb" else rng.randint(1, 32) * 2**30
            else:
                # Most databases of a big instance are quiet; a few carry the load.
                weight = 1.0 if rng.random() < 0.3 else rng.uniform(0.0, 0.05)
                size = rng.randint(1, 500) * 2**30
            self.data_sizes.append(size)
            read_lat, write_lat = rng.uniform(0.5, 12), rng.uniform(0.3, 4)
            reads = rng.uniform(5, 200) * weight
            writes = rng.uniform(2, 100) * weight
            # Per file: reads, bytes read, read stall; writes, bytes written, write stall.
            rates += [reads, reads * rng.uniform(8192, 65536), reads * read_lat]
            rates += [writes, writes * rng.uniform(8192, 32768), writes * write_lat]
            log_reads = reads * 0.02
            log_writes = writes * rng.uniform(0.8, 2.0)
            log_write_bytes = log_writes * rng.uniform(2048, 61440)
            rates += [log_reads, log_reads * 61440, log_reads * read_lat]
            rates += [log_writes, log_write_bytes, log_writes * rng.uniform(0.2, 2.5)]
        self.rates = array("d", rates)
        self.history = rng.uniform(0.6, 1.0)  # share of the uptime's work already done
        # The long tail of waits: a busy instance has a few hundred non-zero wait types, a quiet
        # one fewer.  Each has a mean rate (ms of wait per second at load 1) and an onset on the
        # instance's work clock; some start after the simulation does, so new wait types appear
        # over the first hours as on a real server.  Counters are a closed form of the work
        # clock (no per-wait state moves), so an instance costs ~10 bytes per wait type.
        named = {_WAIT_INDEX[w] for w in self.waits if w in _WAIT_INDEX}
        background = set(_BACKGROUND_IDX)
        pool = [i for i in range(len(WAIT_NAMES)) if i not in named and i not in background]
        busy = max(0.0, min(1.0, (self.base_cpu - 5) / 40))
        count = min(len(pool), int(120 + 330 * busy + rng.uniform(-30, 30)))
        chosen = sorted(rng.sample(pool, count))
        uptime_work = self.state.ms_ticks / 1000.0 * self.history
        self.boot_work = uptime_work
        self.onset_shift = 0.0
        self.tail_idx = array("H", chosen)
        self.tail_rate = array("f", (0.002 * 10_000 ** rng.random() for _ in chosen))
        self.tail_onset = array(
            "f",
            (
                uptime_work + rng.uniform(60, 6 * 3600)
                if rng.random() < 0.12
                else uptime_work * rng.uniform(0.0, 0.8)
                for _ in chosen
            ),
        )
        self.bg_idx = array("H", (i for i in _BACKGROUND_IDX if self._runs(WAIT_NAMES[i], cfg)))
        self.bg_threads = array("f", (rng.randint(1, 8) for _ in self.bg_idx))
        self.work = self.wall = self.work_cleared = self.wall_cleared = 0.0
        self.bg_filter: tuple[str, frozenset[str]] = ("", frozenset())
        self.wait_base = _N_PERF
        self.file_base = _N_PERF + 3 * len(self.waits)
        self.ple_base = rng.randint(300, 12000)
        self.hit_ratio = rng.uniform(0.97, 0.9995)
        prefix = f"MSSQL${cfg.instance_name}:" if cfg.instance_name else "SQLServer:"
        self.prefix = prefix
        self.counters: array[float] = array("d")
        self.last_ticks = 0
        self.spikes: list[list[float]] = []  # [from_ticks, until_ticks, value]
        self.spike_sig: tuple[Any, Any] = (None, 0.0)
        # ms_ticks counts from the machine's start (sys.dm_os_sys_info); the service started
        # at start_ticks (sqlserver_start_time_ms_ticks). Ring-buffer record ids count from the
        # service's start: record k (written at k minutes of ms_ticks) has id k - ring_k0.
        self.start_ticks = 0
        self.ring_k0 = 0
        # Hardware quirks of the SystemHealth records seen in the field (steer odd_cpu_records):
        # some records lack ProcessUtilization or SystemIdle, and on some NUMA machines
        # ProcessUtilization is on a base of 100 per NUMA node.
        self.odd_cpu = False
        # Steered counts of sys.dm_exec_requests rows (user, blocked, latch_waits,
        # system_over_50); empty: drawn from the load.
        self.requests: dict[str, int] = {}
        self.memory_pressure = False  # steer memory_pressure
        # After an availability group failover the listener reaches another replica: its
        # @@SERVERNAME, and its own (larger) counters. Steer failover.
        self.replica = ""
        self.ring_parsed = 0  # ring records the last collection converted to XML
        self.numa_nodes = max(1, cfg.cpus // 16)
        self.boot(self.state.ms_ticks, fresh=False)

    # -- clock / lifecycle ---------------------------------------------------------------------
    def boot(self, ticks: int, fresh: bool = True, uptime_ms: int | None = None) -> None:
        """Counters as if the service had run ``uptime_ms`` (default: all of ``ticks``, the
        machine's uptime) up to ``ticks``, with some history on a long run."""
        up = (ticks if uptime_ms is None else uptime_ms) / 1000.0
        share = 1.0 if fresh else self.history
        self.counters = array("d", (rate * up * share for rate in self.rates))
        self.work = up * share
        self.wall = up
        self.work_cleared = self.wall_cleared = 0.0
        self.last_ticks = ticks
        self.spikes = []
        self.spike_sig = (None, 0.0)

    def restart(self) -> None:
        """Simulated restart of the SQL Server service (not of the machine): every cumulative
        counter and the ring buffer start again, ring-buffer record ids from 1, while ms_ticks
        keeps counting, as it does on a real server."""
        st = self.state
        boot_ms = _JITTER.randint(15_000, 45_000)
        ticks = st.ms_ticks + boot_ms  # the stop and the start take a while
        st._ms_ticks0 += boot_ms
        self.start_ticks = ticks - boot_ms
        self.ring_k0 = self.start_ticks // RING_INTERVAL_MS
        st.started_wall = time.time() - boot_ms / 1000.0
        if hasattr(st, "batch_requests"):
            st.batch_requests = int(self.rates[0] * boot_ms / 1000)
        for counters in getattr(st, "waits", {}).values():
            counters[0] = counters[1] = 0.0
        if hasattr(st, "cpu_ring"):
            st.cpu_ring.clear()
            st._last_ring_minute = -1
        # Wait types seen before the restart come back at once; the late ones stay late.
        self.onset_shift = -self.boot_work
        self.boot(ticks, uptime_ms=boot_ms)

    def failover(self, replica: str, busier: float = 3.0, started_seconds_ago: float = 0) -> None:
        """The listener now reaches ``replica``: its name, its counters (``busier`` times ours:
        it has done more work), and its start time if ``started_seconds_ago`` is given (else a
        replica started at the same moment as this one)."""
        self.advance(self.state.ms_ticks)
        self.replica = replica
        for i in range(len(self.counters)):
            self.counters[i] *= busier
        if started_seconds_ago:
            self.state.started_wall = time.time() - started_seconds_ago

    def clear_wait_stats(self) -> None:
        self.advance(self.state.ms_ticks)
        for i in range(self.wait_base, self.file_base):
            self.counters[i] = 0.0
        self.work_cleared, self.wall_cleared = self.work, self.wall

    @staticmethod
    def _runs(wait: str, cfg: Any) -> bool:
        """Background waits of features a version does not have stay at zero there."""
        if wait == "PVS_PREALLOCATE":  # accelerated database recovery, 2019 and later
            return cfg.version >= 2019
        if wait == "PWAIT_EXTENSIBILITY_CLEANUP_TASK":  # external scripts, 2016 and later
            return cfg.version >= 2016
        return True

    def advance_clock(self, seconds: float) -> None:
        self.sync_spike(self.state.ms_ticks)
        self.state._ms_ticks0 += int(seconds * 1000)

    # -- CPU -----------------------------------------------------------------------------------
    def sync_spike(self, ticks: int) -> None:
        """Turn a change of the cpu steering into an interval on the simulated clock."""
        s = self.state.steering
        sig = (s.cpu_spike, s.cpu_spike_until)
        if sig == self.spike_sig:
            return
        self.spike_sig = sig
        for spike in self.spikes:
            spike[1] = min(spike[1], ticks)
        if s.cpu_spike is not None:
            left = s.cpu_spike_until - time.monotonic() if s.cpu_spike_until else math.inf
            self.spikes.append([ticks, ticks + max(0.0, left) * 1000, float(s.cpu_spike)])
        horizon = ticks - (RING_SIZE + 1) * RING_INTERVAL_MS
        self.spikes = [sp for sp in self.spikes if sp[1] > horizon]

    def spike_at(self, ticks: float) -> float | None:
        for start, until, value in reversed(self.spikes):
            if start <= ticks < until:
                return value
        return None

    def cpu_at(self, ticks: float, k: int) -> int:
        spike = self.spike_at(ticks)
        if spike is not None:
            return int(max(0.0, min(100.0, spike + 1.5 * _noise(k))))
        wave = 12 * math.sin(ticks / 600_000 + self.phase) + 4 * math.sin(
            ticks / 37_000 + 2 * self.phase
        )
        return int(max(1.0, min(99.0, self.base_cpu + wave + 3 * _noise(k))))

    def ring(
        self, ticks: int, after: int, since_ticks: int | None = None
    ) -> list[tuple[int, int, int | None, int | None]]:
        """(record_id, record ticks, sql_cpu, system_idle) with an id above ``after`` (or, given
        ``since_ticks``, written after it): the records written since the service started,
        the last RING_SIZE of them."""
        last = ticks // RING_INTERVAL_MS
        oldest = max(self.ring_k0 + 1, last - RING_SIZE + 1)
        if since_ticks is None:
            first = max(oldest, self.ring_k0 + after + 1)
        else:
            first = max(oldest, since_ticks // RING_INTERVAL_MS + 1)
        # What the procedure converts to XML: the records its WHERE keeps before CONVERT (all
        # of the ring when it filters on the parsed record id only).
        self.ring_parsed = last + 1 - (first if since_ticks is not None else oldest)
        out = []
        for k in range(first, last + 1):
            at = k * RING_INTERVAL_MS
            cpu: int | None = self.cpu_at(at - 30_000, k)
            other = 2 + int(4 * (1 + _noise(k + 7)))
            idle: int | None = max(0, 100 - cpu - other)
            if self.odd_cpu:
                cpu = None if k % 5 == 0 else cpu * self.numa_nodes
                idle = None if k % 7 == 0 else idle
            out.append((k - self.ring_k0, at, cpu, idle))
        return out

    # -- counters ------------------------------------------------------------------------------
    def advance(self, ticks: int) -> float:
        """Move the cumulative counters to ``ticks``; returns the current CPU %."""
        self.sync_spike(ticks)
        cpu = self.cpu_at(ticks, ticks // RING_INTERVAL_MS)
        elapsed = ticks - self.last_ticks
        if elapsed <= 0:
            if elapsed < 0:  # the clock was reset under us
                self.last_ticks = ticks
            return cpu
        self.last_ticks = ticks
        load = max(0.2, min(5.0, cpu / self.base_cpu))
        f = elapsed / 1000.0 * load * _JITTER.uniform(0.85, 1.15)
        c, r = self.counters, self.rates
        for i in range(self.file_base):
            c[i] += r[i] * f
        if load > 1.5:
            for j, boost in enumerate(self.wait_boost):
                if boost != 1.0:
                    base = self.wait_base + 3 * j
                    for i in (base, base + 1, base + 2):
                        c[i] += r[i] * f * (boost - 1.0)
        self.work += f
        self.wall += elapsed / 1000.0
        g = elapsed / 1000.0 * (0.7 + 0.3 * load)
        for i in range(self.file_base, len(c)):
            c[i] += r[i] * g
        return cpu

    # -- the seven result sets -----------------------------------------------------------------
    def tail_waits(self, excluded: frozenset[str]) -> list[tuple[str, int, int, int]]:
        """Rows of the long tail and of the background waits, as the DMV would list them."""
        rows = []
        work, phase = self.work, self.phase
        names, avg_ms, signal, omega = WAIT_NAMES, _AVG_MS, _SIGNAL, _OMEGA
        cos = math.cos
        for i, rate, onset in zip(self.tail_idx, self.tail_rate, self.tail_onset, strict=True):
            start = max(onset + self.onset_shift, self.work_cleared)
            if work <= start:
                continue  # not waited on yet (or not since the last clear)
            name = names[i]
            if name in excluded:
                continue
            w = omega[i]
            ph = phase + 6.283 * ((i * 0.618) % 1.0)
            # The integral of rate x (1 + A sin(w x + ph)) from start to work: the rate drifts,
            # the counter only ever goes up.
            ms = rate * (work - start + _DRIFT / w * (cos(w * start + ph) - cos(w * work + ph)))
            wait_ms = int(ms)
            if wait_ms > 0:
                rows.append((name, int(ms / avg_ms[i]) + 1, wait_ms, int(ms * signal[i])))
        span = self.wall - self.wall_cleared
        for i, threads in zip(self.bg_idx, self.bg_threads, strict=True):
            name = names[i]
            if name not in excluded and span > 0:
                wait_ms = int(threads * 1000 * span)
                rows.append((name, int(wait_ms / avg_ms[i]) + 1, wait_ms, int(wait_ms * 0.001)))
        return rows

    def collect(
        self,
        last_record_id: int,
        excluded: frozenset[str] = frozenset(),
        shape: ProcShape | None = None,
        sees_master_files: bool = True,
        since_ticks: int | None = None,
    ) -> list[Output]:
        """The result sets the deployed procedure returns; ``shape`` says what its text does
        (filters, joins, grouping), ``sees_master_files`` whether the caller passes the
        metadata visibility rule of sys.master_files."""
        shape = shape or ProcShape()
        st = self.state
        cfg = self.inst.config
        ticks = st.ms_ticks
        cpu = self.advance(ticks)
        now = _utcnow()
        total_kb = cfg.memory_mb * 1024
        minute = ticks // RING_INTERVAL_MS
        # A dedicated server: max server memory leaves the OS 10 % (at least 2 GB); SQL Server
        # holds its target once warm, other processes use part of the reserve, so the OS shows
        # some 90 % in use on a perfectly healthy server. Steered memory pressure: another
        # process eats the reserve, Windows signals low memory, queries wait for grants.
        reserve_kb = max(2 * 1024 * 1024, total_kb // 10)
        target_kb = total_kb - reserve_kb
        committed_kb = int(target_kb * (0.97 + 0.02 * (1 + _noise(minute + 11)) / 2))
        others_kb = int(reserve_kb * (0.35 + 0.1 * (1 + _noise(minute + 13))))
        if self.memory_pressure:
            others_kb = reserve_kb - 64 * 1024
            committed_kb = int(target_kb * 0.8)  # trimmed by the OS
        started = dt.datetime.fromtimestamp(st.started_wall, dt.UTC).replace(tzinfo=None)
        set1 = [(now, ticks, started, cfg.cpus, total_kb, committed_kb, target_kb)]
        columns1 = _SET1
        if shape.numa_nodes:
            columns1 = [*_SET1, col("numa_nodes", "int")]
            set1 = [(*set1[0], self.numa_nodes)]
        if shape.server_name:
            columns1 = [*columns1, col("server_name", "nvarchar", 128)]
            set1 = [(*set1[0], self.replica or cfg.server_name)]

        since = since_ticks if shape.ring_by_timestamp and since_ticks is not None else None
        if since is not None and since > ticks:
            since = None  # the machine restarted: the procedure falls back on record ids
        set2 = [
            (rid, now - dt.timedelta(milliseconds=ticks - at), sql, idle, at)
            for rid, at, sql, idle in self.ring(ticks, last_record_id, since)
        ]
        columns2 = _SET2
        if shape.ring_by_timestamp:
            columns2 = [*_SET2, col("record_ms_ticks", "bigint")]
        else:
            set2 = [r[:4] for r in set2]

        avail_kb = max(32 * 1024, total_kb - committed_kb - others_kb)
        low = self.memory_pressure
        if low:
            state_desc = "Available physical memory is low"
        elif avail_kb > total_kb * 0.25:
            state_desc = "Available physical memory is high"
        else:
            state_desc = "Physical memory usage is steady"
        set3 = [(total_kb, avail_kb, state_desc, committed_kb, 100, low, False)]
        columns3 = _SET3
        if shape.memory_signal:
            columns3 = [*_SET3, col("system_low_memory_signal_state", "bit")]
            set3 = [(*set3[0], low)]

        wave = math.sin(ticks / 900_000 + self.phase)
        open_conns = len(getattr(self.inst, "_conns", ()))
        sessions = max(1, int(self.sessions * (1 + 0.15 * wave)) + open_conns)
        # sys.dm_exec_requests as SQL Server fills it: user requests, some blocked by another
        # session (blocking_session_id > 0); latch waits whose owner is unknown or not tracked
        # (-4, -5: common, says the documentation) that block nobody; system requests, many
        # with a session_id above 50 on current versions; and the collector's own request.
        req = self.requests or {
            "user": max(1, round(cpu / 100 * cfg.cpus * (0.6 + 0.2 * (1 + _noise(minute + 3))))),
            "blocked": 0 if cpu < 80 else 1 + int(2 * (1 + _noise(minute + 5))),
            "latch_waits": 1 + int(3 * (1 + _noise(minute + 9)) * cpu / 100),
            "system_over_50": 4,
        }
        chain = dbtools_extra.blocked_requests(self.inst)
        if chain is not None:
            req = {**req, "blocked": chain}
        if shape.user_requests_only:
            active = req["user"]
        else:  # session_id > 50: system requests and the collector's own count too
            active = req["user"] + req["system_over_50"] + 1
        blocked = req["blocked"] + (0 if shape.blocked_by_sessions_only else req["latch_waits"])
        set4 = [(sessions + 2, sessions, active, blocked)]

        c = self.counters
        p = self.prefix
        uptime_s = (ticks - self.start_ticks) // 1000
        ple = int(min(uptime_s, self.ple_base * (0.8 + 0.2 * wave) * (0.3 if cpu >= 80 else 1.0)))
        hit_base = 1000 + minute % 997
        hits = int(hit_base * self.hit_ratio)
        grants_pending = 3 if self.memory_pressure else 0
        set5 = [
            (p + "SQL Statistics", "Batch Requests/sec", "", int(c[0]), _CUMULATIVE),
            (p + "SQL Statistics", "SQL Compilations/sec", "", int(c[1]), _CUMULATIVE),
            (p + "SQL Statistics", "SQL Re-Compilations/sec", "", int(c[2]), _CUMULATIVE),
            (p + "General Statistics", "User Connections", "", sessions, _RAW),
            (p + "General Statistics", "Processes blocked", "", blocked, _RAW),
            (p + "Memory Manager", "Memory Grants Pending", "", grants_pending, _RAW),
            (p + "Memory Manager", "Target Server Memory (KB)", "", target_kb, _RAW),
            (p + "Memory Manager", "Total Server Memory (KB)", "", committed_kb, _RAW),
            (p + "Buffer Manager", "Page life expectancy", "", ple, _RAW),
            (p + "Locks", "Lock Waits/sec", "_Total", int(c[3]), _CUMULATIVE),
            (p + "Buffer Manager", "Buffer cache hit ratio", "", hits, _RATIO),
            (p + "Buffer Manager", "Buffer cache hit ratio base", "", hit_base, _BASE),
        ]
        if shape.deadlocks:
            deadlocks = dbtools_extra.deadlock_counter(self.inst)
            set5.append((p + "Locks", "Number of Deadlocks/sec", "_Total", deadlocks, _CUMULATIVE))

        set6 = []
        for j, wait in enumerate(self.waits):
            i = self.wait_base + 3 * j
            wait_ms = int(c[i + 1])
            if wait_ms > 0 and wait not in excluded:
                set6.append((wait, int(c[i]), wait_ms, min(wait_ms, int(c[i + 2]))))
        set6 += self.tail_waits(excluded)

        # sys.dm_io_virtual_file_stats joined to sys.master_files: both files of every database
        # in sys.databases, in database_id order as SQL Server returns them.
        set7 = []
        user_id = 5
        base = self.file_base
        for n, db in enumerate(cfg.databases):
            low = db.lower()
            if low in _SYSTEM_DBS:
                db_id = _SYS_DB_IDS[low]
                _w, data_name, log_name = _SYSTEM_DBS[low]
                data_path, log_path = self.folder + data_name, self.folder + log_name
            else:
                db_id, user_id = user_id, user_id + 1
                data_path, log_path = f"D:\\MSSQL\\DATA\\{db}.mdf", f"L:\\MSSQL\\LOG\\{db}_log.ldf"
            size = self.data_sizes[n]
            i = base + 12 * n
            data_io = [int(v) for v in c[i : i + 6]]
            log_io = [int(v) for v in c[i + 6 : i + 12]]
            set7.append((db_id, db, 1, "ROWS", data_path, *data_io, size, ticks))
            set7.append((db_id, db, 2, "LOG", log_path, *log_io, size // 8, ticks))
        set7.sort(key=lambda r: r[0])
        columns7 = _SET7
        if shape.joins_master_files and not sees_master_files:
            # sys.master_files shows a row only to a login with VIEW ANY DEFINITION, CREATE
            # DATABASE or ALTER ANY DATABASE: without them the join returns nothing, no error.
            set7 = []
        if shape.files_per_database:
            columns7 = _SET7_PER_DATABASE
            set7 = [
                (
                    data[0],
                    data[1],
                    2,
                    *(a + b for a, b in zip(data[5:12], log[5:12], strict=True)),
                    data[12],
                )
                for data, log in zip(set7[::2], set7[1::2], strict=True)
            ]

        sets = (set1, set2, set3, set4, set5, set6, set7)
        columns = (columns1, columns2, columns3, *COLLECTION_COLUMNS[3:6], columns7)
        return [ResultSet(cols, rows) for cols, rows in zip(columns, sets, strict=True)]


def metrics(inst: Instance) -> Metrics:
    m = inst.__dict__.get("dbtools_metrics")
    if m is None:
        m = inst.__dict__["dbtools_metrics"] = Metrics(inst)
    return m


# -- the collection procedure ---------------------------------------------------------------------
@registry.procedure(PROCEDURE)
def usp_collect_metrics(ctx: Context, args: list[Any]) -> list[Output]:
    proc = _dep(ctx).obj(ctx.session.database, "DbTools", "usp_CollectMetrics", "P")
    if not proc:
        raise SqlError(2812, f"Could not find stored procedure '{PROCEDURE}'.", 62, 16)
    if not _dep(ctx).execute_granted(ctx):
        raise SqlError(
            229,
            "The EXECUTE permission was denied on the object 'usp_CollectMetrics', database "
            f"'{ctx.session.database}', schema 'DbTools'.",
            5,
            14,
        )
    if proc.get("stub"):
        return []
    vsps = ctx.config.version >= 2022 and _has_performance_state(ctx)
    if not (_has_view_server_state(ctx) or vsps):
        raise permission_denied_view_server_state()
    shape = _shape(proc)
    allowed = 4 if shape.extra_sets else 2 if shape.ring_by_timestamp else 1
    if len(args) > allowed:
        raise SqlError(
            8144, "Procedure or function usp_CollectMetrics has too many arguments specified.", 2
        )
    last = args[0] if args else None
    since = args[1] if len(args) > 1 else None
    try:
        last_id = int(last) if last is not None else 0
        since_ticks = int(since) if since is not None else None
        space = bool(int(args[2])) if len(args) > 2 and args[2] is not None else False
        last_job = int(args[3]) if len(args) > 3 and args[3] is not None else None
    except (TypeError, ValueError):
        raise SqlError(8114, "Error converting data type nvarchar to bigint.", 5, 16) from None
    dep = _dep(ctx)
    sees = any(dep.has(ctx, p) for p in _MASTER_FILES_PERMISSIONS)
    m = metrics(ctx.instance)
    sets = m.collect(last_id, shape.benign, shape, sees, since_ticks=since_ticks)
    if shape.extra_sets:
        msdb = dep.has(ctx, dbtools_extra.MSDB_PERMISSION)
        # guest is enabled in msdb by default (Agent and Database Mail need it): every login
        # enters msdb unless a hardening script disabled it (steered off).
        mine = dep.permissions.get(ctx.session.login.lower(), {})
        access = mine.get(dbtools_extra.MSDB_ACCESS, True)
        sees_files = any(dep.has(ctx, p) for p in _MASTER_FILES_PERMISSIONS)
        sets += dbtools_extra.extra_sets(
            ctx, space, last_job, m.data_sizes, msdb, shape.extra, access, sees_files
        )
    return sets


# Any of these lets a login see the rows of sys.master_files (Microsoft's documented minimum).
_MASTER_FILES_PERMISSIONS = ("VIEW ANY DEFINITION", "CREATE DATABASE", "ALTER ANY DATABASE")


@dataclass(frozen=True)
class ProcShape:
    """What the deployed procedure's text does, where the result depends on it: what DbTools
    collects is read from what DbTools deployed, so a mistake in the T-SQL shows here as it
    would on a real server."""

    benign: frozenset[str] = frozenset()  # wait types its NOT IN list leaves out
    joins_master_files: bool = True
    files_per_database: bool = False  # file I/O summed per database (GROUP BY)
    numa_nodes: bool = False  # the instance row counts sys.dm_os_nodes
    blocked_by_sessions_only: bool = False  # blocking_session_id > 0, not <> 0
    user_requests_only: bool = False  # is_user_process = 1 and not its own request (@@SPID)
    memory_signal: bool = False  # the memory row has system_low_memory_signal_state
    server_name: bool = False  # the instance row has @@SERVERNAME
    ring_by_timestamp: bool = False  # @last_cpu_ms_ticks: ring filtered on [timestamp] first
    extra_sets: bool = False  # version 12: sets 8 to 13 (sqlsim.dbtools_extra), @space
    deadlocks: bool = False  # set 5 reads Number of Deadlocks/sec
    extra: dbtools_extra.ExtraShape = field(default_factory=dbtools_extra.ExtraShape)


def _shape(proc: dict[str, Any]) -> ProcShape:
    key = proc.get("hash", "")
    cached = _SHAPE_BY_HASH.get(key)
    if cached is None:
        text = plain(proc.get("definition", ""))
        m = re.search(r"(?is)wait_type not in ?\((.*?)\)", text)
        files = re.search(r"(?is)from sys\.dm_io_virtual_file_stats.*?(?:;|$)", text)
        file_query = files.group(0) if files else ""
        # The statement counting active requests (up to the next result set).
        found = re.search(r"(?i)\bas active_requests\b", text)
        before = text[: found.start()] if found else ""
        requests = before[before.lower().rfind("from sys.dm_exec_requests") :] if found else ""
        cached = ProcShape(
            benign=frozenset(re.findall(r"N?'([^']+)'", m.group(1))) if m else frozenset(),
            joins_master_files=bool(re.search(r"(?i)\bsys\.master_files\b", file_query)),
            files_per_database=bool(re.search(r"(?i)\bgroup by\b", file_query)),
            numa_nodes=bool(re.search(r"(?i)\bsys\.dm_os_nodes\b", text)),
            memory_signal="system_low_memory_signal_state" in text.lower(),
            server_name="@@servername" in text.lower(),
            ring_by_timestamp="@last_cpu_ms_ticks" in text.lower(),
            extra_sets="@last_job_instance_id" in text.lower(),
            deadlocks="number of deadlocks/sec" in text.lower(),
            extra=dbtools_extra.shape_of(text),
            blocked_by_sessions_only=bool(re.search(r"(?i)blocking_session_id ?> ?0", text)),
            user_requests_only=bool(
                re.search(r"(?i)is_user_process ?= ?1", requests) and "@@spid" in requests.lower()
            ),
        )
        _SHAPE_BY_HASH[key] = cached
    return cached


def _benign_filter(proc: dict[str, Any]) -> frozenset[str]:
    """The wait types the deployed procedure's ``wait_type NOT IN (...)`` leaves out."""
    return _shape(proc).benign


_SHAPE_BY_HASH: dict[str, ProcShape] = {}


@registry.statement(
    r"(?i)dbcc sqlperf ?\( ?n?'sys\.dm_os_wait_stats' ?, ?clear ?\)(?: with no_infomsgs)?"
)
def dbcc_clear_waits(ctx: Context, m: re.Match[str]) -> list[Output]:
    if not _has_view_server_state(ctx):
        raise SqlError(2571, "User does not have permission to use DBCC SQLPERF.", 3, 14)
    metrics(ctx.instance).clear_wait_stats()
    return []


# -- steering -------------------------------------------------------------------------------------
STEERING_KEYS = (
    "odd_cpu_records",
    "numa_nodes",
    "requests",
    "memory_pressure",
    "failover",
    "restart",
    "clear_wait_stats",
    "can_deploy",
    "advance_seconds",
    "drop_objects",
    "permissions",
    *dbtools_extra.STEERING_KEYS,
)


async def apply_steering(fleet: Fleet, inst: Instance, changes: dict[str, Any]) -> None:
    """The keys of STEERING_KEYS (``login`` goes with ``can_deploy``)."""
    if changes.get("drop_objects"):
        deployment(inst).drop_all()
    if "can_deploy" in changes:
        deployment(inst).set_can_deploy(bool(changes["can_deploy"]), changes.get("login"))
    if changes.get("permissions"):
        deployment(inst).set_permissions(dict(changes["permissions"]), changes.get("login"))
    if "odd_cpu_records" in changes:
        metrics(inst).odd_cpu = bool(changes["odd_cpu_records"])
    if changes.get("failover"):
        target = changes["failover"]
        target = target if isinstance(target, dict) else {"replica": str(target)}
        metrics(inst).failover(**target)
    if "memory_pressure" in changes:
        metrics(inst).memory_pressure = bool(changes["memory_pressure"])
    if "requests" in changes:
        metrics(inst).requests = dict(changes["requests"] or {})
    if changes.get("numa_nodes"):
        metrics(inst).numa_nodes = int(changes["numa_nodes"])
    if changes.get("advance_seconds"):
        metrics(inst).advance_clock(float(changes["advance_seconds"]))
    if changes.get("clear_wait_stats"):
        metrics(inst).clear_wait_stats()
    extra = {k: changes[k] for k in dbtools_extra.STEERING_KEYS if k in changes}
    if extra:
        dbtools_extra.apply_steering(inst, extra)
    if changes.get("restart"):
        dbtools_extra.restart(inst)
        running = inst.running
        if running:
            await inst.stop()  # a restart drops every connection
        metrics(inst).restart()
        if running:
            await inst.start(fleet.host)


def describe_dbtools(inst: Instance) -> dict[str, Any]:
    dep = inst.__dict__.get("dbtools_deployment")
    info = dep.describe() if dep is not None else {"can_deploy": True, "objects": []}
    if "dbtools_metrics" in inst.__dict__:
        info["ms_ticks"] = inst.state.ms_ticks
        info["ring_records_parsed"] = metrics(inst).ring_parsed
    if "dbtools_extra" in inst.__dict__:
        # files the last space read gave sys.dm_os_volume_stats (one OS call each)
        info["volume_calls"] = dbtools_extra.state(inst).volume_calls
    return info


def _install() -> None:
    if getattr(Fleet, "_dbtools_objects_installed", False):
        return
    Fleet._dbtools_objects_installed = True  # type: ignore[attr-defined]
    orig_steer = Fleet.steer
    orig_reset = Fleet.reset
    orig_route = Fleet._route

    async def steer(self: Fleet, name: str, **changes: Any) -> dict[str, Any]:
        mine = {k: changes.pop(k) for k in STEERING_KEYS if k in changes}
        inst = self[name]
        if mine:
            if ("can_deploy" in mine or "permissions" in mine) and "login" in changes:
                mine["login"] = changes["login"]
            await apply_steering(self, inst, mine)
        if "cpu" in changes and (changes["cpu"] is not None or "dbtools_metrics" in inst.__dict__):
            metrics(inst).advance(inst.state.ms_ticks)  # counters so far at the old load
        if "view_server_state" not in changes:
            changes.pop("login", None)
        result = await orig_steer(self, name, **changes)
        if "dbtools_metrics" in inst.__dict__:
            metrics(inst).sync_spike(inst.state.ms_ticks)
        result["dbtools"] = describe_dbtools(inst)
        return result

    async def reset(self: Fleet) -> None:
        await orig_reset(self)
        for inst in self.instances.values():
            if "dbtools_deployment" in inst.__dict__:
                deployment(inst).set_can_deploy(True)
                deployment(inst).permissions.clear()
            if "dbtools_metrics" in inst.__dict__:
                m = metrics(inst)  # steering a reset can undo (a failover, like a restart, stays)
                m.odd_cpu, m.memory_pressure, m.requests = False, False, {}
                m.numa_nodes = max(1, inst.config.cpus // 16)
            dbtools_extra.reset(inst)  # chains, groups, full volumes and job failures

    async def route(self: Fleet, method: str, path: str, body: bytes) -> tuple[int, Any]:
        parts = [p for p in path.split("?")[0].split("/") if p]
        actions = {"restart": {"restart": True}, "clear-wait-stats": {"clear_wait_stats": True}}
        if method == "POST" and len(parts) == 3 and parts[0] == "instances" and parts[2] in actions:
            name = parts[1].replace("%5C", "\\").replace("%5c", "\\")
            try:
                return 200, await self.steer(name, **actions[parts[2]])
            except KeyError as exc:
                return 404, {"error": str(exc)}
        status, payload = await orig_route(self, method, path, body)
        if method == "GET" and len(parts) == 2 and status == 200 and isinstance(payload, dict):
            payload["dbtools"] = describe_dbtools(self[payload["server_name"]])
        return status, payload

    Fleet.steer = steer  # type: ignore[method-assign]
    Fleet.reset = reset  # type: ignore[method-assign]
    Fleet._route = route  # type: ignore[method-assign]

    def add(name: str, fn: Callable[..., Any]) -> None:
        for cls in (ControlClient, FleetThread):
            if not hasattr(cls, name):
                setattr(cls, name, fn)

    def restart(self: Any, name: str) -> None:
        """Simulate a service restart (counters and ring-buffer ids start again, ms_ticks goes
        on)."""
        self.steer(name, restart=True)

    def clear_wait_stats(self: Any, name: str) -> None:
        """Like DBCC SQLPERF('sys.dm_os_wait_stats', CLEAR)."""
        self.steer(name, clear_wait_stats=True)

    def set_can_deploy(self: Any, name: str, granted: bool, login: str | None = None) -> None:
        """Grant or revoke CREATE SCHEMA/TABLE/PROCEDURE (db_owner-like) for one or all logins."""
        self.steer(name, can_deploy=granted, login=login)

    def set_permissions(self: Any, name: str, login: str | None = None, **granted: bool) -> None:
        """Grant or deny single permissions, apart from can_deploy: ``set_permissions(name,
        login="collector", VIEW_ANY_DEFINITION=False)`` (underscores for spaces)."""
        perms = {k.replace("_", " "): v for k, v in granted.items()}
        self.steer(name, permissions=perms, login=login)

    def advance_clock(self: Any, name: str, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass at once (ring-buffer records, counters)."""
        self.steer(name, advance_seconds=seconds)

    def drop_objects(self: Any, name: str) -> None:
        """Forget the deployed DbTools schema, objects and configuration."""
        self.steer(name, drop_objects=True)

    for fn in (
        restart,
        clear_wait_stats,
        set_can_deploy,
        set_permissions,
        advance_clock,
        drop_objects,
    ):
        add(fn.__name__, fn)

    async def fleet_restart(self: Fleet, name: str) -> dict[str, Any]:
        return await self.steer(name, restart=True)

    if not hasattr(Fleet, "restart"):
        Fleet.restart = fleet_restart  # type: ignore[attr-defined]


_install()

"""Maintenance on a simulated instance: backups with msdb history, RESTORE VERIFYONLY, DBCC
CHECKDB, index rebuilds and statistics, and the discovery queries DbTools' policies send.

Each database has a recovery model, a size, a handful of indexes whose fragmentation grows with
time, and statistics that collect modifications. Work takes time proportional to size (scaled
by ``seconds_per_gb``, small by default so tests stay fast) and can be cancelled by an attention
like real work. Failures are steered, with SQL Server's own error numbers:

==================================================  =============================================
``{"backup_failure": "disk_full"}``                 BACKUP fails with 3201 then 3013 (no space)
``{"backup_failure": null}``                        backups work again
``{"corrupt": "SalesDB"}`` / ``{"corrupt": null}``  DBCC CHECKDB reports 8939 and 8928 (then 8989)
``{"offline": "SalesDB"}`` / ``{"offline": null}``  the database is OFFLINE: 942 on use
``{"seconds_per_gb": 0.5}``                         how long work takes per GB
``{"add_backups": [{"database", "type", ...}]}``    msdb history another tool wrote (see below)
``{"last_good_checkdb": {"SalesDB": "...iso"}}``    the boot page's last known good CHECKDB
``{"new_database": "Fresh"}``                       a user database created just now
``{"age_history_hours": 200}``                      every backup and CHECKDB so much older
==================================================  =============================================

An entry of ``add_backups`` takes ``database``, ``type`` (D, I or L), ``hours_ago`` (when it
finished), and optionally ``copy_only``, ``checksum``, ``device`` and ``size_mb``.

Also ``GET /instances/NAME`` lists ``maintenance``: every backup taken and CHECKDB run.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .engine import (
    Context,
    Done,
    Info,
    Output,
    ResultSet,
    SqlError,
    col,
    registry,
    sleep_cancellable,
)
from .fleet import Fleet

if TYPE_CHECKING:
    from .server import Instance

SYSTEM = ("master", "tempdb", "model", "msdb")
STEERING_KEYS = (
    "backup_failure",
    "corrupt",
    "offline",
    "seconds_per_gb",
    "add_backups",
    "last_good_checkdb",
    "new_database",
    "age_history_hours",
)


@dataclass
class Index:
    schema: str
    table: str
    name: str
    index_id: int
    pages: int
    fragmentation: float
    growth_per_hour: float
    allow_page_locks: bool = True
    since: float = field(default_factory=time.monotonic)  # when `fragmentation` was measured


@dataclass
class Stat:
    schema: str
    table: str
    name: str
    is_index: bool
    modifications: int = 0


@dataclass
class Database:
    name: str
    recovery_model: str
    size_mb: int
    indexes: list[Index] = field(default_factory=list)
    stats: list[Stat] = field(default_factory=list)
    log_chain: bool = False
    last_good_checkdb: dt.datetime | None = None
    created: dt.datetime | None = None
    database_id: int = 0


@dataclass
class Backup:
    database: str
    type: str  # D full, I differential, L log (msdb.dbo.backupset.type)
    started: dt.datetime
    finished: dt.datetime
    size_bytes: int
    is_copy_only: bool
    has_checksum: bool
    device: str


class Maintenance:
    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.backup_failure: str | None = None
        self.corrupt: str | None = None
        self.offline: str | None = None
        self.seconds_per_gb = 0.02
        self.history: list[Backup] = []
        self.checkdb_runs: list[dict[str, Any]] = []
        self.databases: dict[str, Database] = {}
        for n in inst.config.databases:
            self.add_database(n)

    def add_database(self, name: str, created: dt.datetime | None = None) -> Database:
        db = self._database(name)
        db.database_id = len(self.databases) + 1
        if created is not None:
            db.created = created
        self.databases[name.lower()] = db
        return db

    def _database(self, name: str) -> Database:
        seed = zlib.crc32(f"{self.inst.config.name}/{name}".encode())
        # Databases were created long before the simulation started (weeks to a year ago).
        created = _now() - dt.timedelta(days=30 + seed % 330, seconds=seed % 86_400)
        if name.lower() in SYSTEM:
            model = "FULL" if name.lower() == "model" else "SIMPLE"
            return Database(name, model, 16 + seed % 200, created=created)
        model = "SIMPLE" if seed % 5 == 0 else "FULL"
        size = 100 + seed % 50_000  # 100 MB to ~50 GB
        db = Database(name, model, size, created=created)
        for i, table in enumerate(("Orders", "Customers", "Lines")):
            pages = (size * 128) // (3 + i)
            db.indexes.append(
                Index(
                    "dbo",
                    table,
                    f"PK_{table}",
                    1,
                    pages,
                    (seed >> i) % 60 / 1.0,
                    0.2 + (seed % 7) / 10,
                )
            )
            db.indexes.append(
                Index(
                    "dbo",
                    table,
                    f"IX_{table}_1",
                    2,
                    pages // 4,
                    (seed >> (i + 3)) % 40 / 1.0,
                    0.5,
                    allow_page_locks=(seed + i) % 11 != 0,
                )
            )
            db.stats.append(Stat("dbo", table, f"PK_{table}", True, seed % 5000))
            db.stats.append(Stat("dbo", table, f"_WA_Sys_00000002_{table}", False, seed % 300))
        return db

    def find(self, name: str) -> Database:
        db = self.databases.get(name.lower())
        if db is None:
            raise SqlError(
                911,
                f"Database '{name}' does not exist. Make sure that the name is entered correctly.",
                1,
            )
        if self.offline and name.lower() == self.offline.lower():
            raise SqlError(
                942, f"Database '{db.name}' cannot be opened because it is offline.", 4, 14
            )
        return db

    def state_of(self, db: Database) -> str:
        return "OFFLINE" if self.offline and db.name.lower() == self.offline.lower() else "ONLINE"

    def fragmentation(self, ix: Index) -> float:
        hours = (time.monotonic() - ix.since) / 3600
        return min(99.0, ix.fragmentation + ix.growth_per_hour * hours)

    async def work(self, size_mb: float) -> float:
        seconds = size_mb / 1024 * self.seconds_per_gb
        await sleep_cancellable(seconds)
        return seconds

    def describe(self) -> dict[str, Any]:
        return {
            "backups": [
                {
                    "database": b.database,
                    "type": b.type,
                    "finished": b.finished.isoformat(),
                    "device": b.device,
                    "copy_only": b.is_copy_only,
                }
                for b in self.history
            ],
            "checkdb": self.checkdb_runs,
            "backup_failure": self.backup_failure,
            "corrupt": self.corrupt,
            "offline": self.offline,
        }


def maintenance(inst: Instance) -> Maintenance:
    found = inst.__dict__.get("maintenance")
    if found is None:
        found = inst.__dict__["maintenance"] = Maintenance(inst)
    return found


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def _names(sql: str) -> list[str]:
    """Bracketed names in order, with doubled closing brackets undone."""
    return [m.replace("]]", "]") for m in re.findall(r"\[((?:[^\]]|\]\])*)\]", sql)]


def _string(sql: str) -> str:
    m = re.search(r"N?'((?:[^']|'')*)'", sql)
    return m.group(1).replace("''", "'") if m else ""


# -- discovery ------------------------------------------------------------------------------------
@registry.statement(
    r"select d\.name, d\.recovery_model_desc, d\.state_desc.*from sys\.databases as d.*"
)
def databases(ctx: Context, m: re.Match[str]) -> list[Output]:
    mt = maintenance(ctx.instance)
    rows = []
    for db in sorted(mt.databases.values(), key=lambda d: d.name.lower()):
        mine = [b for b in mt.history if b.database == db.name and not b.is_copy_only]
        has_full = any(b.type == "D" for b in mine)
        bases = [b.finished for b in mine if b.type in ("D", "I")]
        rows.append(
            (
                db.name,
                db.recovery_model,
                mt.state_of(db),
                False,
                False,
                True,
                True,
                db.log_chain and db.recovery_model != "SIMPLE",
                has_full,
                max(bases) if bases else None,
                False,
            )
        )
    columns = [
        col("name", "nvarchar", 128),
        col("recovery_model_desc", "nvarchar", 60),
        col("state_desc", "nvarchar", 60),
        col("is_read_only", "bit"),
        col("in_availability_group", "bit"),
        col("preferred_backup_replica", "bit"),
        col("is_primary_replica", "bit"),
        col("log_chain", "bit"),
        col("has_full_backup", "bit"),
        col("last_full_or_diff", "datetime"),
        col("is_snapshot", "bit"),
    ]
    return [ResultSet(columns, rows)]


# -- compliance facts -----------------------------------------------------------------------------
_NEVER = dt.datetime(1900, 1, 1)  # what the boot page holds before the first good CHECKDB


def _utc_offset_minutes() -> int:
    local = dt.datetime.now().astimezone()
    offset = local.utcoffset() or dt.timedelta()
    return int(offset.total_seconds() // 60)


@registry.statement(
    r"select d\.name, d\.database_id, d\.recovery_model_desc, d\.state_desc, d\.create_date,.*"
    r"databasepropertyex\(d\.name, '(?i:lastgoodcheckdbtime)'\).*from sys\.databases as d.*"
)
def database_facts(ctx: Context, m: re.Match[str]) -> list[Output]:
    mt = maintenance(ctx.instance)
    offset = _utc_offset_minutes()
    # The property appeared in SQL Server 2016 SP2; older servers answer NULL for it.
    knows_checkdb = ctx.config.version >= 2016
    rows = []
    for db in sorted(mt.databases.values(), key=lambda d: d.name.lower()):
        state = mt.state_of(db)
        # An offline database is not started: DATABASEPROPERTYEX answers NULL for it.
        checkdb = None
        if knows_checkdb and state == "ONLINE":
            checkdb = db.last_good_checkdb or _NEVER
        rows.append(
            (
                db.name,
                db.database_id,
                db.recovery_model,
                state,
                db.created,
                False,
                checkdb,
                offset,
            )
        )
    columns = [
        col("name", "nvarchar", 128),
        col("database_id", "int"),
        col("recovery_model_desc", "nvarchar", 60),
        col("state_desc", "nvarchar", 60),
        col("create_date", "datetime"),
        col("in_availability_group", "bit"),
        col("last_good_checkdb", "datetime"),
        col("utc_offset_minutes", "int"),
    ]
    return [ResultSet(columns, rows)]


@registry.statement(
    r"with ranked as \( ?select b\.database_name, cast\(b\.type as nvarchar\(1\)\).*"
    r"row_number\(\).*from msdb\.dbo\.backupset as b.*"
)
def last_backups(ctx: Context, m: re.Match[str]) -> list[Output]:
    """The newest backup per database, type and copy-only flag, as msdb.dbo.backupset keeps it."""
    mt = maintenance(ctx.instance)
    newest: dict[tuple[str, str, bool], Backup] = {}
    for b in mt.history:
        key = (b.database, b.type, b.is_copy_only)
        if key not in newest or b.finished >= newest[key].finished:
            newest[key] = b
    rows = [
        (
            b.database,
            b.type,
            b.is_copy_only,
            b.started,
            b.finished,
            b.size_bytes,
            b.size_bytes * 2 // 5 if "compression" in b.device.lower() else b.size_bytes,
            b.has_checksum,
            b.device,
        )
        for _key, b in sorted(newest.items(), key=lambda kv: (kv[0][0].lower(), *kv[0][1:]))
    ]
    columns = [
        col("database_name", "nvarchar", 128),
        col("backup_type", "nvarchar", 1),
        col("is_copy_only", "bit"),
        col("backup_start_date", "datetime"),
        col("backup_finish_date", "datetime"),
        col("backup_size", "numeric", precision=20),
        col("compressed_backup_size", "numeric", precision=20),
        col("has_backup_checksums", "bit"),
        col("physical_device_name", "nvarchar", 260),
    ]
    return [ResultSet(columns, rows)]


@registry.statement(
    r"select s\.name as schema_name, o\.name as table_name, i\.name as index_name.*"
    r"ps\.page_count >= (@p1|\d+).*"
)
def indexes(ctx: Context, m: re.Match[str]) -> list[Output]:
    mt = maintenance(ctx.instance)
    db = mt.find(ctx.session.database)
    raw = m.group(1)
    minimum = int(ctx.params.get("@p1", 0) if raw == "@p1" else raw)
    rows = [
        (
            ix.schema,
            ix.table,
            ix.name,
            ix.index_id,
            "CLUSTERED" if ix.index_id == 1 else "NONCLUSTERED",
            1,
            1,
            float(mt.fragmentation(ix)),
            ix.pages,
            ix.allow_page_locks,
            False,
        )
        for ix in db.indexes
        if ix.pages >= minimum
    ]
    columns = [
        col("schema_name", "nvarchar", 128),
        col("table_name", "nvarchar", 128),
        col("index_name", "nvarchar", 128),
        col("index_id", "int"),
        col("type_desc", "nvarchar", 60),
        col("partition_number", "int"),
        col("partitions", "int"),
        col("avg_fragmentation_in_percent", "float"),
        col("page_count", "bigint"),
        col("allow_page_locks", "bit"),
        col("has_lob", "bit"),
    ]
    return [ResultSet(columns, rows)]


@registry.statement(
    r"select s\.name as schema_name, o\.name as table_name, st\.name as stats_name.*"
)
def statistics(ctx: Context, m: re.Match[str]) -> list[Output]:
    db = maintenance(ctx.instance).find(ctx.session.database)
    rows = [(st.schema, st.table, st.name, st.is_index, st.modifications) for st in db.stats]
    columns = [
        col("schema_name", "nvarchar", 128),
        col("table_name", "nvarchar", 128),
        col("stats_name", "nvarchar", 128),
        col("is_index", "bit"),
        col("modification_counter", "bigint"),
    ]
    return [ResultSet(columns, rows)]


# -- files ----------------------------------------------------------------------------------------
@registry.statement(r"exec(?:ute)? master\.dbo\.xp_create_subdir [nN]?'.*'")
def create_subdir(ctx: Context, m: re.Match[str]) -> list[Output]:
    return [Done()]  # creating a folder needs no space, even on a full disk


@registry.statement(
    r"exec(?:ute)? master\.dbo\.xp_delete_file 0, ?[nN]?'.*', ?[nN]?'\w+', ?[nN]?'.*', ?0"
)
def delete_file(ctx: Context, m: re.Match[str]) -> list[Output]:
    return [Done()]


# -- backups --------------------------------------------------------------------------------------
@registry.statement(r"backup (database|log) \[.*\] to disk = [nN]?'.*'(?: with (.*))?")
async def backup(ctx: Context, m: re.Match[str]) -> list[Output]:
    mt = maintenance(ctx.instance)
    kind = m.group(1)
    options = {o.strip() for o in (m.group(2) or "").split(",")}
    name = _names(ctx.sql)[0]
    device = _string(ctx.sql)
    db = mt.find(name)
    btype = "L" if kind == "log" else ("I" if "differential" in options else "D")
    done = [b for b in mt.history if b.database == db.name and not b.is_copy_only]
    if btype == "L" and db.recovery_model == "SIMPLE":
        raise SqlError(
            4208,
            "The statement BACKUP LOG is not allowed while the recovery model is "
            "SIMPLE. Use BACKUP DATABASE or change the recovery model using ALTER "
            "DATABASE.",
            1,
            extra=[_terminated("LOG")],
        )
    if btype == "I" and not any(b.type == "D" for b in done):
        raise SqlError(
            3035,
            f'Cannot perform a differential backup for database "{db.name}", '
            "because a current database backup does not exist.",
            1,
            extra=[_terminated("DATABASE")],
        )
    if btype == "L" and not db.log_chain:
        raise SqlError(
            4214,
            "BACKUP LOG cannot be performed because there is no current database backup.",
            1,
            extra=[_terminated("LOG")],
        )
    if mt.backup_failure == "disk_full":
        raise SqlError(
            3201,
            f"Cannot open backup device '{device}'. Operating system error "
            "112(There is not enough space on the disk.).",
            1,
            extra=[_terminated("LOG" if kind == "log" else "DATABASE")],
        )
    size_mb = db.size_mb if btype == "D" else max(1, db.size_mb // (10 if btype == "I" else 50))
    started = _now()
    seconds = await mt.work(size_mb)
    if btype == "D" and "copy_only" not in options:
        db.log_chain = True
    mt.history.append(
        Backup(
            db.name,
            btype,
            started,
            _now(),
            size_mb * 1024 * 1024,
            "copy_only" in options,
            "checksum" in options,
            device,
        )
    )
    pages = size_mb * 128
    what = "BACKUP LOG" if kind == "log" else "BACKUP DATABASE"
    if btype == "I":
        what += " WITH DIFFERENTIAL"
    return [
        Info(
            4035,
            f"Processed {pages} pages for database '{db.name}', file '{db.name}' on file 1.",
            1,
            0,
        ),
        Info(
            3014,
            f"{what} successfully processed {pages} pages in {max(seconds, 0.001):.3f} "
            f"seconds ({size_mb / max(seconds, 0.001):.3f} MB/sec).",
            1,
            0,
        ),
        Done(),
    ]


def _terminated(kind: str) -> SqlError:
    return SqlError(3013, f"BACKUP {kind} is terminating abnormally.", 1)


@registry.statement(r"restore verifyonly from disk = [nN]?'.*'(?: with .*)?")
async def verify(ctx: Context, m: re.Match[str]) -> list[Output]:
    mt = maintenance(ctx.instance)
    device = _string(ctx.sql)
    found = next((b for b in mt.history if b.device == device), None)
    if found is None:
        raise SqlError(
            3201,
            f"Cannot open backup device '{device}'. Operating system error "
            "2(The system cannot find the file specified.).",
            1,
            extra=[SqlError(3013, "VERIFY DATABASE is terminating abnormally.", 1)],
        )
    await mt.work(found.size_bytes / 1024 / 1024 / 4)
    return [Info(3262, "The backup set on file 1 is valid.", 1, 0), Done()]


# -- integrity ------------------------------------------------------------------------------------
@registry.statement(r"dbcc checkdb ?\(\[.*\](, ?noindex)?\)(?: with (.*))?")
async def checkdb(ctx: Context, m: re.Match[str]) -> list[Output]:
    mt = maintenance(ctx.instance)
    db = mt.find(_names(ctx.sql)[0])
    options = {o.strip() for o in (m.group(2) or "").split(",")}
    await mt.work(db.size_mb / (4 if "physical_only" in options else 1))
    run = {"database": db.name, "finished": _now().isoformat(), "options": sorted(options)}
    if mt.corrupt and db.name.lower() == mt.corrupt.lower():
        run["errors"] = 2
        mt.checkdb_runs.append(run)
        raise SqlError(
            8939,
            "Table error: Object ID 565577053, index ID 1, partition ID "
            "72057594041270272, alloc unit ID 72057594046119936 (type In-row data), "
            "page (1:7824). Test (IS_OFF (BUF_IOERR, pBUF->bstat)) failed.",
            98,
            extra=[
                SqlError(
                    8928,
                    "Object ID 565577053, index ID 1, partition ID "
                    "72057594041270272, alloc unit ID 72057594046119936 (type "
                    "In-row data): Page (1:7824) could not be processed. See "
                    "other errors for details.",
                    1,
                ),
                SqlError(
                    8989,
                    f"CHECKDB found 0 allocation errors and 2 "
                    f"consistency errors in database '{db.name}'.",
                    1,
                    10,
                ),
            ],
        )
    run["errors"] = 0
    db.last_good_checkdb = _now()
    mt.checkdb_runs.append(run)
    if "no_infomsgs" in options:
        return [Done()]
    return [
        Info(
            8989,
            f"CHECKDB found 0 allocation errors and 0 consistency errors in database '{db.name}'.",
            1,
            0,
        ),
        Done(),
    ]


# -- indexes and statistics -----------------------------------------------------------------------
@registry.statement(
    r"alter index \[.*\] on \[.*\]\.\[.*\] (reorganize|rebuild)(?: partition = \d+)?"
    r"(?: with \(online = (on|off)\))?"
)
async def alter_index(ctx: Context, m: re.Match[str]) -> list[Output]:
    mt = maintenance(ctx.instance)
    db = mt.find(ctx.session.database)
    index, schema, table = _names(ctx.sql)[:3]
    found = next(
        (ix for ix in db.indexes if (ix.schema, ix.table, ix.name) == (schema, table, index)), None
    )
    if found is None:
        raise SqlError(
            1088,
            f'Cannot find the object "{schema}.{table}" because it does not '
            "exist or you do not have permissions.",
            12,
        )
    if m.group(1) == "reorganize" and not found.allow_page_locks:
        raise SqlError(
            2552,
            f'The index "{index}" (partition 1) on table "{table}" cannot '
            "be reorganized because page level locking is disabled.",
            1,
        )
    if m.group(2) == "on" and ctx.config.edition not in ("enterprise", "developer"):
        raise SqlError(
            1712,
            "Online index operations can only be performed in Enterprise edition of SQL Server.",
            1,
        )
    await mt.work(found.pages / 128 / (2 if m.group(1) == "reorganize" else 1))
    found.fragmentation = 0.5 if m.group(1) == "rebuild" else 2.0
    found.since = time.monotonic()
    for st in db.stats:
        if m.group(1) == "rebuild" and (st.schema, st.table, st.name) == (schema, table, index):
            st.modifications = 0
    return [Done()]


@registry.statement(r"update statistics \[.*\]\.\[.*\] \(\[.*\]\)")
async def update_statistics(ctx: Context, m: re.Match[str]) -> list[Output]:
    mt = maintenance(ctx.instance)
    db = mt.find(ctx.session.database)
    schema, table, name = _names(ctx.sql)[:3]
    for st in db.stats:
        if (st.schema, st.table, st.name) == (schema, table, name):
            await mt.work(db.size_mb / 20)
            st.modifications = 0
            return [Done()]
    raise SqlError(15, f"Statistics '{name}' on table '{schema}.{table}' do not exist.", 1)


# -- steering -------------------------------------------------------------------------------------
def apply_steering(inst: Instance, changes: dict[str, Any]) -> None:
    mt = maintenance(inst)
    if "backup_failure" in changes:
        value = changes["backup_failure"]
        if value not in (None, "disk_full"):
            raise ValueError("backup_failure: 'disk_full' or null")
        mt.backup_failure = value
    if "corrupt" in changes:
        mt.corrupt = changes["corrupt"]
    if "offline" in changes:
        mt.offline = changes["offline"]
    if "seconds_per_gb" in changes:
        mt.seconds_per_gb = float(changes["seconds_per_gb"])
    if changes.get("age_history_hours"):
        # Time passing without maintenance: what msdb and the boot pages hold grows old.
        shift = dt.timedelta(hours=float(changes["age_history_hours"]))
        for b in mt.history:
            b.started -= shift
            b.finished -= shift
        for db in mt.databases.values():
            if db.last_good_checkdb:
                db.last_good_checkdb -= shift
    if changes.get("new_database"):
        mt.add_database(str(changes["new_database"]), created=_now())
    for name, when in (changes.get("last_good_checkdb") or {}).items():
        mt.find(name).last_good_checkdb = (
            dt.datetime.fromisoformat(when).replace(microsecond=0) if when else None
        )
    for entry in changes.get("add_backups") or []:
        db = mt.find(entry["database"])
        btype = entry["type"]
        if btype not in ("D", "I", "L"):
            raise ValueError("add_backups: type is D, I or L")
        size_mb = int(entry.get("size_mb", db.size_mb if btype == "D" else 10))
        finished = _now() - dt.timedelta(hours=float(entry["hours_ago"]))
        copy_only = bool(entry.get("copy_only", False))
        if btype == "D" and not copy_only:
            db.log_chain = True
        mt.history.append(
            Backup(
                db.name,
                btype,
                finished - dt.timedelta(seconds=max(1, size_mb // 200)),
                finished,
                size_mb * 1024 * 1024,
                copy_only,
                bool(entry.get("checksum", True)),
                entry.get("device", f"\\\\nas\\other-tool\\{db.name}.{btype.lower()}.bak"),
            )
        )


def _install() -> None:
    if getattr(Fleet, "_maintenance_installed", False):
        return
    Fleet._maintenance_installed = True  # type: ignore[attr-defined]
    orig_steer = Fleet.steer
    orig_reset = Fleet.reset
    orig_route = Fleet._route

    async def steer(self: Fleet, name: str, **changes: Any) -> dict[str, Any]:
        mine = {k: changes.pop(k) for k in STEERING_KEYS if k in changes}
        if mine:
            apply_steering(self[name], mine)
        result = await orig_steer(self, name, **changes)
        inst = self[name]
        if "maintenance" in inst.__dict__:
            result["maintenance"] = maintenance(inst).describe()
        return result

    async def reset(self: Fleet) -> None:
        await orig_reset(self)
        for inst in self.instances.values():
            if "maintenance" in inst.__dict__:
                apply_steering(
                    inst,
                    {
                        "backup_failure": None,
                        "corrupt": None,
                        "offline": None,
                        "seconds_per_gb": 0.02,
                    },
                )

    async def route(self: Fleet, method: str, path: str, body: bytes) -> tuple[int, Any]:
        status, payload = await orig_route(self, method, path, body)
        parts = [p for p in path.split("?")[0].split("/") if p]
        if method == "GET" and len(parts) == 2 and status == 200 and isinstance(payload, dict):
            payload["maintenance"] = maintenance(self[payload["server_name"]]).describe()
        return status, payload

    Fleet.steer = steer  # type: ignore[method-assign]
    Fleet.reset = reset  # type: ignore[method-assign]
    Fleet._route = route  # type: ignore[method-assign]


_install()

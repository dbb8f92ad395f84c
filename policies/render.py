"""A policy version turned into the statements it runs on one server.

The run is orchestrated from DbTools rather than shipped as one long T-SQL program: DbTools asks
the server what it has (databases, then per database its indexes and statistics), decides here,
then sends one statement at a time. That is how the time limit ("no new command after N
seconds"), cancellation, and one database failing without stopping the others are kept, and each
command's outcome is logged with the execution, as Ola Hallengren's CommandLog does.

Every statement form below follows Microsoft's documented syntax: BACKUP (Transact-SQL), RESTORE
Statements - VERIFYONLY, ALTER INDEX, UPDATE STATISTICS and DBCC CHECKDB. Two helpers are
extended procedures that SQL Server's own maintenance plans call and Microsoft does not document:
master.dbo.xp_create_subdir (create the backup folder) and master.dbo.xp_delete_file (delete old
backup files in one folder by age); they are the only way to manage files from T-SQL alone.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from policies import selection
from policies.selection import Database

# Discovery: what the server has. Every column is one the decisions below use.
DATABASES_SQL = """\
SELECT d.name, d.recovery_model_desc, d.state_desc, d.is_read_only,
       CAST(CASE WHEN d.replica_id IS NULL THEN 0 ELSE 1 END AS bit) AS in_availability_group,
       CAST(CASE WHEN d.replica_id IS NULL THEN 1
                 ELSE sys.fn_hadr_backup_is_preferred_replica(d.name) END AS bit)
           AS preferred_backup_replica,
       CAST(CASE WHEN d.replica_id IS NULL THEN 1
                 WHEN EXISTS (SELECT 1 FROM sys.dm_hadr_availability_replica_states AS rs
                              WHERE rs.replica_id = d.replica_id AND rs.role = 1) THEN 1
                 ELSE 0 END AS bit) AS is_primary_replica,
       CAST(CASE WHEN rs.last_log_backup_lsn IS NULL THEN 0 ELSE 1 END AS bit) AS log_chain,
       CAST(CASE WHEN EXISTS (SELECT 1 FROM msdb.dbo.backupset AS b
                              WHERE b.database_name = d.name AND b.type = 'D'
                                AND b.is_copy_only = 0) THEN 1 ELSE 0 END AS bit)
           AS has_full_backup,
       (SELECT MAX(b.backup_finish_date) FROM msdb.dbo.backupset AS b
        WHERE b.database_name = d.name AND b.type IN ('D', 'I') AND b.is_copy_only = 0)
           AS last_full_or_diff,
       CAST(CASE WHEN d.source_database_id IS NULL THEN 0 ELSE 1 END AS bit) AS is_snapshot
FROM sys.databases AS d
LEFT JOIN sys.database_recovery_status AS rs ON rs.database_id = d.database_id
ORDER BY d.name;"""

# Run in the database (after USE): leaf-level fragmentation of every in-row index partition
# with at least ? pages. LIMITED mode reads only the parent level: cheap on big tables.
INDEXES_SQL = """\
SELECT s.name AS schema_name, o.name AS table_name, i.name AS index_name, i.index_id,
       i.type_desc, ps.partition_number,
       (SELECT COUNT(*) FROM sys.partitions AS p
        WHERE p.object_id = i.object_id AND p.index_id = i.index_id) AS partitions,
       ps.avg_fragmentation_in_percent, ps.page_count, i.allow_page_locks,
       CAST(CASE WHEN EXISTS (SELECT 1 FROM sys.columns AS c
                              JOIN sys.types AS t ON t.user_type_id = c.user_type_id
                              WHERE c.object_id = i.object_id
                                AND (t.name IN (N'xml', N'image', N'text', N'ntext')
                                     OR c.max_length = -1)) THEN 1 ELSE 0 END AS bit) AS has_lob
FROM sys.dm_db_index_physical_stats(DB_ID(), NULL, NULL, NULL, 'LIMITED') AS ps
JOIN sys.indexes AS i ON i.object_id = ps.object_id AND i.index_id = ps.index_id
JOIN sys.objects AS o ON o.object_id = i.object_id
JOIN sys.schemas AS s ON s.schema_id = o.schema_id
WHERE ps.index_id > 0 AND ps.alloc_unit_type_desc = N'IN_ROW_DATA' AND o.is_ms_shipped = 0
  AND i.is_disabled = 0 AND i.is_hypothetical = 0 AND ps.page_count >= ?
ORDER BY s.name, o.name, i.index_id, ps.partition_number;"""

# Run in the database: statistics of user tables and views with their modifications.
STATISTICS_SQL = """\
SELECT s.name AS schema_name, o.name AS table_name, st.name AS stats_name,
       CAST(CASE WHEN i.index_id IS NULL THEN 0 ELSE 1 END AS bit) AS is_index,
       sp.modification_counter
FROM sys.stats AS st
JOIN sys.objects AS o ON o.object_id = st.object_id
JOIN sys.schemas AS s ON s.schema_id = o.schema_id
LEFT JOIN sys.indexes AS i ON i.object_id = st.object_id AND i.index_id = st.stats_id
CROSS APPLY sys.dm_db_stats_properties(st.object_id, st.stats_id) AS sp
WHERE o.is_ms_shipped = 0 AND o.type IN ('U', 'V')
ORDER BY s.name, o.name, st.name;"""


@dataclass(frozen=True)
class ServerFacts:
    name: str  # @@SERVERNAME: HOST or HOST\INSTANCE
    major_version: int = 15
    # Backup compression and online index operations depend on the edition.
    supports_compression: bool = True
    supports_online_rebuild: bool = True


@dataclass(frozen=True)
class Command:
    database: str
    kind: str  # BACKUP_DATABASE, BACKUP_LOG, RESTORE_VERIFYONLY, ALTER_INDEX, ...
    sql: str
    note: str = ""


@dataclass(frozen=True)
class Skip:
    database: str
    reason: str


@dataclass(frozen=True)
class IndexFacts:
    schema_name: str
    table_name: str
    index_name: str
    index_id: int
    type_desc: str
    partition_number: int
    partitions: int
    fragmentation: float
    page_count: int
    allow_page_locks: bool
    has_lob: bool


@dataclass(frozen=True)
class StatisticsFacts:
    schema_name: str
    table_name: str
    stats_name: str
    is_index: bool
    modification_counter: int | None


def quote_name(name: str) -> str:
    """QUOTENAME: brackets around, closing brackets doubled."""
    return "[" + name.replace("]", "]]") + "]"


def literal(text: str) -> str:
    """An N'...' string literal with quotes doubled."""
    return "N'" + text.replace("'", "''") + "'"


_UNSAFE_IN_FILE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def _file_part(text: str) -> str:
    return _UNSAFE_IN_FILE_NAME.sub("_", text)


# -- backups ---------------------------------------------------------------------------------------
BACKUP_TYPES = {"full": "FULL", "diff": "DIFF", "log": "LOG"}


def _backup_type_for(task: str, db: Database, config: dict[str, Any]) -> tuple[str, str]:
    """(backup type to take, or "" with the reason it is skipped)."""
    wanted = BACKUP_TYPES[task]
    if db.state != "ONLINE":
        return "", f"{db.state.lower()}: not backed up"
    if db.in_availability_group and not db.preferred_backup_replica:
        return "", "not the preferred backup replica of its availability group"
    is_master = db.name.lower() == "master"
    if wanted == "LOG" and db.recovery_model == "SIMPLE":
        return "", "simple recovery model: log backups impossible"
    if wanted != "FULL" and is_master:
        return "", "master takes full backups only"
    no_base = (wanted == "DIFF" and not db.has_full_backup) or (
        wanted == "LOG" and not (db.has_full_backup and db.log_chain)
    )
    if no_base:
        if not config.get("change_backup_type", True):
            return "", f"no full backup yet: a {wanted.lower()} backup is impossible"
        wanted = "FULL"
    if db.in_availability_group and not db.is_primary_replica and wanted == "DIFF":
        return "", "differential backups are not supported on a secondary replica"
    return wanted, ""


def backup_commands(
    config: dict[str, Any],
    task: str,
    server: ServerFacts,
    databases: list[Database],
    now: dt.datetime,
) -> list[Command | Skip]:
    """The statements of one backup task (`full`, `diff` or `log`) on one server."""
    out: list[Command | Skip] = []
    root = config["destination_path"].rstrip("\\/")
    sep = "/" if root.startswith("/") else "\\"
    server_dir = _file_part(server.name.replace("\\", "$"))
    stamp = now.strftime("%Y%m%d_%H%M%S")
    for db in selection.select(config.get("databases", "USER_DATABASES"), databases):
        kind, reason = _backup_type_for(task, db, config)
        if not kind:
            out.append(Skip(db.name, reason))
            continue
        folder = sep.join([root, server_dir, _file_part(db.name), kind])
        ext = "trn" if kind == "LOG" else "bak"
        path = f"{folder}{sep}{server_dir}_{_file_part(db.name)}_{kind}_{stamp}.{ext}"
        options = []
        if kind == "DIFF":
            options.append("DIFFERENTIAL")
        if config.get("checksum", True):
            options.append("CHECKSUM")
        if config.get("compression", True) and server.supports_compression:
            options.append("COMPRESSION")
        # A full backup on a secondary replica must be copy-only; so must any the policy says.
        secondary = db.in_availability_group and not db.is_primary_replica
        if kind != "DIFF" and (config.get("copy_only") or (secondary and kind == "FULL")):
            options.append("COPY_ONLY")
        statement = "BACKUP LOG" if kind == "LOG" else "BACKUP DATABASE"
        note = "" if kind == BACKUP_TYPES[task] else f"{task} changed to FULL: no full backup yet"
        out.append(
            Command(
                db.name, "CREATE_FOLDER", f"EXECUTE master.dbo.xp_create_subdir {literal(folder)};"
            )
        )
        out.append(
            Command(
                db.name,
                statement.replace(" ", "_"),
                f"{statement} {quote_name(db.name)} TO DISK = {literal(path)}"
                + (f" WITH {', '.join(options)}" if options else "")
                + ";",
                note,
            )
        )
        if config.get("verify", True):
            check = " WITH CHECKSUM" if config.get("checksum", True) else ""
            out.append(
                Command(
                    db.name,
                    "RESTORE_VERIFYONLY",
                    f"RESTORE VERIFYONLY FROM DISK = {literal(path)}{check};",
                )
            )
        hours = config.get("cleanup_hours")
        if hours:
            cutoff = now - dt.timedelta(hours=hours)
            if kind == "LOG":
                # Never delete log backups newer than the last full or differential: they are
                # the chain a restore needs.
                last_base = db.last_full_or_diff
                if last_base is None:
                    continue
                cutoff = min(cutoff, last_base)
            out.append(
                Command(
                    db.name,
                    "DELETE_OLD_FILES",
                    f"EXECUTE master.dbo.xp_delete_file 0, {literal(folder)}, {literal(ext)}, "
                    f"{literal(cutoff.strftime('%Y-%m-%dT%H:%M:%S'))}, 0;",
                )
            )
    return out


# -- index maintenance -----------------------------------------------------------------------------
def index_action(index: IndexFacts, config: dict[str, Any], server: ServerFacts) -> str | None:
    """The first action of the index's fragmentation group that is possible for it."""
    if index.fragmentation >= config["fragmentation_level2"]:
        actions = config.get("fragmentation_high")
    elif index.fragmentation >= config["fragmentation_level1"]:
        actions = config.get("fragmentation_medium")
    else:
        actions = config.get("fragmentation_low")
    for action in actions or ():
        if action == "INDEX_REORGANIZE" and index.allow_page_locks:
            return action
        if action == "INDEX_REBUILD_ONLINE" and server.supports_online_rebuild:
            # Before 2012 an index with LOB columns cannot be rebuilt online; a single partition
            # can be rebuilt online from 2014.
            lob_blocks = index.has_lob and server.major_version < 11
            partition_blocks = index.partitions > 1 and server.major_version < 12
            if not (lob_blocks or partition_blocks):
                return action
        if action == "INDEX_REBUILD_OFFLINE":
            return action
    return None


def index_commands(
    database: str,
    indexes: list[IndexFacts],
    statistics: list[StatisticsFacts],
    config: dict[str, Any],
    server: ServerFacts,
) -> list[Command]:
    out: list[Command] = []
    rebuilt: set[tuple[str, str, str]] = set()
    for ix in indexes:
        action = index_action(ix, config, server)
        if action is None:
            continue
        target = f"{quote_name(ix.index_name)} ON {quote_name(ix.schema_name)}." + quote_name(
            ix.table_name
        )
        part = f" PARTITION = {ix.partition_number}" if ix.partitions > 1 else ""
        if action == "INDEX_REORGANIZE":
            sql = f"ALTER INDEX {target} REORGANIZE{part};"
        else:
            online = "ON" if action == "INDEX_REBUILD_ONLINE" else "OFF"
            sql = f"ALTER INDEX {target} REBUILD{part} WITH (ONLINE = {online});"
            if not part:  # a whole-index rebuild refreshes its statistics with a full scan
                rebuilt.add((ix.schema_name, ix.table_name, ix.index_name))
        note = f"{ix.fragmentation:.1f} % fragmented, {ix.page_count} pages"
        out.append(Command(database, "ALTER_INDEX", sql, note))
    which = config.get("update_statistics")
    for st in statistics:
        if (
            which is None
            or (which == "INDEX" and not st.is_index)
            or (which == "COLUMNS" and st.is_index)
        ):
            continue
        if (st.schema_name, st.table_name, st.stats_name) in rebuilt:
            continue
        if config.get("only_modified_statistics", True) and not st.modification_counter:
            continue
        table = f"{quote_name(st.schema_name)}.{quote_name(st.table_name)}"
        out.append(
            Command(
                database,
                "UPDATE_STATISTICS",
                f"UPDATE STATISTICS {table} ({quote_name(st.stats_name)});",
                f"{st.modification_counter or 0} modifications",
            )
        )
    return out


# -- integrity -------------------------------------------------------------------------------------
def integrity_commands(config: dict[str, Any], databases: list[Database]) -> list[Command | Skip]:
    out: list[Command | Skip] = []
    options = ["NO_INFOMSGS", "ALL_ERRORMSGS"]
    if config.get("physical_only"):
        options.append("PHYSICAL_ONLY")
    if config.get("extended_logical_checks"):
        options.append("EXTENDED_LOGICAL_CHECKS")
    for db in selection.select(config.get("databases", "ALL_DATABASES"), databases):
        if db.state != "ONLINE":
            out.append(Skip(db.name, f"{db.state.lower()}: not checked"))
            continue
        target = quote_name(db.name) + (", NOINDEX" if config.get("no_index") else "")
        out.append(
            Command(db.name, "DBCC_CHECKDB", f"DBCC CHECKDB ({target}) WITH {', '.join(options)};")
        )
    return out


# -- a readable preview ----------------------------------------------------------------------------
EXAMPLE_SERVER = ServerFacts("SQLPROD01", 16)
EXAMPLE_DATABASES = [
    Database("master", "SIMPLE"),
    Database("model", "FULL"),
    Database("msdb", "SIMPLE"),
    Database("Sales", "FULL"),
    Database("Staging", "SIMPLE"),
    Database("Archive", "FULL", state="OFFLINE"),
]
EXAMPLE_INDEXES = [
    IndexFacts("dbo", "Orders", "PK_Orders", 1, "CLUSTERED", 1, 1, 42.0, 120_000, True, False),
    IndexFacts(
        "dbo", "Orders", "IX_Orders_Customer", 2, "NONCLUSTERED", 1, 1, 12.5, 8_000, True, False
    ),
    IndexFacts(
        "dbo", "Lines", "IX_Lines_Product", 3, "NONCLUSTERED", 1, 1, 2.0, 50_000, True, False
    ),
]
EXAMPLE_STATISTICS = [
    StatisticsFacts("dbo", "Orders", "PK_Orders", True, 5_000),
    StatisticsFacts("dbo", "Orders", "_WA_Sys_00000002_Status", False, 1_200),
    StatisticsFacts("dbo", "Lines", "IX_Lines_Product", True, 0),
]


def _lines(items: list[Command | Skip]) -> list[str]:
    lines = []
    for item in items:
        if isinstance(item, Skip):
            lines.append(f"-- {item.database}: skipped ({item.reason})")
        else:
            if item.note:
                lines.append(f"-- {item.note}")
            lines.append(item.sql)
    return lines


def preview(policy_type: str, config: dict[str, Any], now: dt.datetime) -> str:
    """The T-SQL a version runs, shown before it is deployed: the discovery queries, then the
    commands it would send to an example server (databases and indexes are read from each real
    server when the job runs)."""
    head = [f"-- DbTools {policy_type.replace('_', ' ')} policy", ""]
    if policy_type == "custom_script":
        return "\n".join(
            [*head, f"USE {quote_name(config.get('database', 'master'))};", "GO", config["script"]]
        )
    head += ["-- 1. What the server has:", DATABASES_SQL, ""]
    body: list[str] = []
    if policy_type == "backup":
        for task in ("full", "diff", "log"):
            sched = config.get(task)
            if not sched:
                continue
            when = sched.get("schedule") or f"every {sched['every_minutes']} minutes"
            body += [f"-- {BACKUP_TYPES[task]} backups ({when}), on the example server:"]
            body += _lines(backup_commands(config, task, EXAMPLE_SERVER, EXAMPLE_DATABASES, now))
            body.append("")
    elif policy_type == "index_maintenance":
        body += [
            "-- 2. In each selected database (after USE), its indexes and statistics:",
            INDEXES_SQL.replace("?", str(config["min_number_of_pages"])),
            "",
            STATISTICS_SQL,
            "",
            "-- 3. Commands for the example database Sales:",
        ]
        body += _lines(
            index_commands("Sales", EXAMPLE_INDEXES, EXAMPLE_STATISTICS, config, EXAMPLE_SERVER)
        )
    elif policy_type == "integrity_check":
        body += ["-- 2. Commands on the example server:"]
        body += _lines(integrity_commands(config, EXAMPLE_DATABASES))
    return "\n".join(head + body).rstrip() + "\n"

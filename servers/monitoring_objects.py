"""The DbTools monitoring objects on a target instance: versioned T-SQL scripts and the steps
to deploy them over one connection.

Scripts live in `monitoring_sql/`, applied in name order, each idempotent (re-running them is
safe); batches are separated by `GO` lines as in SSMS. `monitoring_sql/VERSION` is the version
DbTools ships: bump it whenever a script changes, and servers with an older deployed version show
"Upgrade available".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from servers import sqlclient, tsql

SCRIPTS = Path(__file__).resolve().parent / "monitoring_sql"
SCRIPT_VERSION = int((SCRIPTS / "VERSION").read_text().strip())
# Objects live in master unless a DBA prefers a DBA database (sp_WhoIsActive and Ola Hallengren's
# scripts do the same). Collecting needs VIEW SERVER STATE (or, on 2022, the finer VIEW SERVER
# PERFORMANCE STATE) and EXECUTE on the procedure, which the deployment grants to public.
TARGET_DATABASE = "master"


# What deploying and collecting need, as SQL Server checks each statement the scripts send:
# - collecting: VIEW SERVER STATE, or VIEW SERVER PERFORMANCE STATE on 2022 (NULL before 2022,
#   which does not know the name);
# - a first deployment creates the schema owned by dbo (AUTHORIZATION dbo: CREATE SCHEMA and
#   IMPERSONATE on dbo), then creates, writes and grants inside it: short of db_owner (CONTROL on
#   the database), no set of grants on a schema that does not exist yet allows all of that;
# - an upgrade alters the procedure, writes DbTools.Config and grants EXECUTE: CONTROL on
#   SCHEMA::DbTools does all of it; CREATE TABLE / CREATE PROCEDURE only for an object missing.
PERMISSION_SQL = """SELECT
    HAS_PERMS_BY_NAME(NULL, NULL, 'VIEW SERVER STATE') AS view_server_state,
    HAS_PERMS_BY_NAME(NULL, NULL, 'VIEW SERVER PERFORMANCE STATE') AS view_server_performance_state,
    HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'CONTROL') AS control_database,
    HAS_PERMS_BY_NAME(N'DbTools', 'SCHEMA', 'CONTROL') AS control_schema,
    HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'CREATE TABLE') AS create_table,
    HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'CREATE PROCEDURE') AS create_procedure"""

VERSION_SQL = """SELECT CAST(value AS int) AS version FROM DbTools.Config
WHERE name = N'schema_version'"""

OBJECTS_SQL = """SELECT o.name, o.type_desc, o.modify_date FROM sys.objects AS o
WHERE o.schema_id = SCHEMA_ID(N'DbTools') AND o.type IN ('U', 'P') ORDER BY o.name"""


@dataclass(frozen=True)
class DeployOutcome:
    version: int
    previous_version: int | None


@cache
def batches() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(script name, batches) in the order they are applied."""
    out = []
    for path in sorted(SCRIPTS.glob("*.sql")):
        # GO is the client's separator, split as sqlcmd does (GO n, GO -- comment, never
        # inside a comment or a string).
        parts = tuple(tsql.split_batches(path.read_text()))
        out.append((path.name, parts))
    return tuple(out)


def missing_permissions(conn: sqlclient.SqlConnection) -> list[str]:
    """What the login lacks to deploy (or upgrade) and then collect, as DBA-readable names."""
    row = conn.query_dicts(PERMISSION_SQL)[0]
    missing = []
    if not (row.get("view_server_state") or row.get("view_server_performance_state")):
        missing.append("VIEW SERVER STATE")
    if row.get("control_database"):
        return missing
    if conn.query("SELECT SCHEMA_ID(N'DbTools')")[0][0] is None:
        missing.append("db_owner (CONTROL on the database) to create the DbTools schema")
        return missing
    if not row.get("control_schema"):
        missing.append("CONTROL on SCHEMA::DbTools")
    if not row.get("create_table") and not _exists(conn, "DbTools.Config", "U"):
        missing.append("CREATE TABLE")
    if not row.get("create_procedure") and not _exists(conn, "DbTools.usp_CollectMetrics", "P"):
        missing.append("CREATE PROCEDURE")
    return missing


def _exists(conn: sqlclient.SqlConnection, name: str, kind: str) -> bool:
    return conn.query(f"SELECT OBJECT_ID(N'{name}', N'{kind}')")[0][0] is not None


def deployed_version(conn: sqlclient.SqlConnection) -> int | None:
    if not conn.query("SELECT OBJECT_ID(N'DbTools.Config', N'U')")[0][0]:
        return None
    rows = conn.query(VERSION_SQL)
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


def deploy_objects(conn: sqlclient.SqlConnection) -> DeployOutcome:
    """Check permissions, then create or upgrade every object. Raises PermissionMissing or a
    QueryFailed naming the script that failed."""
    conn.execute(f"USE [{TARGET_DATABASE}]")
    missing = missing_permissions(conn)
    if missing:
        raise sqlclient.PermissionMissing(
            f"The login lacks {', '.join(missing)} in {TARGET_DATABASE}, needed to deploy the "
            "DbTools monitoring objects. Grant them, or deploy with a login in db_owner of "
            f"{TARGET_DATABASE}, then deploy again."
        )
    previous = deployed_version(conn)
    for name, parts in batches():
        for batch in parts:
            try:
                if "?" in batch:
                    conn.execute(batch, str(SCRIPT_VERSION))
                else:
                    conn.execute(batch)
            except sqlclient.QueryFailed as exc:
                raise sqlclient.QueryFailed(
                    f"Deploying {name} failed: {exc.message}", detail=exc.detail, number=exc.number
                ) from exc
            except sqlclient.PermissionMissing as exc:
                # A permission the pre-check could not see (a DENY on one object, say).
                raise sqlclient.PermissionMissing(
                    f"Deploying {name} failed: {exc.message}", detail=exc.detail
                ) from exc
    return DeployOutcome(version=SCRIPT_VERSION, previous_version=previous)


def deployed_objects(conn: sqlclient.SqlConnection) -> list[dict]:
    conn.execute(f"USE [{TARGET_DATABASE}]")
    return conn.query_dicts(OBJECTS_SQL)

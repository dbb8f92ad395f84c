"""The DbTools monitoring objects on a target instance: versioned T-SQL scripts and the steps
to deploy them over one connection.

Scripts live in `monitoring_sql/`, applied in name order, each idempotent (re-running them is
safe); batches are separated by `GO` lines as in SSMS. `monitoring_sql/VERSION` is the version
DbTools ships: bump it whenever a script changes, and servers with an older deployed version show
"Upgrade available".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from servers import sqlclient

SCRIPTS = Path(__file__).resolve().parent / "monitoring_sql"
SCRIPT_VERSION = int((SCRIPTS / "VERSION").read_text().strip())
# Objects live in master unless a DBA prefers a DBA database (sp_WhoIsActive and Ola Hallengren's
# scripts do the same). The collection procedure needs VIEW SERVER STATE only.
TARGET_DATABASE = "master"

_GO = re.compile(r"^\s*GO\s*$", re.MULTILINE | re.IGNORECASE)

PERMISSION_SQL = """SELECT
    HAS_PERMS_BY_NAME(NULL, NULL, 'VIEW SERVER STATE') AS view_server_state,
    HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'CREATE PROCEDURE') AS create_procedure,
    HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'CREATE TABLE') AS create_table,
    HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'CREATE SCHEMA') AS create_schema"""

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
        parts = tuple(b.strip() for b in _GO.split(path.read_text()) if b.strip())
        out.append((path.name, parts))
    return tuple(out)


def missing_permissions(conn: sqlclient.SqlConnection) -> list[str]:
    row = conn.query_dicts(PERMISSION_SQL)[0]
    names = {
        "view_server_state": "VIEW SERVER STATE",
        "create_procedure": "CREATE PROCEDURE",
        "create_table": "CREATE TABLE",
        "create_schema": "CREATE SCHEMA",
    }
    return [label for key, label in names.items() if not row.get(key)]


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
            "DbTools monitoring objects. Grant them, or deploy with a login in db_owner, then "
            "deploy again."
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
    return DeployOutcome(version=SCRIPT_VERSION, previous_version=previous)


def deployed_objects(conn: sqlclient.SqlConnection) -> list[dict]:
    conn.execute(f"USE [{TARGET_DATABASE}]")
    return conn.query_dicts(OBJECTS_SQL)

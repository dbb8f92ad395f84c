"""Policy versions rendered to T-SQL, compared with golden files that cover every option.

Regenerate after an intended change with `DBTOOLS_UPDATE_GOLDEN=1 pytest policies/tests`, then
read the diff: each line is a statement a DBA's server will run.
"""

import datetime as dt
import os
from pathlib import Path

import pytest

from policies import render, schemas
from policies.render import IndexFacts, ServerFacts, StatisticsFacts
from policies.selection import Database

GOLDEN = Path(__file__).parent / "golden"
NOW = dt.datetime(2026, 11, 26, 1, 0, 0)
ENTERPRISE = ServerFacts("SQLPROD01", 16)
STANDARD_2014 = ServerFacts(
    "SQLOLD02\\INST1", 12, supports_compression=True, supports_online_rebuild=False
)
EXPRESS = ServerFacts("SQLEXPRESS01", 15, supports_compression=False, supports_online_rebuild=False)
LAST_FULL = dt.datetime(2026, 11, 25, 22, 0, 0)

DATABASES = [
    Database("master", "SIMPLE"),
    Database("model", "FULL"),
    Database("msdb", "SIMPLE"),
    Database("tempdb", "SIMPLE"),
    Database("Sales", "FULL", last_full_or_diff=LAST_FULL),
    Database("Sales_Snapshot", "FULL", is_snapshot=True),
    Database("Staging", "SIMPLE"),
    Database("New]DB's", "FULL", has_full_backup=False, log_chain=False),
    Database("Archive", "FULL", state="OFFLINE"),
    Database("AgPrimary", "FULL", in_availability_group=True, last_full_or_diff=LAST_FULL),
    Database("AgSecondary", "FULL", in_availability_group=True, is_primary_replica=False),
    Database("AgNotPreferred", "FULL", in_availability_group=True, preferred_backup_replica=False),
]


def backup(**change):
    config, errors = schemas.validate(
        "backup", {"destination_path": "\\\\backupsrv\\sql", **change}
    )
    assert not errors, errors
    return config


def lines(items):
    return render._lines(items)


def check(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.sql"
    if os.environ.get("DBTOOLS_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}: run with DBTOOLS_UPDATE_GOLDEN=1"
    assert text == path.read_text()


BACKUP_CASES = {
    "backup_defaults": ({}, ENTERPRISE),
    "backup_all_databases": ({"databases": "ALL_DATABASES"}, ENTERPRISE),
    "backup_selection": ({"databases": "Sales%, New%, -Sales_Archive, Ag%"}, ENTERPRISE),
    "backup_no_options": (
        {
            "verify": False,
            "checksum": False,
            "compression": False,
            "cleanup_hours": None,
            "databases": "Sales",
        },
        ENTERPRISE,
    ),
    "backup_copy_only": ({"copy_only": True, "databases": "Sales, AgSecondary"}, ENTERPRISE),
    "backup_no_type_change": (
        {"change_backup_type": False, "databases": "New%, Sales"},
        ENTERPRISE,
    ),
    "backup_express_linux_path": (
        {"destination_path": "/var/opt/mssql/backup/", "databases": "Sales"},
        EXPRESS,
    ),
    "backup_named_instance": ({"databases": "Sales"}, STANDARD_2014),
}


@pytest.mark.parametrize("name", BACKUP_CASES)
def test_backup_rendering(name):
    change, server = BACKUP_CASES[name]
    config = backup(**change)
    out = []
    for task in ("full", "diff", "log"):
        out.append(f"-- {task}")
        out += lines(render.backup_commands(config, task, server, DATABASES, NOW))
    check(name, "\n".join(out) + "\n")


INDEXES = [
    IndexFacts("dbo", "Orders", "PK_Orders", 1, "CLUSTERED", 1, 1, 42.0, 120_000, True, False),
    IndexFacts(
        "dbo", "Orders", "IX_Orders_Customer", 2, "NONCLUSTERED", 1, 1, 12.5, 8_000, True, False
    ),
    IndexFacts(
        "dbo", "Orders", "IX_NoPageLocks", 3, "NONCLUSTERED", 1, 1, 12.5, 8_000, False, False
    ),
    IndexFacts("sales", "Big]Table", "PK_Big", 1, "CLUSTERED", 3, 12, 55.0, 900_000, True, False),
    IndexFacts("dbo", "Docs", "PK_Docs", 1, "CLUSTERED", 1, 1, 35.0, 2_000, True, True),
    IndexFacts(
        "dbo", "Lines", "IX_Lines_Product", 3, "NONCLUSTERED", 1, 1, 2.0, 50_000, True, False
    ),
]
STATISTICS = [
    StatisticsFacts("dbo", "Orders", "PK_Orders", True, 5_000),
    StatisticsFacts("dbo", "Orders", "IX_Orders_Customer", True, 300),
    StatisticsFacts("dbo", "Orders", "_WA_Sys_00000002_Status", False, 1_200),
    StatisticsFacts("dbo", "Lines", "IX_Lines_Product", True, 0),
    StatisticsFacts("dbo", "Lines", "ST_Lines_Qty", False, None),
]
INDEX_CASES = {
    "index_defaults": ({}, ENTERPRISE),
    "index_standard_2014": ({}, STANDARD_2014),
    "index_low_group_and_columns": (
        {
            "fragmentation_low": ["INDEX_REORGANIZE"],
            "update_statistics": "COLUMNS",
            "only_modified_statistics": False,
        },
        ENTERPRISE,
    ),
    "index_rebuild_only_index_stats": (
        {
            "fragmentation_medium": ["INDEX_REBUILD_OFFLINE"],
            "fragmentation_level1": 10,
            "fragmentation_level2": 40,
            "update_statistics": "INDEX",
        },
        EXPRESS,
    ),
    "index_no_statistics": ({"update_statistics": None, "fragmentation_medium": None}, ENTERPRISE),
}


@pytest.mark.parametrize("name", INDEX_CASES)
def test_index_rendering(name):
    change, server = INDEX_CASES[name]
    config, errors = schemas.validate("index_maintenance", change)
    assert not errors, errors
    check(
        name,
        "\n".join(lines(render.index_commands("Sales", INDEXES, STATISTICS, config, server)))
        + "\n",
    )


INTEGRITY_CASES = {
    "integrity_defaults": {},
    "integrity_physical_only_no_index": {"physical_only": True, "no_index": True},
    "integrity_extended": {"extended_logical_checks": True, "databases": "USER_DATABASES"},
}


@pytest.mark.parametrize("name", INTEGRITY_CASES)
def test_integrity_rendering(name):
    config, errors = schemas.validate("integrity_check", INTEGRITY_CASES[name])
    assert not errors, errors
    check(name, "\n".join(lines(render.integrity_commands(config, DATABASES))) + "\n")


@pytest.mark.parametrize("policy_type", list(schemas.SCHEMAS))
def test_previews(policy_type):
    base = {
        "backup": {"destination_path": "D:\\Backup"},
        "custom_script": {"script": "EXEC dbo.usp_Purge @days = 30;"},
    }
    config, errors = schemas.validate(policy_type, base.get(policy_type, {}))
    assert not errors
    check(f"preview_{policy_type}", render.preview(policy_type, config, NOW))


def test_log_backups_newer_than_the_last_full_are_never_deleted():
    config = backup(databases="Sales", cleanup_hours=1)
    cmds = render.backup_commands(config, "log", ENTERPRISE, DATABASES, NOW)
    delete = next(c for c in cmds if c.kind == "DELETE_OLD_FILES")
    # One hour ago would be 00:00; the last full finished at 22:00 the day before.
    assert "N'2026-11-25T22:00:00'" in delete.sql


def test_no_log_cleanup_when_the_last_full_is_unknown():
    config = backup(databases="model")
    cmds = render.backup_commands(config, "log", ENTERPRISE, [Database("model", "FULL")], NOW)
    assert [c.kind for c in cmds] == ["CREATE_FOLDER", "BACKUP_LOG", "RESTORE_VERIFYONLY"]


def test_quoting_survives_hostile_names():
    assert render.quote_name("a]b") == "[a]]b]"
    assert render.literal("it's") == "N'it''s'"
    config = backup(databases="New%")
    full = render.backup_commands(config, "full", ENTERPRISE, DATABASES, NOW)
    sql = next(c.sql for c in full if c.kind == "BACKUP_DATABASE")
    assert sql.startswith("BACKUP DATABASE [New]]DB's] TO DISK = N'")
    assert "New]DB''s_FULL" in sql

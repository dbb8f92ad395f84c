"""Policy configurations: good and bad ones per type, field-level errors, defaults filled in."""

import pytest

from policies import schemas, selection
from policies.selection import Database


@pytest.mark.parametrize(
    ("policy_type", "config", "field"),
    [
        ("backup", {}, "configuration.destination_path"),
        ("backup", {"destination_path": "backups"}, "configuration.destination_path"),
        (
            "backup",
            {"destination_path": "D:\\B", "full": {"schedule": "nope"}},
            "configuration.full.schedule",
        ),
        (
            "backup",
            {"destination_path": "D:\\B", "log": {"every_minutes": 0}},
            "configuration.log.every_minutes",
        ),
        (
            "backup",
            {"destination_path": "D:\\B", "cleanup_hours": 0},
            "configuration.cleanup_hours",
        ),
        (
            "backup",
            {"destination_path": "D:\\B", "compression": "yes"},
            "configuration.compression",
        ),
        ("backup", {"destination_path": "D:\\B", "databases": "-Sales"}, "configuration.databases"),
        (
            "backup",
            {"destination_path": "D:\\B", "databases": "Sales, [x]"},
            "configuration.databases",
        ),
        (
            "backup",
            {"destination_path": "D:\\B", "retention_days": 7},
            "configuration.retention_days",
        ),
        (
            "index_maintenance",
            {"fragmentation_level1": 30, "fragmentation_level2": 30},
            "configuration.fragmentation_level2",
        ),
        ("index_maintenance", {"fragmentation_level1": 101}, "configuration.fragmentation_level1"),
        (
            "index_maintenance",
            {"fragmentation_high": ["INDEX_DEFRAG"]},
            "configuration.fragmentation_high.0",
        ),
        ("index_maintenance", {"update_statistics": "SOME"}, "configuration.update_statistics"),
        ("index_maintenance", {"time_limit_seconds": 59}, "configuration.time_limit_seconds"),
        (
            "integrity_check",
            {"physical_only": True, "extended_logical_checks": True},
            "configuration.extended_logical_checks",
        ),
        ("custom_script", {}, "configuration.script"),
        ("custom_script", {"script": "x", "timeout_seconds": 9}, "configuration.timeout_seconds"),
        ("custom_script", {"script": "x" * 100_001}, "configuration.script"),
    ],
)
def test_bad_configurations_name_the_field(policy_type, config, field):
    _, errors = schemas.validate(policy_type, config)
    assert field in errors, errors


@pytest.mark.parametrize(
    ("policy_type", "config"),
    [
        ("backup", {"destination_path": "\\\\srv\\share", "diff": None, "log": None}),
        ("backup", {"destination_path": "/var/opt/mssql/backup", "cleanup_hours": None}),
        (
            "index_maintenance",
            {"fragmentation_level1": 0, "fragmentation_level2": 100, "time_limit_seconds": 60},
        ),
        ("integrity_check", {"physical_only": True, "no_index": True}),
        ("custom_script", {"script": "x" * 100_000, "timeout_seconds": 10}),
    ],
)
def test_good_configurations_at_their_limits(policy_type, config):
    _, errors = schemas.validate(policy_type, config)
    assert errors == {}


def test_defaults_are_those_of_the_maintenance_solution():
    config, _ = schemas.validate("index_maintenance", {})
    assert config["fragmentation_level1"] == 5
    assert config["fragmentation_level2"] == 30
    assert config["min_number_of_pages"] == 1000
    assert config["fragmentation_medium"] == [
        "INDEX_REORGANIZE",
        "INDEX_REBUILD_ONLINE",
        "INDEX_REBUILD_OFFLINE",
    ]
    assert config["fragmentation_high"] == ["INDEX_REBUILD_ONLINE", "INDEX_REBUILD_OFFLINE"]
    backup, _ = schemas.validate("backup", {"destination_path": "D:\\B"})
    assert backup["databases"] == "USER_DATABASES"
    assert backup["log"] == {"every_minutes": 15}
    assert backup["verify"] and backup["checksum"] and backup["compression"]


DBS = [
    Database(n)
    for n in ("master", "model", "msdb", "tempdb", "Sales", "SalesArchive", "Staging", "HR")
] + [Database("AgDb", in_availability_group=True)]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("SYSTEM_DATABASES", ["master", "model", "msdb"]),
        ("USER_DATABASES", ["Sales", "SalesArchive", "Staging", "HR", "AgDb"]),
        ("ALL_DATABASES, -Sales%", ["master", "model", "msdb", "Staging", "HR", "AgDb"]),
        ("sales%", ["Sales", "SalesArchive"]),
        ("Sales", ["Sales"]),
        ("AVAILABILITY_GROUP_DATABASES", ["AgDb"]),
        ("user_databases, -%Archive, master", ["master", "Sales", "Staging", "HR", "AgDb"]),
        ("tempdb", []),
    ],
)
def test_database_selection(text, names):
    assert [d.name for d in selection.select(text, DBS)] == names

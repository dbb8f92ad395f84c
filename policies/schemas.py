"""What each policy type configures, as JSON Schema, in the vocabulary DBAs already know from
Ola Hallengren's Maintenance Solution (DatabaseBackup, IndexOptimize, DatabaseIntegrityCheck),
with its defaults. The API validates with these (field-level 400s), publishes them at
/api/policies/schemas, and the create wizard builds its form from them.

How the fields of the original product brief map: `destination_path` is the backup directory,
`compression` is kept, `retention_days` becomes `cleanup_hours` (days x 24), the backup type
becomes one schedule per type (`full`, `diff`, `log`), `fragmentation_threshold` and
`rebuild_threshold` are `fragmentation_level1` and `fragmentation_level2`, `include_statistics`
is `update_statistics`, `check_type` is `physical_only`/`extended_logical_checks`,
`include_indexes` is `no_index` inverted, `script_content` is `script`, and `timeout_seconds` is
the job's timeout.
"""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import Draft202012Validator

from policies import selection

CRON = {
    "type": "string",
    "minLength": 9,
    "maxLength": 100,
    "description": "Cron expression in the job's time zone, e.g. 0 1 * * 0.",
}
DATABASES = {
    "type": "string",
    "minLength": 1,
    "maxLength": 4000,
    "default": "USER_DATABASES",
    "description": "SYSTEM_DATABASES, USER_DATABASES, ALL_DATABASES, "
    "AVAILABILITY_GROUP_DATABASES or names, comma separated; '-' excludes, "
    "'%' is a wildcard (e.g. 'USER_DATABASES, -Staging%').",
}
TIME_LIMIT = {
    "type": ["integer", "null"],
    "minimum": 60,
    "maximum": 7 * 86400,
    "default": None,
    "description": "No new command starts after this many seconds.",
}
INDEX_ACTIONS = ["INDEX_REORGANIZE", "INDEX_REBUILD_ONLINE", "INDEX_REBUILD_OFFLINE"]
ACTION_LIST = {
    "type": ["array", "null"],
    "items": {"enum": INDEX_ACTIONS},
    "uniqueItems": True,
    "maxItems": 3,
    "description": "Tried in order; the first one possible for the index is used.",
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "backup": {
        "title": "Backup",
        "description": "Full, differential and log backups on their own schedules, verified, "
        "compressed, with checksums, and old files cleaned up.",
        "type": "object",
        "properties": {
            "databases": DATABASES,
            "destination_path": {
                "type": "string",
                "minLength": 3,
                "maxLength": 400,
                "pattern": r"^(?:[A-Za-z]:\\|\\\\[^\\/:*?\"<>|]+\\|/)[^*?\"<>|]*$",
                "description": "Directory on or reachable from the server, "
                "e.g. \\\\backupsrv\\sql or D:\\Backup.",
            },
            "full": {
                "type": "object",
                "properties": {"schedule": CRON},
                "required": ["schedule"],
                "additionalProperties": False,
                "default": {"schedule": "0 1 * * 0"},
            },
            "diff": {
                "type": ["object", "null"],
                "properties": {"schedule": CRON},
                "required": ["schedule"],
                "additionalProperties": False,
                "default": {"schedule": "0 1 * * 1-6"},
            },
            "log": {
                "type": ["object", "null"],
                "properties": {"every_minutes": {"type": "integer", "minimum": 1, "maximum": 1440}},
                "required": ["every_minutes"],
                "additionalProperties": False,
                "default": {"every_minutes": 15},
            },
            "verify": {
                "type": "boolean",
                "default": True,
                "description": "RESTORE VERIFYONLY after each backup.",
            },
            "checksum": {"type": "boolean", "default": True},
            "compression": {
                "type": "boolean",
                "default": True,
                "description": "Ignored on editions without backup compression.",
            },
            "copy_only": {"type": "boolean", "default": False},
            "cleanup_hours": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": 24 * 3650,
                "default": 168,
                "description": "Delete this policy's backup files older than "
                "this; log backups newer than the last full or "
                "differential are always kept.",
            },
            "change_backup_type": {
                "type": "boolean",
                "default": True,
                "description": "Take a full backup when a differential or "
                "log backup is impossible (no full yet).",
            },
        },
        "required": ["destination_path"],
        "additionalProperties": False,
    },
    "index_maintenance": {
        "title": "Index maintenance",
        "description": "Reorganize or rebuild fragmented indexes chosen at run time, then "
        "update statistics.",
        "type": "object",
        "properties": {
            "databases": DATABASES,
            "schedule": {**CRON, "default": "0 2 * * 0"},
            "fragmentation_level1": {"type": "number", "minimum": 0, "maximum": 100, "default": 5},
            "fragmentation_level2": {"type": "number", "minimum": 0, "maximum": 100, "default": 30},
            "fragmentation_low": {**ACTION_LIST, "default": None},
            "fragmentation_medium": {**ACTION_LIST, "default": INDEX_ACTIONS},
            "fragmentation_high": {
                **ACTION_LIST,
                "default": ["INDEX_REBUILD_ONLINE", "INDEX_REBUILD_OFFLINE"],
            },
            "min_number_of_pages": {
                "type": "integer",
                "minimum": 0,
                "maximum": 10**9,
                "default": 1000,
            },
            "update_statistics": {"enum": ["ALL", "INDEX", "COLUMNS", None], "default": "ALL"},
            "only_modified_statistics": {"type": "boolean", "default": True},
            "time_limit_seconds": TIME_LIMIT,
        },
        "additionalProperties": False,
    },
    "integrity_check": {
        "title": "Integrity check",
        "description": "DBCC CHECKDB on every selected database, physical only or full.",
        "type": "object",
        "properties": {
            "databases": {**DATABASES, "default": "ALL_DATABASES"},
            "schedule": {**CRON, "default": "0 0 * * 6"},
            "physical_only": {"type": "boolean", "default": False},
            "no_index": {
                "type": "boolean",
                "default": False,
                "description": "Skip nonclustered indexes (faster, less thorough).",
            },
            "extended_logical_checks": {"type": "boolean", "default": False},
            "time_limit_seconds": TIME_LIMIT,
        },
        "additionalProperties": False,
    },
    "custom_script": {
        "title": "Custom script",
        "description": "Your own T-SQL, run on every server of the group.",
        "type": "object",
        "properties": {
            "script": {"type": "string", "minLength": 1, "maxLength": 100_000},
            "database": {
                "type": "string",
                "minLength": 1,
                "maxLength": 128,
                "pattern": r"^[^\[\]\x00-\x1f]+$",
                "default": "master",
            },
            "schedule": {**CRON, "default": "0 3 * * *"},
            "timeout_seconds": {
                "type": "integer",
                "minimum": 10,
                "maximum": 7 * 86400,
                "default": 1800,
            },
        },
        "required": ["script"],
        "additionalProperties": False,
    },
}


def _message(err: Any) -> str:
    limit, kind = err.validator_value, err.validator
    if kind == "enum":
        return "One of: " + ", ".join("null" if v is None else str(v) for v in limit) + "."
    if kind == "type":
        return "Must be " + (" or ".join(limit) if isinstance(limit, list) else limit) + "."
    if kind == "minLength" and limit == 1:
        return "This field may not be blank."
    return {
        "required": "This field is required.",
        "minLength": f"At least {limit} characters.",
        "maxLength": f"At most {limit} characters.",
        "minimum": f"At least {limit}.",
        "maximum": f"At most {limit}.",
        "pattern": "Not a directory path (D:\\Backup, \\\\server\\share or /var/opt/backup).",
        "uniqueItems": "Each action once.",
        "maxItems": f"At most {limit} items.",
    }.get(kind, err.message[:200])


def validate(policy_type: str, config: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(configuration with every default filled in, errors by field path)."""
    schema = SCHEMAS.get(policy_type)
    if schema is None:
        return {}, {"policy_type": ["Unknown policy type."]}
    if not isinstance(config, dict):
        return {}, {"configuration": ["An object."]}
    errors: dict[str, list[str]] = {}
    for err in Draft202012Validator(schema).iter_errors(config):
        path = ["configuration", *(str(p) for p in err.absolute_path)]
        if err.validator == "required":
            path.append(err.message.split("'")[1])
        if err.validator == "additionalProperties":
            for extra in sorted(set(err.instance) - set(err.schema.get("properties", {}))):
                errors.setdefault(".".join([*path, extra]), []).append(
                    "Unknown field for this policy type."
                )
            continue
        errors.setdefault(".".join(path), []).append(_message(err))
    filled = copy.deepcopy(config)
    for name, prop in schema["properties"].items():
        if name not in filled and "default" in prop:
            filled[name] = copy.deepcopy(prop["default"])
    if not errors:
        errors.update(_rules(policy_type, filled))
    return filled, errors


def _rules(policy_type: str, config: dict[str, Any]) -> dict[str, list[str]]:
    """What JSON Schema cannot say: relations between fields, cron and selection syntax."""
    from scheduler import timing

    errors: dict[str, list[str]] = {}
    try:
        selection.parse(config.get("databases", "USER_DATABASES"))
    except ValueError as exc:
        errors["configuration.databases"] = [str(exc)]
    crons = {"schedule": config.get("schedule")}
    if policy_type == "backup":
        crons = {f"{k}.schedule": (config.get(k) or {}).get("schedule") for k in ("full", "diff")}
    for field, expr in crons.items():
        if expr is None:
            continue
        try:
            timing.validate(timing.Schedule(timing.ScheduleType.CRON, expression=expr))
        except timing.ScheduleError as exc:
            errors[f"configuration.{field}"] = [exc.message]
    if (
        policy_type == "index_maintenance"
        and config["fragmentation_level1"] >= config["fragmentation_level2"]
    ):
        errors["configuration.fragmentation_level2"] = [
            "Must be above fragmentation_level1 (the rebuild level is the higher one)."
        ]
    if (
        policy_type == "integrity_check"
        and config["physical_only"]
        and config["extended_logical_checks"]
    ):
        errors["configuration.extended_logical_checks"] = [
            "Extended logical checks need the logical checks that physical_only skips."
        ]
    return errors

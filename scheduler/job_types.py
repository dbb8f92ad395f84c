"""What each job type needs in its configuration, as JSON Schema: the API validates with it
(field-level 400s), the docs publish it, and the wizard builds its form from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

# A database name as SQL Server allows it (sysname), without the characters that would let a
# name escape the USE statement it is put into.
SYSNAME = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"^[^\[\]\x00-\x1f]+$"}

SCHEMAS: dict[str, dict[str, Any]] = {
    "custom_script": {
        "type": "object",
        "properties": {
            "script": {
                "type": "string",
                "minLength": 1,
                "maxLength": 100_000,
                "description": "T-SQL to run; GO separates batches.",
            },
            "database": {
                **SYSNAME,
                "default": "master",
                "description": "The database the script runs in.",
            },
        },
        "required": ["script"],
        "additionalProperties": False,
    },
    "data_collection": {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    },
    "alert_check": {
        "type": "object",
        "properties": {
            "rule_ids": {
                "type": "array",
                "items": {"type": "integer", "minimum": 1},
                "maxItems": 500,
                "uniqueItems": True,
            }
        },
        "additionalProperties": False,
    },
    "policy_execution": {
        "type": "object",
        "properties": {
            "policy_id": {"type": "integer", "minimum": 1},
            "policy_version": {"type": "integer", "minimum": 1},
            "task": {
                "type": "string",
                "maxLength": 64,
                "description": "Which part of the policy, e.g. a backup type.",
            },
        },
        "required": ["policy_id"],
        "additionalProperties": False,
    },
}


def validate(job_type: str, config: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(configuration with defaults filled in, errors by field path)."""
    schema = SCHEMAS.get(job_type)
    if schema is None:
        return {}, {"job_type": ["Unknown job type."]}
    if not isinstance(config, dict):
        return {}, {"configuration": ["An object."]}
    errors: dict[str, list[str]] = {}
    for err in Draft202012Validator(schema).iter_errors(config):
        path = [str(p) for p in err.absolute_path]
        if err.validator == "required":
            path.append(err.message.split("'")[1])
        if err.validator == "additionalProperties":
            for extra in sorted(set(err.instance) - set(err.schema.get("properties", {}))):
                errors.setdefault(".".join(["configuration", *path, extra]), []).append(
                    "Unknown field for this job type."
                )
            continue
        errors.setdefault(".".join(["configuration", *path]), []).append(_message(err))
    filled = dict(config)
    for name, prop in schema.get("properties", {}).items():
        if "default" in prop:
            filled.setdefault(name, prop["default"])
    return filled, errors


def _message(err: Any) -> str:
    limit = err.validator_value
    messages = {
        "required": "This field is required.",
        "minLength": "This field may not be blank."
        if limit == 1
        else f"At least {limit} characters.",
        "maxLength": f"At most {limit} characters.",
        "pattern": "Brackets and control characters are not allowed here.",
        "minimum": f"At least {limit}.",
        "maxItems": f"At most {limit} items.",
        "uniqueItems": "Each item once.",
        "type": f"Must be of type {limit}.",
    }
    return messages.get(err.validator, err.message[:200])


@dataclass(frozen=True)
class Pick:
    """One thing a job of a type can run (a policy and its part), as the wizard offers it."""

    value: str
    label: str
    configuration: dict[str, Any]


# The apps that own a kind of job (policies) say what can be picked for it; the scheduler never
# imports them.
PICKERS: dict[str, Callable[[], list[Pick]]] = {}


def register_picker(job_type: str, picker: Callable[[], list[Pick]]) -> None:
    PICKERS[job_type] = picker


def picks(job_type: str) -> list[Pick]:
    picker = PICKERS.get(job_type)
    return picker() if picker else []

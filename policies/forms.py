"""The policy form, built from the policy type's JSON Schema: one field per setting (nested
schedules flattened to `full.schedule`), its default shown, and the errors the schema validation
gives placed on the field they concern. Validation itself stays in `schemas` (one home per rule);
this module only turns schema into fields and posted fields back into a configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.http import QueryDict

from policies import schemas
from policies.models import Exemption, Policy
from servers.forms import ServerIdsForm
from servers.models import Server

AT_MOST = "At most %(limit_value)d characters."

# Long text gets a text area; the rest follows the schema's types.
TEXTAREAS = {"script"}
LABELS = {
    "databases": "Databases",
    "destination_path": "Destination path",
    "full": "Full backups",
    "diff": "Differential backups",
    "log": "Log backups",
    "full.schedule": "Full backup schedule (cron)",
    "diff.schedule": "Differential backup schedule (cron)",
    "log.every_minutes": "Log backup every (minutes)",
    "verify": "Verify each backup (RESTORE VERIFYONLY)",
    "checksum": "Page checksums (CHECKSUM)",
    "compression": "Compression",
    "copy_only": "Copy-only backups",
    "cleanup_hours": "Delete backup files older than (hours)",
    "change_backup_type": "Take a full backup when none exists yet",
    "schedule": "Schedule (cron)",
    "fragmentation_level1": "Fragmentation level 1 (%)",
    "fragmentation_level2": "Fragmentation level 2 (%)",
    "fragmentation_low": "Below level 1",
    "fragmentation_medium": "Between levels 1 and 2",
    "fragmentation_high": "Above level 2",
    "min_number_of_pages": "Minimum index size (pages)",
    "update_statistics": "Update statistics",
    "only_modified_statistics": "Only statistics with modifications",
    "time_limit_seconds": "Time limit (seconds)",
    "physical_only": "Physical only (PHYSICAL_ONLY)",
    "no_index": "Skip nonclustered indexes (NOINDEX)",
    "extended_logical_checks": "Extended logical checks",
    "script": "T-SQL script",
    "database": "Run in database",
    "timeout_seconds": "Timeout (seconds)",
}


class PolicyForm(forms.ModelForm):
    """The settings every policy type shares. Their limits are the model's, so the page's inputs
    and the check on save cannot disagree."""

    class Meta:
        model = Policy
        fields = ["name", "description"]
        error_messages = {
            "name": {"required": "Give the policy a name.", "max_length": AT_MOST},
            "description": {"max_length": AT_MOST},
        }

    def validate_unique(self) -> None:
        pass  # the action checks the name, case-insensitively, among the live policies


class ExemptionForm(forms.ModelForm):
    """The policy page's "Exempt a database" form, with the model's limits on its inputs."""

    # The element ids the page has always had (its labels and tests point at them).
    IDS = {
        "server_id": "ex-server",
        "database": "ex-db",
        "reason": "ex-reason",
        "expires_on": "ex-until",
    }

    server_id = forms.ModelChoiceField(
        queryset=Server.objects.none(),
        empty_label=None,
        error_messages={"required": "Pick a server.", "invalid_choice": "Pick a server."},
    )
    # A date: the exemption ends at the close of that day (UTC).
    expires_on = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={
            "required": "Give the date the exemption ends.",
            "invalid": "Give the date the exemption ends.",
        },
    )
    field_order = ["server_id", "database", "reason", "expires_on"]

    class Meta:
        model = Exemption
        fields = ["database", "reason"]
        error_messages = {
            "database": {"max_length": AT_MOST},
            "reason": {"required": "Say why this database is exempt.", "max_length": AT_MOST},
        }

    def __init__(self, *args: Any, servers: QuerySet[Server], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["server_id"].queryset = servers
        for name, element_id in self.IDS.items():
            self.fields[name].widget.attrs["id"] = element_id


@dataclass
class Field:
    key: str  # configuration path, e.g. "full.schedule"
    label: str
    kind: str  # text, textarea, number, checkbox, select, multi, section
    value: Any
    default: str = ""
    help: str = ""
    required: bool = False
    nullable: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    parent: str = ""  # the optional section (diff, log) this field belongs to
    closes_section: bool = False  # the last field of its section

    @property
    def name(self) -> str:
        return "c_" + self.key.replace(".", "__")

    @property
    def id(self) -> str:
        return "id_" + self.name


def _types(prop: dict[str, Any]) -> list[str]:
    t = prop.get("type", [])
    return t if isinstance(t, list) else [t]


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(value) or "none"
    return str(value)


def _field(key: str, prop: dict[str, Any], value: Any, required: bool, parent: str = "") -> Field:
    types = _types(prop)
    default = _shown(prop["default"]) if "default" in prop else ""
    common = {
        "key": key,
        "label": LABELS.get(key, key.replace("_", " ").capitalize()),
        "value": value,
        "default": default,
        "help": prop.get("description", ""),
        "required": required,
        "nullable": "null" in types,
        "parent": parent,
    }
    if "enum" in prop:
        choices = [("" if v is None else v, "None" if v is None else v) for v in prop["enum"]]
        return Field(kind="select", choices=choices, **common)
    if "array" in types:
        options = prop["items"]["enum"]
        return Field(kind="multi", choices=[(o, o) for o in options], **common)
    if "boolean" in types:
        return Field(kind="checkbox", **common)
    if "integer" in types or "number" in types:
        return Field(kind="number", **common)
    return Field(kind="textarea" if key in TEXTAREAS else "text", **common)


def fields_for(
    policy_type: str, config: dict[str, Any], errors: dict[str, list[str]] | None = None
) -> list[Field]:
    """The form's fields in schema order, holding `config`'s values and `errors` by field."""
    schema = schemas.SCHEMAS[policy_type]
    required = set(schema.get("required", []))
    errors = errors or {}
    out: list[Field] = []
    for name, prop in schema["properties"].items():
        value = config.get(name, prop.get("default"))
        if "object" in _types(prop):
            optional = "null" in _types(prop)
            section = Field(
                key=name,
                label=LABELS.get(name, name),
                kind="section",
                value=value is not None,
                default="on" if prop.get("default") is not None else "off",
                nullable=optional,
            )
            out.append(section)
            for sub, sub_prop in prop["properties"].items():
                sub_value = (value or prop.get("default") or {}).get(sub)
                out.append(_field(f"{name}.{sub}", sub_prop, sub_value, True, parent=name))
            out[-1].closes_section = True
            continue
        out.append(_field(name, prop, value, name in required))
    for f in out:
        f.errors = errors.get(f"configuration.{f.key}", [])
    return out


def _number(raw: str) -> Any:
    try:
        number = float(raw)
    except ValueError:
        return raw  # the schema says what is wrong with it
    return int(number) if number.is_integer() else number


def config_from_post(policy_type: str, data: QueryDict) -> dict[str, Any]:
    """The configuration the posted form describes (unvalidated: `schemas.validate` judges)."""
    config: dict[str, Any] = {}
    sections: dict[str, bool] = {}
    for f in fields_for(policy_type, {}):
        if f.kind == "section":
            enabled = not f.nullable or data.get(f.name) == "on"
            sections[f.key] = enabled
            config[f.key] = {} if enabled else None
            continue
        if f.parent and not sections.get(f.parent):
            continue
        raw = data.get(f.name, "")
        if f.kind == "checkbox":
            value: Any = data.get(f.name) == "on"
        elif f.kind == "multi":
            picked = data.getlist(f.name)
            value = picked or None
        elif f.kind == "select":
            value = raw or None
        elif f.kind == "number":
            raw = raw.strip()
            value = None if raw == "" and f.nullable else _number(raw) if raw else raw
        else:
            value = raw
        if f.kind == "number" and value == "" and not f.nullable:
            continue  # left empty: the default applies
        if f.parent:
            config[f.parent][f.key.split(".", 1)[1]] = value
        else:
            config[f.key] = value
    return config


class BulkDeployForm(ServerIdsForm):
    """The server list's bulk "deploy policy": a policy, deployed to every group the ticked
    servers belong to."""

    policy = forms.ModelChoiceField(
        queryset=Policy.objects.none(),
        error_messages={
            "required": "Choose a policy to deploy.",
            "invalid_choice": "Unknown policy.",
        },
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = Policy.objects.alive()

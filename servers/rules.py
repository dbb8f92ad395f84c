"""Rules that span several fields, or a list of values: each one once, for the pages' Django
forms and the API's serializers alike (rules of a single field are the model's validators).
Plain Django: no DRF here; the API reports these errors its own way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.utils.text import Truncator

from core.validators import validate_name
from servers import addresses

if TYPE_CHECKING:
    from servers.models import Server, ServerGroup

LABEL_NAME_MAX_LENGTH = 64
LABELS_PER_REQUEST = 50
SERVERS_PER_REQUEST = 5000


def check_connection(values: Mapping[str, Any], stored: Server | None = None) -> None:
    """Port and instance, login and authentication type, password: what must hold together to
    reach an instance. `values` may hold only the fields being changed; the others come from
    `stored`. Raises ValidationError by field."""

    def value(key: str, default: Any) -> Any:
        return values[key] if key in values else getattr(stored, key, default)

    errors: dict[str, list[str]] = {}
    try:
        addresses.check_port(
            value("port", addresses.DEFAULT_PORT), value("instance_name", "") or ""
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)
    user = value("username", "") or ""
    if not user:
        errors["username"] = ["A login is required."]
    elif value("auth_type", "sql") == "windows" and "\\" not in user:
        errors["username"] = ["Windows logins are written DOMAIN\\user."]
    if not values.get("password") and not getattr(stored, "password_encrypted", ""):
        errors["password"] = ["A password is required."]
    if errors:
        raise ValidationError(errors)


def check_bulk(action: str, *, group: ServerGroup | None, label: str | None) -> None:
    """What a bulk action needs beside the servers: `add_to_group` a group to add them to,
    `add_label` a label name that is not blank. The group is the one the caller found (None:
    none chosen). Raises ValidationError keyed
    "group" or "label"; the API names its field `group_id` and renames the key."""
    if action == "add_to_group" and group is None:
        raise ValidationError({"group": ["Choose a group."]})
    if action == "add_label" and not (label or "").strip():
        raise ValidationError({"label": ["Name a label."]})


def label_names(names: Iterable[str]) -> list[str]:
    """Label names as typed (trimmed, empty ones dropped), each checked like any display name;
    at least one and at most LABELS_PER_REQUEST."""
    wanted = [n.strip() for n in names if n and n.strip()]
    if not wanted:
        raise ValidationError("Name at least one label.", code="required")
    if len(wanted) > LABELS_PER_REQUEST:
        raise ValidationError(f"At most {LABELS_PER_REQUEST} labels at once.", code="too_many")
    problems = []
    for name in wanted:
        shown = Truncator(name).chars(24)
        if len(name) > LABEL_NAME_MAX_LENGTH:
            problems.append(
                f"“{shown}”: at most {LABEL_NAME_MAX_LENGTH} characters (it has {len(name)})."
            )
            continue
        try:
            validate_name(name)
        except ValidationError as exc:
            problems += [f"“{shown}”: {m}" for m in exc.messages]
    if problems:
        raise ValidationError(problems)
    return wanted

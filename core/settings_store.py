"""Tenant settings: typed defaults in code, overrides in the tenant's `settings` table."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser

from core import activity
from core.models import Setting
from dbtools import tenancy
from dbtools.errors import ActionError


@dataclass(frozen=True)
class SettingSpec:
    key: str
    label: str
    default: Any
    minimum: int | None = None
    maximum: int | None = None
    help: str = ""
    group: str = "General"


SPECS: dict[str, SettingSpec] = {
    s.key: s
    for s in [
        SettingSpec(
            "metrics_retention_days",
            "Metrics retention (days)",
            30,
            1,
            365,
            "Raw metrics older than this are dropped by the daily clean-up.",
            "Retention",
        ),
        SettingSpec(
            "activity_retention_days",
            "Activity log retention (days)",
            365,
            30,
            3650,
            "Audit entries older than this are removed.",
            "Retention",
        ),
        SettingSpec(
            "collection_interval_seconds",
            "Default collection interval (seconds)",
            60,
            30,
            3600,
            "How often a newly onboarded server is polled.",
            "Collection",
        ),
        SettingSpec(
            "cpu_warning_percent", "CPU warning (%)", 80, 1, 100, group="Health thresholds"
        ),
        SettingSpec(
            "cpu_critical_percent", "CPU critical (%)", 95, 1, 100, group="Health thresholds"
        ),
        SettingSpec(
            "memory_warning_percent", "Memory warning (%)", 85, 1, 100, group="Health thresholds"
        ),
        SettingSpec(
            "memory_critical_percent", "Memory critical (%)", 95, 1, 100, group="Health thresholds"
        ),
        SettingSpec(
            "dashboard_refresh_seconds",
            "Dashboard refresh (seconds)",
            30,
            5,
            600,
            "How often open dashboards poll for fresh health.",
            "Collection",
        ),
        SettingSpec(
            "offline_after_seconds",
            "Offline after no data for (seconds)",
            180,
            60,
            86400,
            group="Health thresholds",
        ),
    ]
}


# Pairs of thresholds where the first must stay below the second.
ORDERED_PAIRS = [
    ("cpu_warning_percent", "cpu_critical_percent"),
    ("memory_warning_percent", "memory_critical_percent"),
]


def errors_in(values: dict[str, Any]) -> dict[str, list[str]]:
    """Every rule a set of settings must follow, by key: each value within its bounds, and
    each warning threshold below its critical one. The settings page, the API and `update`
    all ask here. A key missing from `values` (a form field that failed on its own) is not
    judged again."""
    errors: dict[str, list[str]] = {}
    for key, value in values.items():
        spec = SPECS.get(key)
        if spec is None:
            errors[key] = ["Unknown setting."]
        elif spec.minimum is not None and value < spec.minimum:
            errors[key] = [f"Ensure this value is greater than or equal to {spec.minimum}."]
        elif spec.maximum is not None and value > spec.maximum:
            errors[key] = [f"Ensure this value is less than or equal to {spec.maximum}."]
    for low, high in ORDERED_PAIRS:
        warn, crit = values.get(low), values.get(high)
        if warn is not None and crit is not None and warn >= crit and high not in errors:
            errors[high] = ["Critical must be above warning."]
    return errors


def seed_defaults() -> int:
    """Insert the defaults that are missing; existing values are left alone. Returns how many."""
    created = Setting.objects.bulk_create(
        [Setting(key=s.key, value=s.default) for s in SPECS.values()], ignore_conflicts=True
    )
    return len(created)


def get(key: str) -> Any:
    row = Setting.objects.filter(key=key).values_list("value", flat=True).first()
    return SPECS[key].default if row is None else row


def get_all() -> dict[str, Any]:
    values = {s.key: s.default for s in SPECS.values()}
    values.update(dict(Setting.objects.values_list("key", "value")))
    return values


def update(
    changes: dict[str, Any], *, acting_user: AbstractBaseUser | None = None
) -> dict[str, Any]:
    """Write the changed settings and log one activity entry with before and after values.
    Raises ActionError when the result would break a rule (`errors_in`)."""
    before = get_all()
    errors = errors_in({**before, **changes})
    if errors:
        raise ActionError(errors)
    diff = {k: {"from": before.get(k), "to": v} for k, v in changes.items() if before.get(k) != v}
    if not diff:
        return before
    with tenancy.atomic():
        for key, change in diff.items():
            Setting.objects.update_or_create(key=key, defaults={"value": change["to"]})
        activity.record("settings.updated", "settings", "", "Tenant settings", diff, acting_user)
    return get_all()

"""Every change to alerting goes through a function here: one transaction on the tenant
database, its activity entry in that transaction, and background work queued after commit."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.models import (
    Alert,
    AlertRule,
    AlertState,
    ContactPoint,
    Notification,
    Silence,
    SilenceOpen,
)
from core import activity
from dbtools import crypto, tenancy
from dbtools.errors import ActionError

User = AbstractBaseUser | None

RULE_FIELDS = (
    "name",
    "description",
    "metric",
    "operator",
    "threshold",
    "recovery_threshold",
    "severity",
    "aggregation",
    "window_minutes",
    "pending_checks",
    "resolve_checks",
    "scope",
    "group",
    "label",
    "server",
    "quiet_during_maintenance",
    "enabled",
)
SILENCE_FIELDS = (
    "comment",
    "starts_at",
    "ends_at",
    "repeat",
    "weekdays",
    "time_zone",
    "repeat_until",
    "rule",
    "server",
    "group",
    "label",
    "severity",
)
CONTACT_FIELDS = (
    "name",
    "kind",
    "url",
    "email_to",
    "payload_format",
    "min_severity",
    "timeout_seconds",
    "repeat_interval_minutes",
    "repeat_cap",
    "group",
    "label",
    "enabled",
)


def _check(obj: Any, exclude: Iterable[str] = ()) -> None:
    try:
        obj.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise ActionError(exc.message_dict) from exc


def _value(obj: Any, key: str) -> Any:
    return (
        getattr(obj, f"{key}_id")
        if key in ("group", "label", "server", "rule")
        else (getattr(obj, key))
    )


def _apply(obj: Any, data: dict[str, Any], fields: Iterable[str]) -> list[str]:
    changed = []
    for key in fields:
        if key in data:
            before = _value(obj, key)
            setattr(obj, key, data[key])
            if _value(obj, key) != before:
                changed.append(key)
    return changed


def _unique_name(model: type, obj: Any, label: str) -> None:
    taken = model.objects.filter(name__iexact=obj.name).exclude(pk=obj.pk).exists()
    if taken:
        raise ActionError({"name": [f"A {label} with this name already exists."]})


def _save(obj: Any, label: str) -> None:
    try:
        with transaction.atomic(using=tenancy.current().alias):
            obj.save()
    except IntegrityError as exc:  # a concurrent save with the same name
        raise ActionError({"name": [f"A {label} with this name already exists."]}) from exc


# -- rules ------------------------------------------------------------------------------------
def _scoped(rule: AlertRule) -> None:
    # Only the target that matches the scope is kept: switching a rule from a group to all
    # servers forgets the group rather than refusing the change.
    for name in ("group", "label", "server"):
        if rule.scope != name:
            setattr(rule, name, None)


def validated_rule(rule: AlertRule) -> AlertRule:
    """Check a rule without saving it (the preview judges a draft)."""
    _scoped(rule)
    _check(rule, exclude=["name"] if not rule.name else ())
    return rule


def create_rule(data: dict[str, Any], *, acting_user: User) -> AlertRule:
    rule = validated_rule(AlertRule(**{k: data[k] for k in RULE_FIELDS if k in data}))
    _unique_name(AlertRule, rule, "rule")
    with tenancy.atomic():
        _save(rule, "rule")
        activity.record(
            "alert_rule.created",
            "alert_rule",
            rule.pk,
            rule.name,
            {"condition": describe(rule)},
            acting_user,
        )
    return rule


def update_rule(rule: AlertRule, data: dict[str, Any], *, acting_user: User) -> AlertRule:
    changed = _apply(rule, data, RULE_FIELDS)
    _scoped(rule)
    _check(rule)
    _unique_name(AlertRule, rule, "rule")
    if not changed:
        return rule
    with tenancy.atomic():
        _save(rule, "rule")
        # How the rule is judged changed: counting starts again rather than mixing old checks
        # with new ones.
        AlertState.objects.filter(rule=rule).delete()
        activity.record(
            "alert_rule.updated",
            "alert_rule",
            rule.pk,
            rule.name,
            {"changed": changed},
            acting_user,
        )
    return rule


def set_rule_enabled(rule: AlertRule, enabled: bool, *, acting_user: User) -> AlertRule:
    if rule.enabled == enabled:
        return rule
    with tenancy.atomic():
        rule.enabled = enabled
        rule.save(update_fields=["enabled", "updated_at"])
        if not enabled:
            # A switched-off rule cannot resolve its alerts any more: they end now.
            Alert.objects.filter(rule=rule, status=Alert.Status.FIRING).update(
                status=Alert.Status.RESOLVED, resolved_at=timezone.now()
            )
            AlertState.objects.filter(rule=rule).delete()
        activity.record(
            "alert_rule.enabled" if enabled else "alert_rule.disabled",
            "alert_rule",
            rule.pk,
            rule.name,
            {},
            acting_user,
        )
    return rule


def delete_rule(rule: AlertRule, *, acting_user: User) -> None:
    with tenancy.atomic():
        activity.record(
            "alert_rule.deleted",
            "alert_rule",
            rule.pk,
            rule.name,
            {"alerts": rule.alerts.count()},
            acting_user,
        )
        rule.delete()


def describe(rule: AlertRule) -> str:
    """'avg(cpu_percent, 5 min) > 90 for 3 checks' as lists and logs show a rule."""
    value = (
        rule.metric
        if rule.aggregation == "last"
        else (f"{rule.aggregation}({rule.metric}, {rule.window_minutes} min)")
    )
    text = f"{value} {AlertRule.Operator(rule.operator).label} {rule.threshold:g}"
    if rule.pending_checks > 1:
        text += f" for {rule.pending_checks} checks"
    return text


# -- alerts -----------------------------------------------------------------------------------
def acknowledge(alerts: Iterable[Alert], comment: str = "", *, acting_user: User) -> list[Alert]:
    """Acknowledge firing alerts (already acknowledged or resolved ones are left as they are);
    an acknowledged alert is not notified again."""
    todo = [a for a in alerts if a.status == Alert.Status.FIRING and not a.acknowledged_at]
    if not todo:
        return []
    now, who = timezone.now(), activity.actor_name(acting_user)
    with tenancy.atomic():
        done = Alert.objects.filter(
            pk__in=[a.pk for a in todo], status=Alert.Status.FIRING, acknowledged_at__isnull=True
        ).update(acknowledged_at=now, acknowledged_by=who, ack_comment=comment)
        if not done:
            return []
        for alert in todo:
            alert.acknowledged_at, alert.acknowledged_by, alert.ack_comment = now, who, comment
            activity.record(
                "alert.acknowledged",
                "server",
                alert.server_id,
                alert.server.name,
                {"alert": alert.pk, "rule": alert.rule.name, "comment": comment},
                acting_user,
            )
    return todo


# -- silences ---------------------------------------------------------------------------------
def create_silence(data: dict[str, Any], *, acting_user: User) -> Silence:
    data = {"starts_at": timezone.now(), **data}
    silence = Silence(
        **{k: data[k] for k in SILENCE_FIELDS if k in data},
        created_by=activity.actor_name(acting_user),
    )
    _check(silence)
    with tenancy.atomic():
        silence.save()
        activity.record(
            "silence.created",
            "silence",
            silence.pk,
            str(silence),
            {"matchers": silence.matchers(), "ends_at": silence.ends_at.isoformat()},
            acting_user,
        )
    return silence


def snooze(alert: Alert, minutes: int, *, acting_user: User) -> Silence:
    """Silence one alert's rule on its server for a while."""
    now = timezone.now()
    return create_silence(
        {
            "rule": alert.rule,
            "server": alert.server,
            "starts_at": now,
            "ends_at": now + dt.timedelta(minutes=minutes),
            "comment": f"Snoozed for {minutes} min",
        },
        acting_user=acting_user,
    )


def update_silence(silence: Silence, data: dict[str, Any], *, acting_user: User) -> Silence:
    changed = _apply(silence, data, SILENCE_FIELDS)
    _check(silence)
    if not changed:
        return silence
    with tenancy.atomic():
        silence.save()
        activity.record(
            "silence.updated",
            "silence",
            silence.pk,
            str(silence),
            {"changed": changed},
            acting_user,
        )
    return silence


def is_open(silence: Silence, at: dt.datetime | None = None) -> bool:
    """Whether one of the silence's windows is open (the database function decides)."""
    at = at or timezone.now()
    return (
        Silence.objects.filter(pk=silence.pk).alias(open=SilenceOpen(at)).filter(open=True).exists()
    )


def is_over(silence: Silence, at: dt.datetime | None = None) -> bool:
    """No window of it will open again (one that is open now is not over)."""
    at = at or timezone.now()
    if not silence.repeat:
        return silence.ends_at <= at
    today = at.astimezone(zoneinfo.ZoneInfo(silence.time_zone)).date()
    return silence.repeat_until is not None and silence.repeat_until < today - dt.timedelta(1)


def end_silence(silence: Silence, *, acting_user: User) -> Silence:
    """End a silence now (kept, so what was muted when stays visible). A recurring one ends
    its series: the window open now closes and none opens again."""
    now = timezone.now()
    if is_over(silence, now) and not is_open(silence, now):
        return silence
    with tenancy.atomic():
        if silence.repeat:
            # Windows last at most a day: ending the series the day before yesterday (local)
            # closes one still open since yesterday too; earlier ones are over anyway.
            today = now.astimezone(zoneinfo.ZoneInfo(silence.time_zone)).date()
            silence.repeat_until = today - dt.timedelta(days=2)
            silence.save(update_fields=["repeat_until"])
        else:
            silence.ends_at = max(now, silence.starts_at)
            silence.save(update_fields=["ends_at"])
        activity.record("silence.ended", "silence", silence.pk, str(silence), {}, acting_user)
    return silence


def delete_silence(silence: Silence, *, acting_user: User) -> None:
    with tenancy.atomic():
        activity.record(
            "silence.deleted",
            "silence",
            silence.pk,
            str(silence),
            {"matchers": silence.matchers()},
            acting_user,
        )
        silence.delete()


# -- contact points ---------------------------------------------------------------------------
def _set_secret(point: ContactPoint, data: dict[str, Any]) -> bool:
    if "secret" not in data or data["secret"] is None:
        return False
    point.secret_encrypted = crypto.encrypt(data["secret"]) if data["secret"] else ""
    return True


def create_contact_point(data: dict[str, Any], *, acting_user: User) -> ContactPoint:
    point = ContactPoint(**{k: data[k] for k in CONTACT_FIELDS if k in data})
    _set_secret(point, data)
    _check(point)
    _unique_name(ContactPoint, point, "contact point")
    with tenancy.atomic():
        _save(point, "contact point")
        activity.record(
            "contact_point.created",
            "contact_point",
            point.pk,
            point.name,
            {"kind": point.kind, "url": point.url, "email_to": point.email_to},
            acting_user,
        )
    return point


def update_contact_point(
    point: ContactPoint, data: dict[str, Any], *, acting_user: User
) -> ContactPoint:
    changed = _apply(point, data, CONTACT_FIELDS)
    if _set_secret(point, data):
        changed.append("secret")
    _check(point)
    _unique_name(ContactPoint, point, "contact point")
    if not changed:
        return point
    with tenancy.atomic():
        _save(point, "contact point")
        activity.record(
            "contact_point.updated",
            "contact_point",
            point.pk,
            point.name,
            {"changed": changed},
            acting_user,
        )
    return point


def delete_contact_point(point: ContactPoint, *, acting_user: User) -> None:
    with tenancy.atomic():
        activity.record(
            "contact_point.deleted", "contact_point", point.pk, point.name, {}, acting_user
        )
        point.delete()


def send_test(point: ContactPoint, *, acting_user: User) -> Notification:
    """Queue a test message to a contact point; its delivery shows in the point's log."""
    from alerts import notify

    with tenancy.atomic():
        notification = notify.create(point, Notification.Event.TEST, [], timezone.now())
        activity.record(
            "contact_point.tested",
            "contact_point",
            point.pk,
            point.name,
            {"notification": notification.pk},
            acting_user,
        )
    return notification


def redeliver(notification: Notification, *, acting_user: User) -> Notification:
    """Send a notification again (after fixing a receiver), whatever its state."""
    from alerts import notify

    with tenancy.atomic():
        Notification.objects.filter(pk=notification.pk).update(
            status=Notification.Status.PENDING, next_attempt_at=timezone.now(), attempts=0
        )
        notify.queue_on_commit([notification.pk])
        activity.record(
            "notification.redelivered",
            "contact_point",
            notification.contact_point_id,
            notification.contact_point.name,
            {"notification": notification.pk},
            acting_user,
        )
    notification.refresh_from_db()
    return notification

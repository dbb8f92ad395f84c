"""Tenant-database models of alerting: rules, the evaluation state of each rule on each server,
and the alerts themselves (one active alert per rule per server, kept as history once resolved).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, validate_email
from django.db import models
from django.db.models.functions import Lower

from servers.models import Label, Server, ServerGroup

# Metrics that are not samples in the metrics table but facts about collection itself.
SERVER_OFFLINE = "server_offline"
COLLECTION_STALE = "collection_stale_minutes"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class AlertRule(models.Model):
    class Operator(models.TextChoices):
        GT = "gt", ">"
        GTE = "gte", "≥"
        LT = "lt", "<"
        LTE = "lte", "≤"
        EQ = "eq", "="

    class Aggregation(models.TextChoices):
        LAST = "last", "Latest value"
        AVG = "avg", "Average"
        MIN = "min", "Minimum"
        MAX = "max", "Maximum"

    class Scope(models.TextChoices):
        ALL = "all", "All servers"
        GROUP = "group", "A group"
        LABEL = "label", "A label"
        SERVER = "server", "One server"

    name = models.CharField(max_length=128)
    description = models.CharField(max_length=1000, blank=True)
    metric = models.CharField(max_length=64)
    operator = models.CharField(max_length=4, choices=Operator.choices, default=Operator.GT)
    threshold = models.FloatField()
    # Hysteresis: fire past `threshold`, resolve only back past this one (e.g. 90 and 80).
    recovery_threshold = models.FloatField(null=True, blank=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    aggregation = models.CharField(
        max_length=8, choices=Aggregation.choices, default=Aggregation.LAST
    )
    window_minutes = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(1440)]
    )
    # Fire after the condition held for this many checks in a row; resolve after this many
    # normal checks in a row.
    pending_checks = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(60)]
    )
    resolve_checks = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(60)]
    )
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.ALL)
    group = models.ForeignKey(
        ServerGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules"
    )
    label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules"
    )
    server = models.ForeignKey(
        Server, null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules"
    )
    # The work DbTools itself schedules (backups, index rebuilds, integrity checks) raises CPU,
    # I/O latency and log use by design: a rule watching those says so here, and its alerts on
    # a server are recorded as suppressed, not sent, while such a job runs there.
    quiet_during_maintenance = models.BooleanField(
        default=False,
        db_default=False,
        verbose_name="Suppress during DbTools maintenance",
        help_text="While a backup, index or integrity job started by DbTools runs on the server, "
        "record this rule's alerts as suppressed and send nothing.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "alert_rules"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="alert_rule_name_unique")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The rules of a rule, for the form and the API alike."""
        from alerts import metrics

        errors: dict[str, list[str]] = {}
        if self.metric not in metrics.METRICS:
            errors["metric"] = [f"Unknown metric {self.metric!r}."]
        else:
            errors.update(metrics.threshold_errors(self.metric, self.threshold, "threshold"))
            errors.update(
                metrics.threshold_errors(self.metric, self.recovery_threshold, "recovery_threshold")
            )
        if self.recovery_threshold is not None and "recovery_threshold" not in errors:
            wrong_side = {
                "gt": self.recovery_threshold > self.threshold,
                "gte": self.recovery_threshold > self.threshold,
                "lt": self.recovery_threshold < self.threshold,
                "lte": self.recovery_threshold < self.threshold,
                "eq": True,
            }.get(self.operator, False)
            if wrong_side and self.threshold is not None:
                message = (
                    "Not with '='."
                    if self.operator == "eq"
                    else "Must be on the normal side of the threshold (e.g. fire above 90, "
                    "resolve below 80)."
                )
                errors["recovery_threshold"] = [message]
        needed = {"group": self.group_id, "label": self.label_id, "server": self.server_id}
        if self.scope in needed and not needed[self.scope]:
            errors[self.scope] = [f"Choose the {self.scope} this rule applies to."]
        for name, value in needed.items():
            if value and self.scope != name:
                errors.setdefault(name, []).append(f"Only with scope '{name}'.")
        if errors:
            raise ValidationError(errors)


class AlertState(models.Model):
    """Where a rule stands on a server between checks: consecutive breaches and normal checks."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="states")
    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="alert_states")
    breach_count = models.PositiveIntegerField(default=0)
    normal_count = models.PositiveIntegerField(default=0)
    no_data = models.BooleanField(default=False)
    last_value = models.FloatField(null=True)
    checked_at = models.DateTimeField()

    class Meta:
        db_table = "alert_states"
        constraints = [
            models.UniqueConstraint(fields=["rule", "server"], name="alert_state_unique")
        ]

    def __str__(self) -> str:
        return f"rule {self.rule_id} on server {self.server_id}"


class Alert(models.Model):
    class Status(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="alerts")
    severity = models.CharField(max_length=16, choices=Severity.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FIRING)
    value = models.FloatField(null=True)  # when it fired
    last_value = models.FloatField(null=True)
    threshold = models.FloatField()
    triggered_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    ack_comment = models.CharField(max_length=1000, blank=True)
    # Heavy maintenance by DbTools on the server while the alert fired (its rule being quiet
    # during maintenance): what ran, from when, until when (empty while it still runs). Kept
    # after the work ends, so history says why nobody was told.
    suppressed_by = models.CharField(max_length=200, blank=True, default="", db_default="")
    suppressed_execution = models.ForeignKey(
        "scheduler.JobExecution",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="suppressed_alerts",
    )
    suppressed_since = models.DateTimeField(null=True, blank=True)
    suppressed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "alerts"
        ordering = ["-triggered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "server"],
                condition=models.Q(status="firing"),
                name="alert_one_active_per_rule_server",
            ),
        ]
        indexes = [models.Index(fields=["status", "-triggered_at"], name="alert_status_recent")]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.server_id} ({self.status})"

    @property
    def suppression(self) -> str:
        """What the pages say: "suppressed: IndexOptimize running since 02:00 UTC", or, once
        the work ended, "suppressed during IndexOptimize, 02:00-02:40 UTC"."""
        if not self.suppressed_by or self.suppressed_since is None:
            return ""
        since = self.suppressed_since.astimezone(dt.UTC)
        if self.suppressed_until is None:
            return f"suppressed: {self.suppressed_by} running since {since:%H:%M} UTC"
        until = self.suppressed_until.astimezone(dt.UTC)
        end = f"{until:%H:%M}" if until.date() == since.date() else f"{until:%Y-%m-%d %H:%M}"
        return f"suppressed during {self.suppressed_by}, {since:%Y-%m-%d %H:%M}-{end} UTC"


SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]  # ISO numbers 1-7


class Silence(models.Model):
    """No notifications for the alerts it matches while its window is open. Every matcher set
    must match (rule, server, group, label, severity); at least one is required, so a silence
    never mutes everything by accident. Silenced alerts still fire and are recorded.

    A silence is one window (`starts_at` to `ends_at`) or a maintenance window that recurs daily
    or on chosen weekdays: the first window gives the local start time and length in
    `time_zone`, which hold on the wall clock across daylight-saving changes (02:00-04:00 stays
    02:00-04:00), until `repeat_until` if set. Whether a window is open is decided in one place,
    the database function `alert_silence_open` (migration 0004), for notifications and pages."""

    class Repeat(models.TextChoices):
        ONCE = "", "Once"
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"

    comment = models.CharField(max_length=1000, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    repeat = models.CharField(
        max_length=8, choices=Repeat.choices, blank=True, default="", db_default=""
    )
    # A JSON list, not an ArrayField: django.contrib.postgres would add a type lookup to every
    # new connection, and the collector opens one per tenant visit.
    weekdays = models.JSONField(
        default=list,
        blank=True,
        help_text="Weekly windows: ISO weekday numbers, 1 = Monday ... 7 = Sunday.",
    )
    time_zone = models.CharField(max_length=64, default="UTC", db_default="UTC")
    repeat_until = models.DateField(null=True, blank=True)
    rule = models.ForeignKey(
        AlertRule, null=True, blank=True, on_delete=models.CASCADE, related_name="silences"
    )
    server = models.ForeignKey(
        Server, null=True, blank=True, on_delete=models.CASCADE, related_name="silences"
    )
    group = models.ForeignKey(
        ServerGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="silences"
    )
    label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.CASCADE, related_name="silences"
    )
    severity = models.CharField(max_length=16, choices=Severity.choices, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "alert_silences"
        ordering = ["-ends_at", "-pk"]

    def __str__(self) -> str:
        if self.repeat:
            return f"silence {self.pk}, {self.schedule()}"
        return f"silence {self.pk} until {self.ends_at:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.time_zone not in zoneinfo.available_timezones():
            errors["time_zone"] = ["Unknown time zone: use a name such as Europe/London or UTC."]
        if self.starts_at and self.ends_at:
            if self.ends_at <= self.starts_at:
                errors["ends_at"] = ["Must be after the start."]
            elif self.repeat and self.ends_at - self.starts_at > dt.timedelta(days=1):
                errors["ends_at"] = ["A recurring window lasts at most 24 hours."]
            elif (self.ends_at - self.starts_at).days > 366:
                errors["ends_at"] = ["A silence lasts at most a year."]
        if self.repeat == self.Repeat.WEEKLY and not self.weekdays:
            errors["weekdays"] = ["Choose at least one weekday for a weekly window."]
        days = self.weekdays if isinstance(self.weekdays, list) else None
        if days is None or any(type(d) is not int or not 1 <= d <= 7 for d in days):
            errors["weekdays"] = ["Weekdays are numbers from 1 (Monday) to 7 (Sunday)."]
        if self.repeat_until and not self.repeat:
            errors["repeat_until"] = ["Only a recurring window has an end date."]
        elif self.repeat_until and self.starts_at and "time_zone" not in errors:
            first = self.starts_at.astimezone(zoneinfo.ZoneInfo(self.time_zone)).date()
            if self.repeat_until < first:
                errors["repeat_until"] = ["Must be on or after the first window's date."]
        if not (self.rule_id or self.server_id or self.group_id or self.label_id or self.severity):
            errors["rule"] = [
                "Choose at least one of rule, server, group, label or severity to match."
            ]
        if errors:
            raise ValidationError(errors)

    def schedule(self) -> str:
        """The window as a DBA reads it: "weekly Sat, Sun 02:00-04:00 Europe/London"."""
        if not self.repeat:
            return f"{self.starts_at:%Y-%m-%d %H:%M} - {self.ends_at:%Y-%m-%d %H:%M} UTC"
        tz = zoneinfo.ZoneInfo(self.time_zone)
        start, end = self.starts_at.astimezone(tz), self.ends_at.astimezone(tz)
        days = (
            ", ".join(WEEKDAYS[d - 1] for d in sorted(self.weekdays))
            if self.repeat == self.Repeat.WEEKLY
            else "daily"
        )
        text = f"{'weekly ' if self.repeat == self.Repeat.WEEKLY else ''}{days} "
        text += f"{start:%H:%M}-{end:%H:%M} {self.time_zone}, from {start:%Y-%m-%d}"
        return text + (f" until {self.repeat_until:%Y-%m-%d}" if self.repeat_until else "")

    def matchers(self) -> list[str]:
        parts = []
        for name in ("rule", "server", "group", "label"):
            if getattr(self, f"{name}_id"):
                parts.append(f"{name} = {getattr(self, name)}")
        if self.severity:
            parts.append(f"severity = {self.severity}")
        return parts


class SilenceOpen(models.Func):
    """`alert_silence_open(...)` of a silence row at `at`: true while one of its windows is
    open. Use as an annotation or filter; the rule itself lives in the database function."""

    function = "alert_silence_open"
    output_field = models.BooleanField()

    def __init__(self, at: dt.datetime, prefix: str = "") -> None:
        cols = ("starts_at", "ends_at", "repeat", "weekdays", "time_zone", "repeat_until")
        super().__init__(*(models.F(prefix + c) for c in cols), models.Value(at))


def switch_off_unrouted(collector: Any, field: Any, sub_objs: Any, using: str) -> None:
    """on_delete of a contact point's group or label: the contact point is switched off, not
    widened to every server (a team's webhook would suddenly get the whole fleet's alerts)."""
    collector.add_field_update(field, None, sub_objs)
    collector.add_field_update(field.model._meta.get_field("enabled"), False, sub_objs)


class ContactPoint(models.Model):
    """A webhook or a list of email addresses that receives notifications of alerts at or above
    a severity, of every server or of one group's or label's."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        EMAIL = "email", "Email"

    class Format(models.TextChoices):
        JSON = "json", "DbTools JSON"
        SLACK = "slack", "Slack-compatible"

    name = models.CharField(max_length=128)
    kind = models.CharField(
        max_length=8, choices=Kind.choices, default=Kind.WEBHOOK, db_default=Kind.WEBHOOK
    )
    url = models.URLField(max_length=2000, blank=True, help_text="Webhook: where to POST.")
    email_to = models.CharField(
        max_length=1000,
        blank=True,
        default="",
        db_default="",
        verbose_name="Email to",
        help_text="Email: addresses, separated by commas.",
    )
    # Signs each body (HMAC-SHA256) so the receiver can tell it came from DbTools; stored
    # encrypted like server passwords.
    secret_encrypted = models.TextField(blank=True)
    payload_format = models.CharField(max_length=8, choices=Format.choices, default=Format.JSON)
    min_severity = models.CharField(
        max_length=16, choices=Severity.choices, default=Severity.WARNING
    )
    timeout_seconds = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(30)]
    )
    # While an alert stays firing and unacknowledged it is sent again at this interval, at
    # most `repeat_cap` times: reminded, not flooded.
    repeat_interval_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(10080)]
    )
    repeat_cap = models.PositiveSmallIntegerField(
        default=6, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    # Routing: only alerts of servers in this group and/or with this label reach the contact
    # point (the on-call team of one estate); empty means every server.
    group = models.ForeignKey(
        ServerGroup,
        null=True,
        blank=True,
        on_delete=switch_off_unrouted,
        related_name="contact_points",
        help_text="Only alerts of servers in this group.",
    )
    label = models.ForeignKey(
        Label,
        null=True,
        blank=True,
        on_delete=switch_off_unrouted,
        related_name="contact_points",
        help_text="Only alerts of servers with this label.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "alert_contact_points"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="contact_point_name_unique")]

    def __str__(self) -> str:
        return self.name

    def recipients(self) -> list[str]:
        return [a.strip() for a in re.split(r"[,;\s]+", self.email_to or "") if a.strip()]

    def clean(self) -> None:
        """What each kind needs, for the form and the API alike."""
        errors: dict[str, list[str]] = {}
        if self.kind == self.Kind.WEBHOOK and not self.url:
            errors["url"] = ["A webhook needs the address to POST to."]
        if self.kind == self.Kind.EMAIL:
            # Without an SMTP server the first alert would fail at night; refuse it now.
            if not getattr(settings, "DBTOOLS_EMAIL_ENABLED", False):
                errors["kind"] = [
                    "Email needs an SMTP server: ask the administrator to set DBTOOLS_EMAIL_URL."
                ]
            to = self.recipients()
            bad = [a for a in to if not _is_email(a)]
            if not to:
                errors["email_to"] = ["Enter at least one email address."]
            elif bad:
                errors["email_to"] = [f"Not an email address: {', '.join(bad)[:200]}."]
            elif len(to) > MAX_RECIPIENTS:
                errors["email_to"] = [f"At most {MAX_RECIPIENTS} addresses."]
        if errors:
            raise ValidationError(errors)


MAX_RECIPIENTS = 20


def _is_email(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


class Notification(models.Model):
    """One message to one contact point, about one or more alerts (those that changed in the
    same evaluation are grouped), with its delivery state and attempts."""

    class Event(models.TextChoices):
        FIRING = "firing", "Firing"
        REPEAT = "repeat", "Still firing"
        RESOLVED = "resolved", "Resolved"
        TEST = "test", "Test"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    contact_point = models.ForeignKey(
        ContactPoint, on_delete=models.CASCADE, related_name="notifications"
    )
    event = models.CharField(max_length=16, choices=Event.choices)
    alerts = models.ManyToManyField(Alert, related_name="notifications", blank=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt may start; a worker claims the notification by moving it forward.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "alert_notifications"
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="notification_pending",
                condition=models.Q(status="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.contact_point_id} ({self.status})"


class DeliveryAttempt(models.Model):
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="delivery_attempts"
    )
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    duration_ms = models.FloatField()

    class Meta:
        db_table = "alert_delivery_attempts"
        ordering = ["attempted_at", "pk"]

    def __str__(self) -> str:
        return f"attempt on {self.notification_id} at {self.attempted_at}"

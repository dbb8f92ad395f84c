"""Tenant-database models of alerting: rules, the evaluation state of each rule on each server,
and the alerts themselves (one active alert per rule per server, kept as history once resolved).
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
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
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "alert_rules"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="alert_rule_name_unique")]

    def __str__(self) -> str:
        return self.name


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

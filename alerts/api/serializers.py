from __future__ import annotations

import zoneinfo
from typing import Any

from rest_framework import serializers

from alerts import metrics
from alerts.actions import RULE_FIELDS, describe
from alerts.models import (
    Alert,
    AlertRule,
    ContactPoint,
    DeliveryAttempt,
    Notification,
    Silence,
)
from servers.models import Label, Server, ServerGroup


class AlertRuleSerializer(serializers.ModelSerializer):
    """A rule as the API reads and writes it; its rules live in the model (`AlertRule.clean`),
    which the page's form uses too."""

    metric = serializers.ChoiceField(choices=metrics.choices())
    threshold = serializers.FloatField(allow_null=False)
    group = serializers.PrimaryKeyRelatedField(
        queryset=ServerGroup.objects.all(), required=False, allow_null=True
    )
    label = serializers.PrimaryKeyRelatedField(
        queryset=Label.objects.all(), required=False, allow_null=True
    )
    server = serializers.PrimaryKeyRelatedField(
        queryset=Server.objects.alive(), required=False, allow_null=True
    )
    condition = serializers.SerializerMethodField()

    class Meta:
        model = AlertRule
        fields = ["id", *RULE_FIELDS, "condition", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        # The unique name is checked by the action (case-insensitive), not by DRF.
        validators: list[Any] = []

    def get_condition(self, rule: AlertRule) -> str:
        return describe(rule)


class RefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class AlertSerializer(serializers.ModelSerializer):
    rule = RefSerializer(read_only=True)
    server = RefSerializer(read_only=True)
    acknowledged = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = [
            "id",
            "rule",
            "server",
            "severity",
            "status",
            "value",
            "last_value",
            "threshold",
            "triggered_at",
            "resolved_at",
            "acknowledged",
            "acknowledged_at",
            "acknowledged_by",
            "ack_comment",
            "suppressed_by",
            "suppressed_since",
            "suppressed_until",
        ]

    def get_acknowledged(self, alert: Alert) -> bool:
        return alert.acknowledged_at is not None


class AcknowledgeSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class BulkAcknowledgeSerializer(AcknowledgeSerializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**31 - 1),
        min_length=1,
        max_length=500,
    )


class SilenceSerializer(serializers.ModelSerializer):
    rule = serializers.PrimaryKeyRelatedField(
        queryset=AlertRule.objects.all(), required=False, allow_null=True
    )
    server = serializers.PrimaryKeyRelatedField(
        queryset=Server.objects.alive(), required=False, allow_null=True
    )
    group = serializers.PrimaryKeyRelatedField(
        queryset=ServerGroup.objects.all(), required=False, allow_null=True
    )
    label = serializers.PrimaryKeyRelatedField(
        queryset=Label.objects.all(), required=False, allow_null=True
    )
    starts_at = serializers.DateTimeField(
        required=False,
        help_text="Start of the (first) window; default now. A recurring window repeats its "
        "local start time and length in `time_zone`.",
    )
    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=7),
        required=False,
        max_length=7,
        help_text="Weekly windows: ISO weekday numbers, 1 = Monday ... 7 = Sunday.",
    )
    time_zone = serializers.ChoiceField(
        choices=sorted(zoneinfo.available_timezones()),
        required=False,
        help_text="IANA time zone of a recurring window's hours, e.g. Europe/London.",
    )
    active = serializers.SerializerMethodField()
    schedule = serializers.SerializerMethodField()

    class Meta:
        model = Silence
        fields = [
            "id",
            "comment",
            "starts_at",
            "ends_at",
            "repeat",
            "weekdays",
            "time_zone",
            "repeat_until",
            "schedule",
            "rule",
            "server",
            "group",
            "label",
            "severity",
            "active",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["created_by", "created_at"]

    def get_active(self, silence: Silence) -> bool:
        """Whether a window is open now (annotated by the list, asked otherwise)."""
        from alerts import actions

        active = getattr(silence, "active", None)
        return actions.is_open(silence) if active is None else bool(active)

    def get_schedule(self, silence: Silence) -> str:
        return silence.schedule()


class ContactPointSerializer(serializers.ModelSerializer):
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Signs each body (X-DbTools-Signature); empty removes it. Never shown again.",
    )
    has_secret = serializers.SerializerMethodField()
    group = serializers.PrimaryKeyRelatedField(
        queryset=ServerGroup.objects.all(),
        required=False,
        allow_null=True,
        help_text="Routing: only alerts of servers in this group (null: every server).",
    )
    label = serializers.PrimaryKeyRelatedField(
        queryset=Label.objects.all(),
        required=False,
        allow_null=True,
        help_text="Routing: only alerts of servers with this label (null: every server).",
    )

    class Meta:
        model = ContactPoint
        fields = [
            "id",
            "name",
            "kind",
            "url",
            "email_to",
            "secret",
            "has_secret",
            "payload_format",
            "min_severity",
            "timeout_seconds",
            "repeat_interval_minutes",
            "repeat_cap",
            "group",
            "label",
            "enabled",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        validators: list[Any] = []

    def get_has_secret(self, point: ContactPoint) -> bool:
        return bool(point.secret_encrypted)


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["attempted_at", "status_code", "error", "duration_ms"]


class NotificationSerializer(serializers.ModelSerializer):
    delivery_attempts = DeliveryAttemptSerializer(many=True, read_only=True)
    alert_ids = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "contact_point",
            "event",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "delivered_at",
            "alert_ids",
            "delivery_attempts",
        ]

    def get_alert_ids(self, notification: Notification) -> list[int]:
        return [a.pk for a in notification.alerts.all()]


class BacktestSerializer(serializers.Serializer):
    available = serializers.BooleanField()
    reason = serializers.CharField(help_text="Why no backtest is possible (when not available).")
    fired = serializers.IntegerField(help_text="Times the rule would have fired.")
    servers = serializers.IntegerField(help_text="Servers it would have fired on.")
    checked = serializers.IntegerField(help_text="Servers in scope with data.")
    since = serializers.DateTimeField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True)
    resolution_minutes = serializers.IntegerField()
    per_server = serializers.DictField(child=serializers.IntegerField())

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from alerts import actions, backtest, evaluator
from alerts.api.serializers import (
    AcknowledgeSerializer,
    AlertRuleSerializer,
    AlertSerializer,
    BacktestSerializer,
    BulkAcknowledgeSerializer,
    ContactPointSerializer,
    NotificationSerializer,
    SilenceSerializer,
)
from alerts.filters import AlertFilter
from alerts.models import Alert, AlertRule, ContactPoint, Notification, Silence, SilenceOpen
from dbtools.errors import ActionError
from dbtools.roles import Role

ADMIN_WRITES = {
    "create": Role.ADMIN,
    "update": Role.ADMIN,
    "partial_update": Role.ADMIN,
    "destroy": Role.ADMIN,
}


class PreviewRowSerializer(serializers.Serializer):
    server_id = serializers.IntegerField()
    server_name = serializers.CharField()
    value = serializers.FloatField()
    breach = serializers.BooleanField()


class AlertRuleViewSet(viewsets.ModelViewSet):
    """Alert rules of the current tenant. Viewers read; admins change them."""

    serializer_class = AlertRuleSerializer
    lookup_value_regex = r"\d+"
    required_roles = {**ADMIN_WRITES, "enable": Role.ADMIN, "disable": Role.ADMIN}
    filterset_fields = ["enabled", "severity", "metric"]

    def get_queryset(self) -> QuerySet[AlertRule]:
        return AlertRule.objects.order_by("name", "pk")

    def perform_create(self, serializer: AlertRuleSerializer) -> None:
        serializer.instance = actions.create_rule(
            serializer.validated_data, acting_user=self.request.user
        )

    def perform_update(self, serializer: AlertRuleSerializer) -> None:
        serializer.instance = actions.update_rule(
            serializer.instance, serializer.validated_data, acting_user=self.request.user
        )

    def perform_destroy(self, instance: AlertRule) -> None:
        actions.delete_rule(instance, acting_user=self.request.user)

    @extend_schema(request=None, responses={200: AlertRuleSerializer})
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, pk: str) -> Response:
        rule = actions.set_rule_enabled(self.get_object(), True, acting_user=request.user)
        return Response(AlertRuleSerializer(rule).data)

    @extend_schema(request=None, responses={200: AlertRuleSerializer})
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk: str) -> Response:
        rule = actions.set_rule_enabled(self.get_object(), False, acting_user=request.user)
        return Response(AlertRuleSerializer(rule).data)

    @extend_schema(request=AlertRuleSerializer, responses={200: PreviewRowSerializer(many=True)})
    @action(detail=False, methods=["post"], pagination_class=None, filter_backends=[])
    def preview(self, request: Request) -> Response:
        """The servers this rule (not saved) would judge now, breaching ones first."""
        body = AlertRuleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rule = AlertRule(**{k: v for k, v in body.validated_data.items()})
        actions.validated_rule(rule)
        return Response(PreviewRowSerializer(evaluator.preview(rule), many=True).data)

    @extend_schema(request=AlertRuleSerializer, responses={200: BacktestSerializer})
    @action(detail=False, methods=["post"], pagination_class=None, filter_backends=[])
    def backtest(self, request: Request) -> Response:
        """How many times this rule (not saved) would have fired over the last 24 hours,
        replayed on 5-minute rollups (an estimate; nothing is written)."""
        body = AlertRuleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rule = AlertRule(**{k: v for k, v in body.validated_data.items()})
        actions.validated_rule(rule)
        return Response(BacktestSerializer(backtest.backtest(rule)).data)


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Alerts, newest first; filter with state=active for the ones firing now."""

    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Alert]:
        return Alert.objects.select_related("rule", "server").order_by("-triggered_at", "-pk")

    @extend_schema(request=AcknowledgeSerializer, responses={200: AlertSerializer})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str) -> Response:
        alert = self.get_object()
        body = AcknowledgeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if alert.status != Alert.Status.FIRING:
            raise ActionError({"detail": ["This alert is resolved."]})
        actions.acknowledge([alert], body.validated_data["comment"], acting_user=request.user)
        alert.refresh_from_db()
        return Response(AlertSerializer(alert).data)

    @extend_schema(
        operation_id="alerts_acknowledge_many",
        request=BulkAcknowledgeSerializer,
        responses={200: AlertSerializer(many=True)},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="acknowledge",
        pagination_class=None,
        filter_backends=[],
    )
    def acknowledge_many(self, request: Request) -> Response:
        body = BulkAcknowledgeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ids = body.validated_data["ids"]
        found = list(self.get_queryset().filter(pk__in=ids))
        missing = set(ids) - {a.pk for a in found}
        if missing:
            raise ActionError({"ids": [f"Unknown alert id(s): {sorted(missing)}"]})
        done = actions.acknowledge(found, body.validated_data["comment"], acting_user=request.user)
        return Response(AlertSerializer(done, many=True).data)


class SilenceViewSet(viewsets.ModelViewSet):
    """Silences: while open, matching alerts are recorded but not notified. Operators manage
    them; ending one keeps it in the list."""

    serializer_class = SilenceSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Silence]:
        return (
            Silence.objects.select_related("rule", "server", "group", "label")
            .annotate(active=SilenceOpen(timezone.now()))
            .order_by("-ends_at", "-pk")
        )

    def perform_create(self, serializer: SilenceSerializer) -> None:
        serializer.instance = actions.create_silence(
            serializer.validated_data, acting_user=self.request.user
        )

    def perform_update(self, serializer: SilenceSerializer) -> None:
        silence = actions.update_silence(
            serializer.instance, serializer.validated_data, acting_user=self.request.user
        )
        # Read back: whether it is open now was annotated before the change.
        serializer.instance = self.get_queryset().get(pk=silence.pk)

    def perform_destroy(self, instance: Silence) -> None:
        actions.delete_silence(instance, acting_user=self.request.user)

    @extend_schema(request=None, responses={200: SilenceSerializer})
    @action(detail=True, methods=["post"])
    def end(self, request: Request, pk: str) -> Response:
        silence = actions.end_silence(self.get_object(), acting_user=request.user)
        return Response(SilenceSerializer(self.get_queryset().get(pk=silence.pk)).data)


class ContactPointViewSet(viewsets.ModelViewSet):
    """Webhook contact points. Admins manage them; the secret is write-only."""

    serializer_class = ContactPointSerializer
    lookup_value_regex = r"\d+"
    required_roles = {**ADMIN_WRITES, "send_test": Role.ADMIN}

    def get_queryset(self) -> QuerySet[ContactPoint]:
        return ContactPoint.objects.order_by("name", "pk")

    def perform_create(self, serializer: ContactPointSerializer) -> None:
        serializer.instance = actions.create_contact_point(
            serializer.validated_data, acting_user=self.request.user
        )

    def perform_update(self, serializer: ContactPointSerializer) -> None:
        serializer.instance = actions.update_contact_point(
            serializer.instance, serializer.validated_data, acting_user=self.request.user
        )

    def perform_destroy(self, instance: ContactPoint) -> None:
        actions.delete_contact_point(instance, acting_user=self.request.user)

    @extend_schema(request=None, responses={202: NotificationSerializer})
    @action(detail=True, methods=["post"], url_path="test")
    def send_test(self, request: Request, pk: str) -> Response:
        notification = actions.send_test(self.get_object(), acting_user=request.user)
        return Response(NotificationSerializer(notification).data, status=status.HTTP_202_ACCEPTED)


class NotificationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The delivery log: every notification with its attempts and response codes."""

    serializer_class = NotificationSerializer
    lookup_value_regex = r"\d+"
    filterset_fields = ["contact_point", "status", "event"]
    required_roles = {"redeliver": Role.ADMIN}

    def get_queryset(self) -> QuerySet[Notification]:
        return Notification.objects.prefetch_related("delivery_attempts", "alerts").order_by(
            "-created_at", "-pk"
        )

    @extend_schema(request=None, responses={202: NotificationSerializer})
    @action(detail=True, methods=["post"])
    def redeliver(self, request: Request, pk: str) -> Response:
        notification = actions.redeliver(self.get_object(), acting_user=request.user)
        return Response(NotificationSerializer(notification).data, status=status.HTTP_202_ACCEPTED)

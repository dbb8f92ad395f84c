from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import settings_store
from dbtools.roles import Role
from monitoring import health, retention, series
from monitoring.actions import config_for, save_config
from monitoring.api.serializers import (
    CollectionConfigSerializer,
    MetricsQuerySerializer,
    RetentionSerializer,
    ServerDetailSerializer,
    ServerHealthSerializer,
)
from monitoring.models import CollectionConfig, ServerDetail
from servers.health import ORDER
from servers.models import Server


def _server(pk: int) -> Server:
    return get_object_or_404(Server.objects.alive(), pk=pk)


class FleetHealthView(APIView):
    """Health of every live server, worst first in the summary (see `servers.health.Health`)."""

    @extend_schema(
        operation_id="servers_health_list",
        responses={
            200: inline_serializer(
                "FleetHealth",
                {
                    "summary": inline_serializer(
                        "FleetHealthSummary",
                        {str(k): serializers.IntegerField() for k in ("total", *ORDER)},
                    ),
                    "results": ServerHealthSerializer(many=True),
                },
            )
        },
    )
    def get(self, request: Request) -> Response:
        items = health.fleet_health()
        return Response({"summary": health.summary(items), "results": items})


class ServerHealthView(APIView):
    @extend_schema(responses={200: ServerHealthSerializer})
    def get(self, request: Request, pk: int) -> Response:
        _server(pk)
        return Response(health.fleet_health(pk)[0])


class ServerMetricsView(APIView):
    """A time series: raw samples up to 24 h, 5-minute averages (with min/max) beyond."""

    @extend_schema(
        parameters=[
            OpenApiParameter("range", str, enum=list(series.RANGES), default="1h"),
            OpenApiParameter("metric", str, enum=list(series.METRICS), default="cpu"),
        ],
        responses={200: inline_serializer("MetricSeries", {"series": serializers.ListField()})},
    )
    def get(self, request: Request, pk: int) -> Response:
        server = _server(pk)
        q = MetricsQuerySerializer(data=request.query_params)
        q.is_valid(raise_exception=True)
        body = series.series(server.pk, q.validated_data["metric"], q.validated_data["range"])
        if q.validated_data["metric"] == "waits":
            body["top_waits"] = series.top_waits(server.pk, q.validated_data["range"])
        return Response(body)


class ServerDetailView(APIView):
    """Head blockers, availability group replicas, space per volume and database and SQL Agent
    jobs from the latest collections (what the server page shows)."""

    @extend_schema(responses={200: ServerDetailSerializer})
    def get(self, request: Request, pk: int) -> Response:
        server = _server(pk)
        row = ServerDetail.objects.filter(server=server).first()
        return Response(ServerDetailSerializer(row or ServerDetail(server=server)).data)


def _config(pk: int) -> CollectionConfig:
    return config_for(_server(pk))


class CollectionConfigView(APIView):
    """Collection interval, on/off and metric types for one server;
    changes apply from the next cycle."""

    @extend_schema(responses={200: CollectionConfigSerializer})
    def get(self, request: Request, pk: int) -> Response:
        return Response(CollectionConfigSerializer(_config(pk)).data)

    @extend_schema(request=CollectionConfigSerializer, responses={200: CollectionConfigSerializer})
    def put(self, request: Request, pk: int) -> Response:
        config = _config(pk)
        data = CollectionConfigSerializer(config, data=request.data)
        data.is_valid(raise_exception=True)
        config = save_config(config, data.validated_data, acting_user=request.user)
        return Response(CollectionConfigSerializer(config).data)


class CollectionSwitchView(APIView):
    """Turn collection on or off; only POST (reading or changing the config is elsewhere)."""

    enable = True

    @extend_schema(request=None, responses={200: CollectionConfigSerializer})
    def post(self, request: Request, pk: int) -> Response:
        config = save_config(_config(pk), {"enabled": self.enable}, acting_user=request.user)
        return Response(CollectionConfigSerializer(config).data)


class CollectionStartView(CollectionSwitchView):
    enable = True


class CollectionStopView(CollectionSwitchView):
    enable = False


class RetentionView(APIView):
    """Metrics retention in days (1–365; default 30). Admins change it."""

    required_roles = {"put": Role.ADMIN}

    @property
    def action(self) -> str:
        return self.request.method.lower()

    @extend_schema(responses={200: RetentionSerializer})
    def get(self, request: Request) -> Response:
        return Response({"metrics_retention_days": settings_store.get("metrics_retention_days")})

    @extend_schema(request=RetentionSerializer, responses={200: RetentionSerializer})
    def put(self, request: Request) -> Response:
        data = RetentionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = settings_store.update(data.validated_data, acting_user=request.user)
        return Response({"metrics_retention_days": values["metrics_retention_days"]})


class MetricsStatsView(APIView):
    """Storage statistics: partitions, row estimates, sizes and the date range stored."""

    @extend_schema(
        responses={200: inline_serializer("MetricStats", {"tables": serializers.DictField()})}
    )
    def get(self, request: Request) -> Response:
        return Response(retention.stats())

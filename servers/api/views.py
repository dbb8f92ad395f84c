import contextlib
from collections.abc import Iterator

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from servers import actions, deployment, target_limits
from servers.api.serializers import (
    BulkActionSerializer,
    ConnectionSerializer,
    DeploymentStatusSerializer,
    GroupDetailSerializer,
    GroupSerializer,
    LabelNamesSerializer,
    LabelSerializer,
    ServerIdsSerializer,
    ServerSerializer,
)
from servers.filters import ServerFilter
from servers.models import Label, Server, ServerGroup

TestResult = inline_serializer(
    "ConnectionTestResult",
    {
        "ok": serializers.BooleanField(),
        "message": serializers.CharField(),
        "error_kind": serializers.CharField(required=False),
        "version": serializers.CharField(required=False),
        "product_name": serializers.CharField(required=False),
        "edition": serializers.CharField(required=False),
        "supports_minimum": serializers.BooleanField(required=False),
        "has_view_server_state": serializers.BooleanField(required=False),
        "elapsed_ms": serializers.FloatField(required=False),
    },
)


def _run(fn, *args, **kwargs):  # noqa: ANN001
    try:
        return fn(*args, **kwargs)
    except actions.ActionError as exc:
        raise ValidationError(exc.errors) from exc


class TargetsBusyError(APIException):
    """429 with the reason and a Retry-After header (DRF sends ``wait`` as that header)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "busy"

    def __init__(self, exc: target_limits.TargetsBusy) -> None:
        super().__init__(exc.message)
        self.wait = exc.retry_after


@contextlib.contextmanager
def _target_slot(request: Request) -> Iterator[None]:
    """A slot for a request that contacts an instance; 429 when none is free."""
    try:
        with target_limits.target_slot(request.user):
            yield
    except target_limits.TargetsBusy as exc:  # only ever raised on entry
        raise TargetsBusyError(exc) from exc


class ServerViewSet(viewsets.ModelViewSet):
    """SQL Server instances of the current tenant."""

    serializer_class = ServerSerializer
    filterset_class = ServerFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Server]:
        return Server.objects.listed()

    def create(self, request: Request) -> Response:
        data = ServerSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        validate = fields.pop("validate", False)
        try:
            with _target_slot(request) if validate else contextlib.nullcontext():
                server = _run(
                    actions.create_server, fields, acting_user=request.user, validate=validate
                )
        except actions.ConnectionFailed as exc:
            return Response(
                {"detail": exc.result["message"], "connection": exc.result},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(ServerSerializer(server).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args, **kwargs) -> Response:
        server = self.get_object()
        data = ServerSerializer(server, data=request.data, partial=kwargs.get("partial", False))
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        fields.pop("validate", None)
        _run(actions.update_server, server, fields, acting_user=request.user)
        return Response(ServerSerializer(self.get_queryset().get(pk=server.pk)).data)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        actions.delete_servers([self.get_object()], acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=ConnectionSerializer, responses={200: TestResult, 400: TestResult})
    @action(detail=False, methods=["post"], url_path="test-connection")
    def test_connection(self, request: Request) -> Response:
        """Test a connection without saving anything (10 s timeout)."""
        data = ConnectionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with _target_slot(request):
            result = actions.test_connection(data.target())
        return Response(result, status=200 if result["ok"] else 400)

    @extend_schema(
        request=None,
        responses={200: TestResult, 400: TestResult},
        operation_id="servers_retest_connection",
    )
    @action(detail=True, methods=["post"], url_path="test-connection")
    def retest(self, request: Request, pk: str) -> Response:
        """Test the saved connection again and record the outcome."""
        server = self.get_object()
        with _target_slot(request):
            result = actions.recheck_server(server, acting_user=request.user)
        return Response(result, status=200 if result["ok"] else 400)

    @extend_schema(request=LabelNamesSerializer, responses={200: LabelSerializer(many=True)})
    @action(detail=True, methods=["post"])
    def labels(self, request: Request, pk: str) -> Response:
        """Assign labels by name; unknown names become new labels."""
        data = LabelNamesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        server = self.get_object()
        actions.assign_labels([server], data.validated_data["labels"], acting_user=request.user)
        return Response(LabelSerializer(server.labels.order_by("name"), many=True).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"labels/(?P<label_id>\d+)")
    def remove_label(self, request: Request, pk: str, label_id: str) -> Response:
        server = self.get_object()
        label = get_object_or_404(Label, pk=label_id)
        if not actions.remove_label(server, label, acting_user=request.user):
            return Response({"detail": "The server does not carry this label."}, status=404)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: DeploymentStatusSerializer})
    @action(detail=True, methods=["post"])
    def deploy(self, request: Request, pk: str) -> Response:
        """Queue deployment of the DbTools monitoring objects; poll deployment-status."""
        server = self.get_object()
        deployment.request_deploy([server], acting_user=request.user)
        return Response(deployment.status_of(server), status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: DeploymentStatusSerializer})
    @action(detail=True, methods=["get"], url_path="deployment-status")
    def deployment_status(self, request: Request, pk: str) -> Response:
        return Response(deployment.status_of(self.get_object()))

    @extend_schema(
        request=BulkActionSerializer,
        responses={200: inline_serializer("BulkResult", {"affected": serializers.IntegerField()})},
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request) -> Response:
        """One action on many servers: add_to_group, add_label, deploy or delete."""
        data = BulkActionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        servers = _run(actions.alive_servers, v["server_ids"])
        affected = _run(
            actions.bulk,
            v["action"],
            servers,
            acting_user=request.user,
            group=v["group"],
            label=v.get("label", ""),
        )
        return Response({"affected": affected})


class GroupViewSet(viewsets.ModelViewSet):
    """Server groups; deleting a group leaves its servers in place."""

    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[ServerGroup]:
        return ServerGroup.objects.annotate(
            server_count=Count("servers", filter=Q(servers__deleted_at__isnull=True))
        ).order_by("name")

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return GroupDetailSerializer if self.action == "retrieve" else GroupSerializer

    def perform_create(self, serializer: GroupSerializer) -> None:
        v = serializer.validated_data
        serializer.instance = _run(
            actions.create_group,
            v["name"],
            v.get("description", ""),
            acting_user=self.request.user,
        )
        serializer.instance.server_count = 0

    def perform_update(self, serializer: GroupSerializer) -> None:
        _run(
            actions.update_group,
            serializer.instance,
            serializer.validated_data,
            acting_user=self.request.user,
        )

    def perform_destroy(self, instance: ServerGroup) -> None:
        actions.delete_group(instance, acting_user=self.request.user)

    @extend_schema(request=ServerIdsSerializer, responses={200: GroupDetailSerializer})
    @action(detail=True, methods=["post"], url_path="servers")
    def add_servers(self, request: Request, pk: str) -> Response:
        data = ServerIdsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        group = self.get_object()
        servers = _run(actions.alive_servers, data.validated_data["server_ids"])
        actions.add_to_group(group, servers, acting_user=request.user)
        return Response(GroupDetailSerializer(self.get_queryset().get(pk=group.pk)).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"servers/(?P<server_id>\d+)")
    def remove_server(self, request: Request, pk: str, server_id: str) -> Response:
        group = self.get_object()
        server = get_object_or_404(Server.objects.alive(), pk=server_id)
        if not actions.remove_from_group(group, server, acting_user=request.user):
            return Response({"detail": "The server is not in this group."}, status=404)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LabelViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    serializer_class = LabelSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Label]:
        return Label.objects.all()

    def perform_create(self, serializer: LabelSerializer) -> None:
        v = serializer.validated_data
        serializer.instance = _run(
            actions.create_label, v["name"], v.get("color", ""), acting_user=self.request.user
        )

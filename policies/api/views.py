from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from policies import actions, render, schemas, standing
from policies.api.serializers import (
    COMPLIANCE_CHOICES,
    DeploymentComplianceSerializer,
    DeploymentSerializer,
    DeploySerializer,
    ExemptionSerializer,
    FleetComplianceSerializer,
    PolicySchemaSerializer,
    PolicySerializer,
    PolicyUpdateSerializer,
    PolicyVersionSerializer,
    PreviewSerializer,
)
from policies.filters import PolicyFilter
from policies.models import Exemption, Policy, PolicyDeployment
from servers.models import Server, ServerGroup

COMPLIANCE_PARAM = OpenApiParameter(
    "compliance",
    str,
    enum=[c for c, _ in COMPLIANCE_CHOICES],
    description="Only the databases with this verdict",
)


def _only(request: Request) -> str | None:
    value = request.query_params.get("compliance") or None
    if value is not None and value not in {c for c, _ in COMPLIANCE_CHOICES}:
        raise ValidationError({"compliance": [f"One of {[c for c, _ in COMPLIANCE_CHOICES]}."]})
    return value


def _standings(found: list, request: Request) -> Response:
    only = _only(request)
    return Response([standing.to_dict(s, only) for s in found])


def policy_queryset() -> QuerySet[Policy]:
    return Policy.objects.listing()


class PolicyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Backup, index, integrity and script policies of the current tenant, versioned."""

    filterset_class = PolicyFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Policy]:
        return policy_queryset()

    def get_serializer_class(self) -> type:
        return (
            PolicyUpdateSerializer
            if self.action in ("update", "partial_update")
            else (PolicySerializer)
        )

    def perform_create(self, serializer: PolicySerializer) -> None:
        serializer.instance = actions.create_policy(
            serializer.validated_data, acting_user=self.request.user
        )

    def perform_update(self, serializer: PolicySerializer) -> None:
        policy = actions.update_policy(
            serializer.instance, serializer.validated_data, acting_user=self.request.user
        )
        serializer.instance = policy_queryset().get(pk=policy.pk)

    def perform_destroy(self, instance: Policy) -> None:
        actions.delete_policy(instance, acting_user=self.request.user)

    @extend_schema(responses={200: PolicySchemaSerializer(many=True)})
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def schemas(self, request: Request) -> Response:
        return Response([{"policy_type": t, "schema": s} for t, s in schemas.SCHEMAS.items()])

    @extend_schema(responses={200: PolicyVersionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, pk: str) -> Response:
        page = self.paginate_queryset(self.get_object().versions.all())
        return self.get_paginated_response(PolicyVersionSerializer(page, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("version", int, description="Default: the latest")],
        responses={200: PreviewSerializer},
    )
    @action(detail=True, methods=["get"])
    def preview(self, request: Request, pk: str) -> Response:
        """The T-SQL a version runs, before it is deployed."""
        policy = self.get_object()
        raw = request.query_params.get("version", str(policy.version))
        if not raw.isdigit():
            raise ValidationError({"version": ["A version number."]})
        version = get_object_or_404(policy.versions, number=int(raw))
        sql = render.preview(policy.policy_type, version.configuration, timezone.now())
        return Response({"version": version.number, "sql": sql})

    @extend_schema(request=DeploySerializer, responses={200: DeploymentSerializer(many=True)})
    @action(detail=True, methods=["post"])
    def deploy(self, request: Request, pk: str) -> Response:
        policy = self.get_object()
        body = DeploySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ids = body.validated_data["group_ids"]
        groups = list(ServerGroup.objects.filter(pk__in=ids))
        if missing := sorted(set(ids) - {g.pk for g in groups}):
            raise ValidationError({"group_ids": [f"Unknown group id(s): {missing}"]})
        done = actions.deploy(policy, groups, acting_user=request.user)
        return Response(DeploymentSerializer(done, many=True).data)

    @extend_schema(responses={200: DeploymentSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def deployments(self, request: Request, pk: str) -> Response:
        qs = (
            self.get_object().deployments.select_related("group", "policy").prefetch_related("jobs")
        )
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(DeploymentSerializer(page, many=True).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"deployments/(?P<group_id>\d+)")
    def undeploy(self, request: Request, pk: str, group_id: str) -> Response:
        group = get_object_or_404(ServerGroup, pk=int(group_id))
        actions.undeploy(self.get_object(), group, acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[COMPLIANCE_PARAM], responses={200: DeploymentComplianceSerializer(many=True)}
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def compliance(self, request: Request, pk: str) -> Response:
        """Per group the policy is deployed to: each database's verdict and why."""
        return _standings(standing.for_policy(self.get_object()), request)

    @extend_schema(
        methods=["GET"],
        operation_id="policies_exemptions_list",
        responses={200: ExemptionSerializer(many=True)},
    )
    @extend_schema(
        methods=["POST"],
        operation_id="policies_exemptions_create",
        request=ExemptionSerializer,
        responses={201: ExemptionSerializer},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def exemptions(self, request: Request, pk: str) -> Response:
        policy = self.get_object()
        if request.method == "POST":
            body = ExemptionSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            exemption = actions.grant_exemption(
                policy, body.validated_data, acting_user=request.user
            )
            return Response(ExemptionSerializer(exemption).data, status=status.HTTP_201_CREATED)
        qs = policy.exemptions.select_related("server")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ExemptionSerializer(page, many=True).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"exemptions/(?P<exemption_id>\d+)")
    def revoke_exemption(self, request: Request, pk: str, exemption_id: str) -> Response:
        exemption = get_object_or_404(
            Exemption.objects.select_related("policy", "server"),
            pk=int(exemption_id),
            policy=self.get_object(),
        )
        actions.revoke_exemption(exemption, acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupPoliciesView(ListAPIView):
    """Policies deployed to a group, with the version each runs and the latest one."""

    serializer_class = DeploymentSerializer

    def get_queryset(self) -> QuerySet[PolicyDeployment]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator's visit
            return PolicyDeployment.objects.none()
        group = get_object_or_404(ServerGroup, pk=self.kwargs["pk"])
        return (
            PolicyDeployment.objects.filter(
                group=group, removed_at__isnull=True, policy__deleted_at__isnull=True
            )
            .select_related("group", "policy")
            .prefetch_related("jobs")
            .order_by("policy__name")
        )


class GroupComplianceView(APIView):
    """Each policy deployed to the group: which servers and databases comply, and why not."""

    @extend_schema(
        operation_id="groups_compliance",
        parameters=[COMPLIANCE_PARAM],
        responses={200: DeploymentComplianceSerializer(many=True)},
    )
    def get(self, request: Request, pk: int) -> Response:
        group = get_object_or_404(ServerGroup, pk=pk)
        return _standings(standing.for_group(group.pk), request)


class ServerComplianceView(APIView):
    """Each policy that applies to the server through its groups, for its databases."""

    @extend_schema(
        operation_id="servers_compliance",
        parameters=[COMPLIANCE_PARAM],
        responses={200: DeploymentComplianceSerializer(many=True)},
    )
    def get(self, request: Request, pk: int) -> Response:
        server = get_object_or_404(Server.objects.alive(), pk=pk)
        return _standings(standing.for_server(server.pk), request)


class FleetComplianceView(APIView):
    """The share of databases, over the whole fleet, within every policy that applies to them,
    as computed in the background at `computed_at` (about every minute)."""

    @extend_schema(operation_id="compliance_summary", responses={200: FleetComplianceSerializer})
    def get(self, request: Request) -> Response:
        return Response(standing.fleet_card())

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from policies import actions, render, schemas
from policies.api.serializers import (
    DeploymentSerializer,
    DeploySerializer,
    PolicySchemaSerializer,
    PolicySerializer,
    PolicyUpdateSerializer,
    PolicyVersionSerializer,
    PreviewSerializer,
)
from policies.filters import PolicyFilter
from policies.models import Policy, PolicyDeployment
from servers.models import ServerGroup


def policy_queryset() -> QuerySet[Policy]:
    # An aggregate drops the model's default ordering: pages must stay stable.
    return (
        Policy.objects.alive()
        .annotate(
            deployed_count=Count("deployments", filter=Q(deployments__removed_at__isnull=True))
        )
        .order_by("name", "pk")
    )


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

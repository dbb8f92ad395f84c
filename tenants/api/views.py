from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response

from tenants import provisioning
from tenants.api.serializers import TenantCreateSerializer, TenantSerializer
from tenants.models import Tenant
from tenants.permissions import IsSuperuser


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class ProvisioningFailed(APIException):
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_code = "provisioning_failed"


CONFLICT = OpenApiResponse(
    inline_serializer("Conflict", {"detail": serializers.JSONField()}),
    description="The slug is taken, or the tenant's state does not allow this.",
)


class TenantViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Tenants (system endpoint: no X-Tenant-Slug; platform administrators only)."""

    queryset = Tenant.objects.all()
    serializer_class = TenantSerializer
    permission_classes = [IsSuperuser]
    lookup_field = "slug"
    # Anything that cannot be a slug (a NUL byte, say) never reaches the database: 404.
    lookup_value_regex = "[a-z0-9-]+"
    filterset_fields = ["status"]

    @extend_schema(request=TenantCreateSerializer, responses={201: TenantSerializer, 409: CONFLICT})
    def create(self, request: Request) -> Response:
        data = TenantCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            tenant = provisioning.create_tenant(
                data.validated_data["slug"],
                data.validated_data["name"],
                acting_user=request.user,
            )
        except provisioning.CREATE_ERRORS as exc:
            errors, code = provisioning.why_not_created(exc)
            if code >= 500:
                raise ProvisioningFailed(str(exc)) from exc
            if code == status.HTTP_409_CONFLICT:
                raise Conflict(errors) from exc
            return Response(errors, status=code)
        return Response(TenantSerializer(tenant).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: TenantSerializer})
    def destroy(self, request: Request, slug: str) -> Response:
        tenant = provisioning.delete_tenant(self.get_object(), acting_user=request.user)
        return Response(TenantSerializer(tenant).data)

    def _change(self, fn, request: Request) -> Response:  # noqa: ANN001
        try:
            tenant = fn(self.get_object(), acting_user=request.user)
        except provisioning.TenantStateError as exc:
            raise Conflict(str(exc)) from exc
        return Response(TenantSerializer(tenant).data)

    @extend_schema(request=None, responses={200: TenantSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def suspend(self, request: Request, slug: str) -> Response:
        return self._change(provisioning.suspend_tenant, request)

    @extend_schema(request=None, responses={200: TenantSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, slug: str) -> Response:
        return self._change(provisioning.activate_tenant, request)

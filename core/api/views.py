from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import settings_store
from core.api.serializers import ActivityLogSerializer, TenantSettingsSerializer
from core.filters import ActivityFilter
from core.models import ActivityLog
from dbtools.roles import Role


class ActivityViewSet(viewsets.ReadOnlyModelViewSet):
    """The current tenant's activity log, newest first."""

    serializer_class = ActivityLogSerializer
    filterset_class = ActivityFilter

    def get_queryset(self):  # noqa: ANN201
        return ActivityLog.objects.all()


class SettingsView(APIView):
    """Tenant settings: everyone reads, admins change (PATCH any subset)."""

    required_roles = {"patch": Role.ADMIN}

    @property
    def action(self) -> str:
        return self.request.method.lower()

    @extend_schema(responses={200: TenantSettingsSerializer})
    def get(self, request: Request) -> Response:
        return Response(settings_store.get_all())

    @extend_schema(request=TenantSettingsSerializer, responses={200: TenantSettingsSerializer})
    def patch(self, request: Request) -> Response:
        data = TenantSettingsSerializer(
            data=request.data, context={"current": settings_store.get_all()}
        )
        data.is_valid(raise_exception=True)
        return Response(settings_store.update(data.validated_data, acting_user=request.user))

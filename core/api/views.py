from rest_framework import viewsets

from core.api.serializers import ActivityLogSerializer
from core.filters import ActivityFilter
from core.models import ActivityLog


class ActivityViewSet(viewsets.ReadOnlyModelViewSet):
    """The current tenant's activity log, newest first."""

    serializer_class = ActivityLogSerializer
    filterset_class = ActivityFilter

    def get_queryset(self):  # noqa: ANN201
        return ActivityLog.objects.all()

"""Filters shared by the Activity page and `GET /api/activity`."""

import django_filters

from core.models import ActivityLog


class ActivityFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    # Calendar days (UTC), as the Activity page's date pickers send them.
    date_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    date_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = ActivityLog
        fields = ["action", "entity_type", "entity_id", "user_id"]

    def search(self, queryset, name, value):  # noqa: ANN001, ANN201
        from django.db.models import Q

        return queryset.filter(
            Q(entity_name__icontains=value) | Q(action__icontains=value)
            | Q(user_name__icontains=value)
        )  # fmt: skip

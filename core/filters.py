"""Filters shared by the Activity page and `GET /api/activity`."""

import datetime as dt

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django_filters.fields import IsoDateTimeField

from core.models import ActivityLog

MAX_OFFSET = dt.timedelta(hours=15, minutes=59)


class UTCDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, checked against what PostgreSQL can compare and turned into UTC.

    Python accepts offsets up to ±23:59 where PostgreSQL stops at ±15:59 (no real time zone
    goes beyond ±14:00), and a value that leaves years 1–9999 once moved to UTC cannot exist
    in Python: both are field errors instead of a failed query."""

    def to_python(self, value: object) -> dt.datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        offset = parsed.utcoffset()
        if offset is not None and abs(offset) > MAX_OFFSET:
            raise forms.ValidationError(
                "The time zone offset must be between -15:59 and +15:59.", code="invalid"
            )
        try:
            return parsed.astimezone(dt.UTC)
        except (OverflowError, ValueError) as exc:
            raise forms.ValidationError(
                "Enter a date and time between years 1 and 9999 (in UTC).", code="invalid"
            ) from exc


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


class ActivityFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search", max_length=200)
    since = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")
    # Calendar days (UTC), as the Activity page's date pickers send them.
    date_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    date_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = ActivityLog
        fields = ["action", "entity_type", "entity_id", "user_id"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(entity_name__icontains=value)
            | Q(action__icontains=value)
            | Q(user_name__icontains=value)
        )

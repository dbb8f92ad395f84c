"""Alert list filters, shared by the Alerts page and `GET /api/alerts`."""

import django_filters
from django.db.models import Q, QuerySet

from alerts.models import Alert, Severity
from core.filters import UTCDateTimeFilter

STATES = [
    ("active", "Active (firing)"),
    ("unacknowledged", "Firing, not acknowledged"),
    ("acknowledged", "Acknowledged"),
    ("resolved", "Resolved"),
]


class AlertFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search", max_length=128)
    state = django_filters.ChoiceFilter(method="with_state", label="Status", choices=STATES)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices, label="Severity")
    server = django_filters.NumberFilter(field_name="server_id", label="Server", min_value=1)
    rule = django_filters.NumberFilter(field_name="rule_id", label="Rule", min_value=1)
    since = UTCDateTimeFilter(field_name="triggered_at", lookup_expr="gte")
    until = UTCDateTimeFilter(field_name="triggered_at", lookup_expr="lt")
    ordering = django_filters.OrderingFilter(
        fields=[
            ("triggered_at", "triggered_at"),
            ("severity", "severity"),
            ("resolved_at", "resolved_at"),
        ]
    )

    class Meta:
        model = Alert
        fields = ["q", "state", "severity", "server", "rule", "since", "until"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(server__name__icontains=value) | Q(rule__name__icontains=value))

    def with_state(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        firing = Alert.Status.FIRING
        return {
            "active": queryset.filter(status=firing),
            "unacknowledged": queryset.filter(status=firing, acknowledged_at__isnull=True),
            "acknowledged": queryset.filter(status=firing, acknowledged_at__isnull=False),
            "resolved": queryset.filter(status=Alert.Status.RESOLVED),
        }[value]

"""Server list filters, shared by the Servers page and `GET /api/servers`."""

import django_filters
from django.db.models import Q, QuerySet

from servers.models import Server, ServerGroup

SORTABLE = ["name", "host", "status", "version", "created_at", "monitoring_status"]


class ServerFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search", max_length=200)
    status = django_filters.MultipleChoiceFilter(choices=Server.Status.choices)
    monitoring_status = django_filters.MultipleChoiceFilter(choices=Server.Monitoring.choices)
    group = django_filters.ModelMultipleChoiceFilter(
        field_name="groups", queryset=lambda request: ServerGroup.objects.all(), distinct=True
    )
    label = django_filters.CharFilter(
        method="with_labels", label="Labels (comma separated)", max_length=1000
    )
    health = django_filters.MultipleChoiceFilter(
        method="with_health",
        choices=[(h, h.title()) for h in ("healthy", "warning", "critical", "offline", "unknown")],
        label="Health",
    )
    ordering = django_filters.OrderingFilter(fields=[(f, f) for f in SORTABLE])

    class Meta:
        model = Server
        fields = ["q", "status", "monitoring_status", "group", "label", "health", "auth_type"]

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        # `ordering=,` is valid but names no field, which would clear the order: pages of an
        # unordered list can repeat or skip servers. Keep the default order then.
        queryset = super().filter_queryset(queryset)
        return queryset if queryset.ordered else queryset.order_by(*Server._meta.ordering, "pk")

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Name, host, instance, group or label, as a DBA would type it."""
        for word in value.split():
            queryset = queryset.filter(
                Q(name__icontains=word) | Q(host__icontains=word)
                | Q(instance_name__icontains=word) | Q(groups__name__icontains=word)
                | Q(labels__name__icontains=word)
            )  # fmt: skip
        return queryset.distinct()

    def with_labels(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Servers carrying every one of the labels named."""
        for label in filter(None, (v.strip() for v in value.split(","))):
            queryset = queryset.filter(labels__name__iexact=label)
        return queryset.distinct()

    def with_health(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        """Health as the dashboard shows it (latest snapshot against the tenant's thresholds)."""
        from monitoring.health import fleet_health

        if not value:
            return queryset
        return queryset.filter(
            pk__in=[h["server_id"] for h in fleet_health() if h["status"] in value]
        )

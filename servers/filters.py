"""Server list filters, shared by the Servers page and `GET /api/servers`."""

from typing import Any

import django_filters
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from servers import health
from servers.health import ORDER, Health
from servers.models import Server, ServerGroup

SORTABLE = ["name", "host", "status", "health", "version", "created_at", "monitoring_status"]


class ServerOrdering(django_filters.OrderingFilter):
    """Column ordering; health is computed, not stored, so it is ranked here."""

    def filter(self, qs: QuerySet, value: Any) -> QuerySet:
        if not value or all(v.lstrip("-") != "health" for v in value):
            return super().filter(qs, value)
        ranks: dict[int, list[int]] = {}
        for h in health.fleet_health():
            ranks.setdefault(ORDER[h["status"]], []).append(h["server_id"])
        rank = Case(
            *[When(pk__in=ids, then=Value(r)) for r, ids in ranks.items()],
            default=Value(len(ORDER)),
            output_field=IntegerField(),
        )
        ordering = [
            v.replace("health", "health_rank")
            if v.lstrip("-") == "health"
            else self.get_ordering_value(v)
            for v in value
        ]
        return qs.annotate(health_rank=rank).order_by(*ordering, "name")


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
        method="with_health", choices=Health.choices, label="Health"
    )
    ordering = ServerOrdering(fields=[(f, f) for f in SORTABLE])

    class Meta:
        model = Server
        fields = ["q", "status", "monitoring_status", "group", "label", "health", "auth_type"]

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        # An empty value ("Any status" in a dropdown, `?status=`) means any, not an invalid
        # choice.
        if data is not None and hasattr(data, "getlist"):
            data = data.copy()
            for key in list(data.keys()):
                values = [v for v in data.getlist(key) if v != ""]
                if values:
                    data.setlist(key, values)
                else:
                    del data[key]
        super().__init__(data, *args, **kwargs)

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        # `ordering=,` is valid but names no field, which would clear the order: pages of an
        # unordered list can repeat or skip servers. Keep the default order then.
        queryset = super().filter_queryset(queryset)
        return queryset if queryset.ordered else queryset.order_by(*Server._meta.ordering, "pk")

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Name, host, instance, group or label, as a DBA would type it."""
        for word in value.split():
            queryset = queryset.filter(
                Q(name__icontains=word)
                | Q(host__icontains=word)
                | Q(instance_name__icontains=word)
                | Q(groups__name__icontains=word)
                | Q(labels__name__icontains=word)
            )
        return queryset.distinct()

    def with_labels(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Servers carrying every one of the labels named."""
        for label in filter(None, (v.strip() for v in value.split(","))):
            queryset = queryset.filter(labels__name__iexact=label)
        return queryset.distinct()

    def with_health(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        """Health as the dashboard shows it (latest snapshot against the tenant's thresholds)."""
        if not value:
            return queryset
        return queryset.filter(
            pk__in=[h["server_id"] for h in health.fleet_health() if h["status"] in value]
        )

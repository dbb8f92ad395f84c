"""Policy list filters, shared by the Policies page and `GET /api/policies`."""

import django_filters
from django.db.models import Q, QuerySet

from policies.models import Policy


class PolicyFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search", max_length=128)
    policy_type = django_filters.MultipleChoiceFilter(choices=Policy.Type.choices, label="Type")
    status = django_filters.ChoiceFilter(choices=Policy.Status.choices)
    ordering = django_filters.OrderingFilter(fields=[("name", "name"), ("updated_at", "updated")])

    class Meta:
        model = Policy
        fields = ["q", "policy_type", "status"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))

"""Policy list filters, shared by the Policies page and `GET /api/policies`."""

import django_filters
from django.db.models import Q, QuerySet

from policies.models import Policy, PolicyDeployment
from servers.models import ServerGroup

# The verdicts the Compliance page narrows to, as the filter offers them.
VERDICTS = [
    ("non_compliant", "Failing"),
    ("warning", "Late"),
    ("compliant", "Compliant"),
    ("grace", "Grace period"),
    ("exempt", "Exempt"),
]


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


class ComplianceFilter(django_filters.FilterSet):
    """What the Compliance page narrows to: one group or one server, and one verdict. The page
    picks the standings itself (policies.standing); this validates the values and draws the
    bar, so a bad value is no filter rather than an error."""

    group = django_filters.ModelChoiceFilter(
        queryset=ServerGroup.objects.order_by("name"), method="keep"
    )
    server = django_filters.NumberFilter(method="keep", min_value=1)
    compliance = django_filters.ChoiceFilter(choices=VERDICTS, method="keep")

    class Meta:
        model = PolicyDeployment
        fields: list[str] = []

    def keep(self, queryset: QuerySet, name: str, value: object) -> QuerySet:
        return queryset

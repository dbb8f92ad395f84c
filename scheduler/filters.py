"""Job list filters, shared by the Jobs page and `GET /api/jobs`."""

from typing import Any

import django_filters
from django.db.models import Exists, OuterRef, QuerySet

from scheduler.models import ACTIVE, Job, JobRun, RunStatus

SORTABLE = ["next_run_at", "name", "last_run_at"]


class JobFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", label="Search", max_length=128
    )
    job_type = django_filters.MultipleChoiceFilter(choices=Job.Type.choices, label="Type")
    state = django_filters.ChoiceFilter(
        method="with_state",
        label="Status",
        choices=[
            ("enabled", "Enabled"),
            ("disabled", "Disabled"),
            ("running", "Running"),
            ("failed", "Last run failed"),
        ],
    )
    ordering = django_filters.OrderingFilter(fields=[(f, f) for f in SORTABLE])

    class Meta:
        model = Job
        fields = ["q", "job_type", "state"]

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        # An empty value ("Any type" in the filter bar, `?job_type=`) means any, not an invalid
        # choice: without this, searching with the drop-downs on "any" found nothing.
        if data is not None and hasattr(data, "getlist"):
            data = data.copy()
            for key in list(data.keys()):
                values = [v for v in data.getlist(key) if v != ""]
                if values:
                    data.setlist(key, values)
                else:
                    del data[key]
        super().__init__(data, *args, **kwargs)

    def with_state(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        running = JobRun.objects.filter(job=OuterRef("pk"), status__in=ACTIVE)
        if value == "enabled":
            return queryset.filter(is_enabled=True)
        if value == "disabled":
            return queryset.filter(is_enabled=False)
        if value == "running":
            return queryset.filter(Exists(running))
        last = JobRun.objects.filter(job=OuterRef("pk")).exclude(status__in=ACTIVE)
        last = last.order_by("-scheduled_for", "-id").values("status")[:1]
        failed = [RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED]
        return queryset.annotate(last_status=last).filter(last_status__in=failed)

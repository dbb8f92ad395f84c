from __future__ import annotations

from django.db.models import Max, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from scheduler import actions
from scheduler.api.serializers import (
    DependenciesSerializer,
    ExecutionSerializer,
    JobSerializer,
    JobTypeSerializer,
    RunSerializer,
    RunSummarySerializer,
    SchedulePreviewRequest,
    SchedulePreviewSerializer,
    job_type_list,
)
from scheduler.filters import JobFilter
from scheduler.models import Job, JobDependency, JobExecution, JobRun


def _slots(job: Job, count: int) -> list[dict]:
    tz = job.schedule().zone()
    return [
        {"at": s.at, "local": f"{s.at.astimezone(tz):%Y-%m-%d %H:%M %Z}", "note": s.note}
        for s in job.upcoming(count)
    ]


class JobViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Scheduled jobs of the current tenant: what runs, where and when."""

    serializer_class = JobSerializer
    filterset_class = JobFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Job]:
        return (
            Job.objects.alive()
            .annotate(last_run_at=Max("runs__scheduled_for"))
            .select_related("group", "label")
            .prefetch_related("servers")
            .order_by("name", "pk")
        )

    def perform_create(self, serializer: JobSerializer) -> None:
        serializer.instance = actions.create_job(
            serializer.validated_data, acting_user=self.request.user
        )

    def perform_update(self, serializer: JobSerializer) -> None:
        serializer.instance = actions.update_job(
            serializer.instance, serializer.validated_data, acting_user=self.request.user
        )

    def perform_destroy(self, instance: Job) -> None:
        actions.delete_job(instance, acting_user=self.request.user)

    @extend_schema(request=None, responses={202: RunSummarySerializer})
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str) -> Response:
        run = actions.run_now(self.get_object(), acting_user=request.user)
        return Response(RunSummarySerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: JobSerializer})
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, pk: str) -> Response:
        job = actions.set_enabled(self.get_object(), True, acting_user=request.user)
        return Response(JobSerializer(job).data)

    @extend_schema(request=None, responses={200: JobSerializer})
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk: str) -> Response:
        job = actions.set_enabled(self.get_object(), False, acting_user=request.user)
        return Response(JobSerializer(job).data)

    @extend_schema(
        parameters=[OpenApiParameter("count", int, description="1 to 50 (default 5)")],
        responses={200: SchedulePreviewSerializer},
    )
    @action(detail=True, methods=["get"], url_path="next-runs")
    def next_runs(self, request: Request, pk: str) -> Response:
        job = self.get_object()
        count = _count(request.query_params.get("count", "5"))
        return Response({"description": job.describe_schedule(), "next_runs": _slots(job, count)})

    @extend_schema(responses={200: ExecutionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def executions(self, request: Request, pk: str) -> Response:
        job = self.get_object()
        page = self.paginate_queryset(JobExecution.objects.filter(job=job).order_by("-id"))
        return self.get_paginated_response(ExecutionSerializer(page, many=True).data)

    @extend_schema(responses={200: ExecutionSerializer})
    @action(detail=True, methods=["get"], url_path=r"executions/(?P<execution_id>\d+)")
    def execution(self, request: Request, pk: str, execution_id: str) -> Response:
        job = self.get_object()
        found = get_object_or_404(JobExecution, job=job, pk=int(execution_id))
        return Response(ExecutionSerializer(found).data)

    @extend_schema(responses={200: RunSummarySerializer(many=True)})
    @action(detail=True, methods=["get"])
    def runs(self, request: Request, pk: str) -> Response:
        page = self.paginate_queryset(JobRun.objects.filter(job=self.get_object()))
        return self.get_paginated_response(RunSummarySerializer(page, many=True).data)

    @extend_schema(responses={200: RunSerializer})
    @action(detail=True, methods=["get"], url_path=r"runs/(?P<run_id>\d+)")
    def run_detail(self, request: Request, pk: str, run_id: str) -> Response:
        found = get_object_or_404(JobRun, job=self.get_object(), pk=int(run_id))
        return Response(RunSerializer(found).data)

    @extend_schema(request=None, responses={200: RunSummarySerializer})
    @action(detail=True, methods=["post"], url_path=r"runs/(?P<run_id>\d+)/cancel")
    def cancel(self, request: Request, pk: str, run_id: str) -> Response:
        found = get_object_or_404(JobRun, job=self.get_object(), pk=int(run_id))
        run = actions.cancel_run(found, acting_user=request.user)
        return Response(RunSummarySerializer(run).data)

    @extend_schema(request=DependenciesSerializer, responses={200: DependenciesSerializer})
    @action(detail=True, methods=["get", "put"])
    def dependencies(self, request: Request, pk: str) -> Response:
        job = self.get_object()
        if request.method == "PUT":
            body = DependenciesSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            actions.set_dependencies(
                job,
                [(d["job_id"], d["trigger_rule"]) for d in body.validated_data["upstream"]],
                acting_user=request.user,
            )
        links = JobDependency.objects.filter(
            job__deleted_at__isnull=True, upstream__deleted_at__isnull=True
        )
        return Response(
            {
                "upstream": [
                    {"job_id": d.upstream_id, "trigger_rule": d.trigger_rule}
                    for d in links.filter(job=job)
                ],
                "downstream": [
                    {"job_id": d.job_id, "trigger_rule": d.trigger_rule}
                    for d in links.filter(upstream=job)
                ],
            }
        )

    @extend_schema(responses={200: JobTypeSerializer(many=True)})
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def types(self, request: Request) -> Response:
        return Response(job_type_list())

    @extend_schema(request=SchedulePreviewRequest, responses={200: SchedulePreviewSerializer})
    @action(detail=False, methods=["post"], url_path="schedule-preview")
    def schedule_preview(self, request: Request) -> Response:
        """What a schedule means before it is saved: in words, and its next runs."""
        body = SchedulePreviewRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        job = Job(
            schedule_type=data["schedule_type"],
            schedule_config=data["schedule_config"],
            timezone=data["timezone"],
        )
        if errors := job.schedule_errors():
            raise ValidationError(errors)
        return Response(
            {"description": job.describe_schedule(), "next_runs": _slots(job, data["count"])}
        )


def _count(raw: str) -> int:
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if not 1 <= count <= 50:
        raise ValidationError({"count": ["A whole number from 1 to 50."]})
    return count

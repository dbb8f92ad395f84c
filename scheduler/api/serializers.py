from __future__ import annotations

from typing import Any

from rest_framework import serializers

from scheduler import job_types
from scheduler.models import Job, JobDependency, JobExecution, JobRun
from servers.models import Label, ServerGroup


class ServerRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class RunSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = JobRun
        fields = [
            "id",
            "trigger",
            "status",
            "reason",
            "scheduled_for",
            "started_at",
            "finished_at",
            "missed_slots",
            "requested_by",
        ]


class JobSerializer(serializers.ModelSerializer):
    """A job as the API reads and writes it; the rules themselves live in the model and
    `scheduler.actions`, which the page's form uses too."""

    server_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        max_length=10_000,
        required=False,
        write_only=True,
        help_text="Target servers when target_type is 'servers'.",
    )
    servers = ServerRefSerializer(many=True, read_only=True)
    group = serializers.PrimaryKeyRelatedField(
        queryset=ServerGroup.objects.all(), required=False, allow_null=True
    )
    label = serializers.PrimaryKeyRelatedField(
        queryset=Label.objects.all(), required=False, allow_null=True
    )
    configuration = serializers.JSONField(
        required=False, help_text="Per job type; see GET /api/jobs/types for the JSON Schemas."
    )
    schedule_config = serializers.JSONField(
        help_text='interval: {"interval_seconds": 3600}; cron: {"expression": "0 2 * * *"}; '
        'once: {"run_at": "2026-12-01T02:00:00+01:00"}; event: {"event": "server_added"}.'
    )
    schedule_description = serializers.CharField(source="describe_schedule", read_only=True)
    last_run = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "name",
            "description",
            "job_type",
            "configuration",
            "schedule_type",
            "schedule_config",
            "schedule_description",
            "timezone",
            "misfire_policy",
            "overlap_policy",
            "target_type",
            "server_ids",
            "servers",
            "group",
            "label",
            "priority",
            "heavy",
            "timeout_seconds",
            "retry_attempts",
            "retry_backoff",
            "retry_delay_seconds",
            "retry_max_delay_seconds",
            "is_enabled",
            "next_run_at",
            "last_run",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["next_run_at", "created_by", "created_at", "updated_at"]

    def get_last_run(self, job: Job) -> dict[str, Any] | None:
        run = getattr(job, "last_run_cached", None)
        if run is None:
            run = job.runs.order_by("-scheduled_for", "-id").first()
        return RunSummarySerializer(run).data if run else None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Model rules run in the action (they need the whole job); the model's own field
        # validators are not run by DRF for JSON fields, so nothing else is repeated here.
        return attrs


class JobTypeSerializer(serializers.Serializer):
    job_type = serializers.ChoiceField(choices=Job.Type.choices)
    label = serializers.CharField()
    schema = serializers.JSONField()


def job_type_list() -> list[dict[str, Any]]:
    return [
        {"job_type": t, "label": Job.Type(t).label, "schema": job_types.SCHEMAS[t]}
        for t in Job.Type.values
    ]


class ExecutionSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobExecution
        fields = [
            "id",
            "run",
            "server",
            "server_name",
            "status",
            "attempt",
            "started_at",
            "completed_at",
            "result",
            "output",
            "error_kind",
            "error_message",
        ]


class RunSerializer(RunSummarySerializer):
    executions = ExecutionSerializer(many=True, read_only=True)

    class Meta(RunSummarySerializer.Meta):
        fields = [*RunSummarySerializer.Meta.fields, "executions"]


class DependencySerializer(serializers.Serializer):
    job_id = serializers.IntegerField(min_value=1)
    trigger_rule = serializers.ChoiceField(
        choices=JobDependency.Trigger.choices, default=JobDependency.Trigger.ON_SUCCESS
    )


class DependenciesSerializer(serializers.Serializer):
    upstream = DependencySerializer(many=True, max_length=100)
    downstream = DependencySerializer(many=True, read_only=True)


class SchedulePreviewRequest(serializers.Serializer):
    schedule_type = serializers.ChoiceField(
        choices=[c for c in Job.ScheduleType.choices if c[0] != "event"]
    )
    schedule_config = serializers.JSONField()
    timezone = serializers.CharField(max_length=64, default="UTC")
    count = serializers.IntegerField(min_value=1, max_value=50, default=5)


class SlotSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    local = serializers.CharField()
    note = serializers.CharField()


class SchedulePreviewSerializer(serializers.Serializer):
    description = serializers.CharField()
    next_runs = SlotSerializer(many=True)

from rest_framework import serializers

from monitoring.models import MAX_INTERVAL, MIN_INTERVAL, CollectionConfig, ServerDetail
from monitoring.series import METRICS, RANGES
from monitoring.store import metric_type_ids
from servers.health import Health


class CollectionConfigSerializer(serializers.ModelSerializer):
    interval_seconds = serializers.IntegerField(min_value=MIN_INTERVAL, max_value=MAX_INTERVAL)
    metrics_enabled = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=50,
        help_text="Metric type names to store; empty means all.",
    )
    # Null until the settings are first changed: until then the tenant's defaults apply.
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = CollectionConfig
        fields = ["server_id", "interval_seconds", "enabled", "metrics_enabled", "updated_at"]
        read_only_fields = ["server_id", "updated_at"]

    def validate_metrics_enabled(self, value: list[str]) -> list[str]:
        from dbtools import tenancy

        known = metric_type_ids(tenancy.current().alias)
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown metric type(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
            )
        return sorted(set(value))


class ServerHealthSerializer(serializers.Serializer):
    server_id = serializers.IntegerField()
    name = serializers.CharField()
    host = serializers.CharField()
    instance_name = serializers.CharField()
    status = serializers.ChoiceField(choices=Health.choices)
    connection_status = serializers.CharField()
    last_collected_at = serializers.DateTimeField(allow_null=True)
    cpu = serializers.FloatField(allow_null=True)
    memory = serializers.FloatField(allow_null=True)
    connections = serializers.IntegerField(allow_null=True)
    batch_requests_sec = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_blank=True)


class MetricsQuerySerializer(serializers.Serializer):
    range = serializers.ChoiceField(choices=list(RANGES), default="1h")
    metric = serializers.ChoiceField(choices=list(METRICS), default="cpu")


class RetentionSerializer(serializers.Serializer):
    metrics_retention_days = serializers.IntegerField(min_value=1, max_value=365)


class ServerDetailSerializer(serializers.ModelSerializer):
    """The latest blocking, availability group, space and SQL Agent detail (monitoring.extra);
    null times before the first collection that read them."""

    collected_at = serializers.DateTimeField(allow_null=True, read_only=True)
    space_collected_at = serializers.DateTimeField(allow_null=True, read_only=True)

    class Meta:
        model = ServerDetail
        fields = [
            "collected_at",
            "blockers",
            "hadr_enabled",
            "availability",
            "space_collected_at",
            "volumes",
            "databases",
            "agent_status",
            "jobs",
        ]
        read_only_fields = fields

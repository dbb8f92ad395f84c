from __future__ import annotations

from rest_framework import serializers

from policies.models import Policy, PolicyDeployment, PolicyVersion


class PolicyVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PolicyVersion
        fields = ["number", "configuration", "created_by", "created_at"]


class PolicySerializer(serializers.ModelSerializer):
    configuration = serializers.JSONField(
        required=False, help_text="Per policy type; see GET /api/policies/schemas."
    )
    deployed_to = serializers.IntegerField(read_only=True, source="deployed_count", default=0)

    class Meta:
        model = Policy
        fields = [
            "id",
            "name",
            "policy_type",
            "description",
            "status",
            "version",
            "configuration",
            "deployed_to",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["version", "created_at", "updated_at"]

    def to_representation(self, instance: Policy) -> dict:
        data = super().to_representation(instance)
        data["configuration"] = instance.latest().configuration
        return data


class PolicyUpdateSerializer(PolicySerializer):
    class Meta(PolicySerializer.Meta):
        read_only_fields = [*PolicySerializer.Meta.read_only_fields, "policy_type"]


class DeploySerializer(serializers.Serializer):
    group_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=500
    )


class DeploymentSerializer(serializers.ModelSerializer):
    group_name = serializers.CharField(source="group.name", read_only=True)
    policy_name = serializers.CharField(source="policy.name", read_only=True)
    latest_version = serializers.IntegerField(source="policy.version", read_only=True)
    job_ids = serializers.SerializerMethodField()

    class Meta:
        model = PolicyDeployment
        fields = [
            "id",
            "policy",
            "policy_name",
            "group",
            "group_name",
            "policy_version",
            "latest_version",
            "job_ids",
            "deployed_at",
            "deployed_by",
            "removed_at",
        ]

    def get_job_ids(self, deployment: PolicyDeployment) -> list[int]:
        return sorted(j.pk for j in deployment.jobs.all())


class PolicySchemaSerializer(serializers.Serializer):
    policy_type = serializers.ChoiceField(choices=Policy.Type.choices)
    schema = serializers.JSONField()


class PreviewSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    sql = serializers.CharField()

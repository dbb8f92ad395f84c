from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers

from policies.compliance import Status
from policies.models import Exemption, Policy, PolicyDeployment, PolicyVersion
from servers.models import Server


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


COMPLIANCE_CHOICES = [(s.value, s.value.replace("_", " ")) for s in Status]


class ExemptionSerializer(serializers.ModelSerializer):
    server_id = serializers.PrimaryKeyRelatedField(
        source="server", queryset=Server.objects.alive(), help_text="The server exempted."
    )
    server_name = serializers.CharField(source="server.name", read_only=True)
    database = serializers.CharField(
        max_length=128, required=False, allow_blank=True, help_text="Empty: the whole server."
    )
    reason = serializers.CharField(max_length=500)
    active = serializers.SerializerMethodField()

    class Meta:
        model = Exemption
        fields = [
            "id",
            "server_id",
            "server_name",
            "database",
            "reason",
            "expires_at",
            "granted_by",
            "created_at",
            "revoked_at",
            "revoked_by",
            "active",
        ]
        read_only_fields = ["granted_by", "created_at", "revoked_at", "revoked_by"]

    def get_active(self, exemption: Exemption) -> bool:
        return exemption.revoked_at is None and exemption.expires_at > timezone.now()


class DatabaseComplianceSerializer(serializers.Serializer):
    server_id = serializers.IntegerField()
    server_name = serializers.CharField()
    database = serializers.CharField()
    compliance = serializers.ChoiceField(choices=COMPLIANCE_CHOICES)
    reasons = serializers.ListField(child=serializers.CharField())
    recovery_model = serializers.CharField()
    state = serializers.CharField()
    last_full = serializers.DateTimeField(allow_null=True)
    last_diff = serializers.DateTimeField(allow_null=True)
    last_log = serializers.DateTimeField(allow_null=True)
    last_good_checkdb = serializers.DateTimeField(allow_null=True)


class UnknownServerSerializer(serializers.Serializer):
    server_id = serializers.IntegerField()
    server_name = serializers.CharField()
    reason = serializers.CharField()


class ComplianceCountsSerializer(serializers.Serializer):
    compliant = serializers.IntegerField()
    warning = serializers.IntegerField()
    non_compliant = serializers.IntegerField()
    grace = serializers.IntegerField()
    exempt = serializers.IntegerField()
    not_applicable = serializers.IntegerField()


class DeploymentComplianceSerializer(serializers.Serializer):
    policy_id = serializers.IntegerField()
    policy_name = serializers.CharField()
    policy_type = serializers.ChoiceField(choices=Policy.Type.choices)
    group_id = serializers.IntegerField()
    group_name = serializers.CharField()
    policy_version = serializers.IntegerField()
    overall = serializers.ChoiceField(
        choices=[*COMPLIANCE_CHOICES, ("unknown", "unknown")],
        help_text="The worst verdict among the databases.",
    )
    percent = serializers.FloatField(allow_null=True)
    counts = ComplianceCountsSerializer()
    databases = DatabaseComplianceSerializer(many=True)
    servers_without_facts = UnknownServerSerializer(many=True)


class FleetComplianceSerializer(serializers.Serializer):
    percent = serializers.FloatField(allow_null=True)
    databases = serializers.IntegerField()
    within = serializers.IntegerField()
    failing = serializers.IntegerField()
    warning = serializers.IntegerField()
    counts = ComplianceCountsSerializer()
    servers_without_facts = serializers.IntegerField()
    computed_at = serializers.DateTimeField()

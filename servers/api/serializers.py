from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from core.validators import validate_name
from servers import actions, addresses, deployment, rules, sqlclient
from servers.models import Label, Server, ServerGroup, hex_color


class LabelSerializer(serializers.ModelSerializer):
    color = serializers.CharField(required=False, allow_blank=True, validators=[hex_color])

    class Meta:
        model = Label
        fields = ["id", "name", "color"]


class GroupRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = ServerGroup
        fields = ["id", "name"]


def _django_to_drf(check: Callable[..., Any], *args: Any) -> Any:
    """Run a rule of the domain module, reporting its Django ValidationError the DRF way."""
    try:
        return check(*args)
    except DjangoValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        raise serializers.ValidationError(detail) from exc


class ConnectionSerializer(serializers.Serializer):
    """What it takes to reach an instance; shared by create, update and test-connection."""

    host = serializers.CharField(
        max_length=addresses.HOST_MAX_LENGTH + 2, help_text=addresses.HOST_HELP
    )
    port = serializers.IntegerField(
        min_value=1, max_value=65535, required=False, allow_null=True, default=1433
    )
    instance_name = serializers.CharField(
        max_length=addresses.INSTANCE_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    auth_type = serializers.ChoiceField(choices=Server.AuthType.choices)
    username = serializers.CharField(
        max_length=256,
        error_messages={"required": "A login is required.", "blank": "A login is required."},
    )
    password = serializers.CharField(
        max_length=512,
        required=False,
        allow_blank=True,
        default="",
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
    )
    encrypt = serializers.ChoiceField(choices=Server.Encryption.choices, default="on")
    trust_server_certificate = serializers.BooleanField(default=False)

    def validate_host(self, value: str) -> str:
        return _django_to_drf(addresses.validate_host, value)

    def validate_instance_name(self, value: str) -> str:
        return _django_to_drf(addresses.validate_instance_name, value)

    def validate(self, attrs: dict) -> dict:
        _django_to_drf(rules.check_connection, attrs, self.instance)
        return attrs

    def target(self) -> sqlclient.Target:
        from servers.actions import target_for

        return target_for(self.validated_data, self.validated_data.get("password", ""))


# What DbTools itself records about a server (clients read, never write them).
STATE_FIELDS = [
    "status",
    "version",
    "major_version",
    "product_name",
    "edition",
    "last_checked_at",
    "last_error",
    "last_error_kind",
    "monitoring_status",
    "deployed_version",
    "deployed_at",
    "deployment_error",
    "created_at",
    "updated_at",
]


class ServerSerializer(ConnectionSerializer, serializers.ModelSerializer):
    labels = LabelSerializer(many=True, read_only=True)
    groups = GroupRefSerializer(many=True, read_only=True)
    validate_connection = serializers.BooleanField(
        write_only=True,
        required=False,
        default=False,
        source="validate",
        help_text="Test the connection first; nothing is saved when the test fails.",
    )

    class Meta:
        model = Server
        fields = [
            "id",
            *actions.EDITABLE_FIELDS,
            "password",
            *STATE_FIELDS,
            "labels",
            "groups",
            "validate_connection",
        ]
        read_only_fields = STATE_FIELDS

    def to_internal_value(self, data: dict) -> dict:
        # Clients send `validate: true`, but DRF reserves `validate` for itself: map it.
        if hasattr(data, "copy"):
            data = data.copy()
            if "validate" in data and "validate_connection" not in data:
                data["validate_connection"] = data.pop("validate")
        return super().to_internal_value(data)


class ServerIdsSerializer(serializers.Serializer):
    server_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        allow_empty=False,
        max_length=rules.SERVERS_PER_REQUEST,
    )


class LabelNamesSerializer(serializers.Serializer):
    labels = serializers.ListField(
        child=serializers.CharField(max_length=rules.LABEL_NAME_MAX_LENGTH),
        allow_empty=False,
        max_length=rules.LABELS_PER_REQUEST,
    )

    def validate_labels(self, value: list[str]) -> list[str]:
        return _django_to_drf(rules.label_names, value)


class BulkActionSerializer(ServerIdsSerializer):
    action = serializers.ChoiceField(choices=actions.BULK_ACTIONS)
    group_id = serializers.IntegerField(required=False, min_value=1)
    label = serializers.CharField(
        required=False, max_length=rules.LABEL_NAME_MAX_LENGTH, validators=[validate_name]
    )

    def validate(self, attrs: dict) -> dict:
        group = None
        if attrs["action"] == "add_to_group" and attrs.get("group_id"):
            group = ServerGroup.objects.filter(pk=attrs["group_id"]).first()
            if group is None:
                raise serializers.ValidationError({"group_id": ["Unknown group."]})
        try:
            rules.check_bulk(attrs["action"], group=group, label=attrs.get("label"))
        except DjangoValidationError as exc:
            # The API names the group by its id.
            errors = exc.message_dict
            raise serializers.ValidationError(
                {"group_id" if key == "group" else key: msgs for key, msgs in errors.items()}
            ) from exc
        attrs["group"] = group
        return attrs


class GroupSerializer(serializers.ModelSerializer):
    server_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ServerGroup
        fields = ["id", "name", "description", "server_count", "created_at", "updated_at"]


class ServerBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Server
        fields = ["id", "name", "host", "instance_name", "port", "status", "monitoring_status"]


class GroupDetailSerializer(GroupSerializer):
    servers = serializers.SerializerMethodField()

    class Meta(GroupSerializer.Meta):
        fields = [*GroupSerializer.Meta.fields, "servers"]

    def get_servers(self, group: ServerGroup) -> list[dict]:
        return ServerBriefSerializer(group.servers.alive(), many=True).data


class DeploymentStatusSerializer(serializers.Serializer):
    """What `servers.deployment.status_of` answers."""

    server_id = serializers.IntegerField()
    monitoring_status = serializers.ChoiceField(choices=Server.Monitoring.choices)
    deployed_version = serializers.IntegerField(allow_null=True)
    available_version = serializers.IntegerField()
    upgrade_available = serializers.BooleanField()
    deployed_at = serializers.DateTimeField(allow_null=True)
    phase = serializers.ChoiceField(choices=deployment.PHASES, allow_blank=True)
    requested_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_blank=True)

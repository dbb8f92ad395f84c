from rest_framework import serializers

from core.models import ActivityLog


class ActivityLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = ActivityLog
        fields = [
            "id",
            "action",
            "entity_type",
            "entity_id",
            "entity_name",
            "details",
            "user_id",
            "user_name",
            "created_at",
        ]


def settings_serializer_class() -> type[serializers.Serializer]:
    """One bounded integer field per known setting; PATCH may send any subset."""
    from core import settings_store
    from core.settings_store import SPECS

    fields = {
        s.key: serializers.IntegerField(
            min_value=s.minimum, max_value=s.maximum, required=False, help_text=s.label
        )
        for s in SPECS.values()
    }

    def validate(self, attrs):  # noqa: ANN001
        errors = settings_store.errors_in({**self.context.get("current", {}), **attrs})
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    return type(
        "TenantSettingsSerializer", (serializers.Serializer,), {**fields, "validate": validate}
    )


TenantSettingsSerializer = settings_serializer_class()

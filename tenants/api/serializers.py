from rest_framework import serializers

from core.validators import validate_name
from tenants.models import SLUG_PATTERN, Tenant, slug_length_validator


class TenantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "slug", "name", "status", "db_name", "db_host", "db_port", "created_at",
                  "updated_at"]  # fmt: skip
        read_only_fields = fields


class TenantCreateSerializer(serializers.Serializer):
    slug = serializers.RegexField(
        SLUG_PATTERN,
        max_length=50,
        validators=[slug_length_validator],
        error_messages={
            "invalid": "3–50 lowercase letters, digits and hyphens, "
            "not starting or ending with a hyphen."
        },
    )
    name = serializers.CharField(max_length=200, validators=[validate_name])

from rest_framework import serializers

from core.validators import validate_name
from tenants.models import SLUG_HELP, SLUG_MAX_LENGTH, SLUG_VALIDATORS, Tenant


class TenantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = [
            "id",
            "slug",
            "name",
            "status",
            "db_name",
            "db_host",
            "db_port",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TenantCreateSerializer(serializers.Serializer):
    slug = serializers.CharField(
        max_length=SLUG_MAX_LENGTH, validators=SLUG_VALIDATORS, help_text=SLUG_HELP
    )
    name = serializers.CharField(max_length=200, validators=[validate_name])

from rest_framework import serializers

from core.models import ActivityLog


class ActivityLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = ActivityLog
        fields = ["id", "action", "entity_type", "entity_id", "entity_name", "details", "user_id",
                  "user_name", "created_at"]  # fmt: skip

"""Base tables of every tenant database: settings and the activity log."""

from django.db import models


class Setting(models.Model):
    key = models.CharField(max_length=100, unique=True)
    value = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "settings"
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class ActivityLog(models.Model):
    action = models.CharField(max_length=64)
    entity_type = models.CharField(max_length=32)
    entity_id = models.CharField(max_length=64, blank=True)
    entity_name = models.CharField(max_length=255, blank=True)
    details = models.JSONField(default=dict, blank=True)
    # Users live in the system database: no foreign key can reach them from here, so we keep the
    # id and the name as it was when the action happened.
    user_id = models.IntegerField(null=True, blank=True)
    user_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "activity_log"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["entity_type", "entity_id", "-created_at"], name="activity_entity"
            ),
            models.Index(fields=["action", "-created_at"], name="activity_action"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.entity_type}:{self.entity_id}"

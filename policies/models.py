"""Tenant-database models of policies: a policy, its immutable versions, and where it is deployed.

A version is never changed once written: a change of configuration is a new version, so what ran
on a server last night can always be read back exactly. A deployment ties a version to a group
and owns the scheduled jobs that run it there.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.functions import Lower

from scheduler.models import Job
from servers.models import ServerGroup


class PolicyQuerySet(models.QuerySet):
    def alive(self) -> PolicyQuerySet:
        return self.filter(deleted_at__isnull=True)


class Policy(models.Model):
    class Type(models.TextChoices):
        BACKUP = "backup", "Backup"
        INDEX_MAINTENANCE = "index_maintenance", "Index maintenance"
        INTEGRITY_CHECK = "integrity_check", "Integrity check"
        CUSTOM_SCRIPT = "custom_script", "Custom script"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"

    name = models.CharField(max_length=128)
    policy_type = models.CharField(max_length=32, choices=Type.choices)
    description = models.CharField(max_length=1000, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    version = models.PositiveIntegerField(default=1)  # the latest version's number
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = PolicyQuerySet.as_manager()

    class Meta:
        db_table = "policies"
        ordering = ["name"]
        verbose_name_plural = "policies"
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                condition=models.Q(deleted_at__isnull=True),
                name="policy_name_unique",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    def latest(self) -> PolicyVersion:
        return self.versions.get(number=self.version)


class PolicyVersion(models.Model):
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    configuration = models.JSONField()
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "policy_versions"
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="policy_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.policy_id} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("Policy versions are immutable; write a new version instead.")
        super().save(*args, **kwargs)


class PolicyDeployment(models.Model):
    """A policy version deployed to a group; `removed_at` ends it and keeps it as history."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="deployments")
    group = models.ForeignKey(ServerGroup, on_delete=models.CASCADE, related_name="deployments")
    policy_version = models.PositiveIntegerField()
    jobs = models.ManyToManyField(Job, blank=True, related_name="policy_deployments")
    deployed_at = models.DateTimeField(auto_now_add=True)
    deployed_by = models.CharField(max_length=150, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "policy_deployments"
        ordering = ["-deployed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "group"],
                condition=models.Q(removed_at__isnull=True),
                name="policy_deployment_active_unique",
            )
        ]

    def __str__(self) -> str:
        return f"policy {self.policy_id} v{self.policy_version} on group {self.group_id}"

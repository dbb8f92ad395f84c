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
from servers.models import Server, ServerGroup


class PolicyQuerySet(models.QuerySet):
    def alive(self) -> PolicyQuerySet:
        return self.filter(deleted_at__isnull=True)

    def listing(self) -> PolicyQuerySet:
        """Live policies with the number of groups each is deployed to, in a stable order (an
        aggregate drops the model's default ordering, and pages must stay stable)."""
        return (
            self.alive()
            .annotate(
                deployed_count=models.Count(
                    "deployments", filter=models.Q(deployments__removed_at__isnull=True)
                )
            )
            .order_by("name", "pk")
        )


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


class Exemption(models.Model):
    """A database (or, with an empty name, a whole server) set aside from one policy's compliance
    until `expires_at`, with the reason and who granted it. Revoking keeps it as history."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="exemptions")
    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="policy_exemptions")
    database = models.CharField(max_length=128, blank=True)  # "" = every database of the server
    reason = models.CharField(max_length=500)
    expires_at = models.DateTimeField()
    granted_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True)

    class Meta:
        db_table = "policy_exemptions"
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["policy", "server"], name="policy_exemption_target")]

    def __str__(self) -> str:
        return f"{self.policy_id}: {self.server_id}/{self.database or '*'}"


class FactsCollection(models.Model):
    """Per server: when its compliance facts were last read, and the claim of the worker reading
    them now (a conditional UPDATE on `claimed_until`, so one server is read by one worker)."""

    server = models.OneToOneField(
        Server, on_delete=models.CASCADE, primary_key=True, related_name="facts_collection"
    )
    collected_at = models.DateTimeField(null=True, blank=True)  # last success
    attempted_at = models.DateTimeField(null=True, blank=True)  # last try, success or not
    claimed_until = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    utc_offset_minutes = models.IntegerField(null=True, blank=True)

    class Meta:
        db_table = "policy_facts_collections"

    def __str__(self) -> str:
        return f"facts of server {self.server_id}"


class DatabaseState(models.Model):
    """The latest compliance facts of one database, as its server recorded them: recovery model,
    state, creation date, the newest backup of each kind from msdb and the last good CHECKDB.
    Replaced at every collection; not a time series."""

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="database_states")
    name = models.CharField(max_length=128)
    database_id = models.IntegerField(default=0)
    recovery_model = models.CharField(max_length=16)
    state = models.CharField(max_length=32)
    created = models.DateTimeField(null=True, blank=True)
    in_availability_group = models.BooleanField(default=False)
    # The newest backups that count for the restore chain (copy-only ones excluded), in UTC.
    last_full = models.DateTimeField(null=True, blank=True)
    last_diff = models.DateTimeField(null=True, blank=True)
    last_log = models.DateTimeField(null=True, blank=True)
    last_good_checkdb = models.DateTimeField(null=True, blank=True)
    # Details per kind ("full", "diff", "log", and "full_copy_only"...): finish and start time,
    # size, compressed size, duration, checksum, device.
    backups = models.JSONField(default=dict, blank=True)
    collected_at = models.DateTimeField()

    class Meta:
        db_table = "policy_database_states"
        ordering = ["server_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["server", "name"], name="database_state_unique")
        ]

    def __str__(self) -> str:
        return f"{self.server_id}/{self.name}"


class ComplianceSnapshot(models.Model):
    """The fleet figure as last computed in the background (one row per tenant database).

    Judging every database of a large fleet takes seconds; the dashboard card and the summary
    API read this row instead, and say when it was computed."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    computed_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict)
    # The first instant time alone changes a verdict (a backup turning overdue, an exemption
    # ending): the figure is recomputed then, not on a short fixed period for every tenant.
    changes_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "policy_compliance_snapshot"

    def __str__(self) -> str:
        return f"compliance at {self.computed_at:%Y-%m-%d %H:%M}"

"""System-database models: the tenant registry and who may work in which tenant."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from core.validators import validate_name
from dbtools.roles import Role

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{1,48}[a-z0-9])$"
slug_validator = RegexValidator(
    SLUG_PATTERN,
    "3–50 lowercase letters, digits and hyphens, not starting or ending with a hyphen.",
    code="invalid_slug",
)
SLUG_MAX_LENGTH = 50
SLUG_HELP = "3–50 lowercase letters, digits and hyphens; the database is named after it."
# PostgreSQL keeps the first 63 bytes of an identifier; the tenant's database and role are
# named DBTOOLS_TENANT_DB_PREFIX + slug, so a longer slug would fail half-way through
# provisioning (or, worse, two tenants could end up with the same truncated name).
PG_IDENTIFIER_BYTES = 63


def max_slug_length() -> int:
    """The longest slug whose database name still fits, given the configured prefix."""
    room = PG_IDENTIFIER_BYTES - len(settings.DBTOOLS_TENANT_DB_PREFIX.encode())
    return min(SLUG_MAX_LENGTH, room)


def slug_length_validator(slug: str) -> None:
    limit = max_slug_length()
    if len(slug) > limit:
        raise ValidationError(
            f"A slug can have at most {limit} characters here: the tenant's database is named "
            f"“{settings.DBTOOLS_TENANT_DB_PREFIX}<slug>” and PostgreSQL names have at most "
            f"{PG_IDENTIFIER_BYTES} bytes.",
            code="slug_too_long",
        )


# Every rule a slug follows, for the model, the admin form, the API and provisioning alike.
SLUG_VALIDATORS = [slug_validator, slug_length_validator]


class Tenant(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        DELETED = "deleted", "Deleted"
        # Writes frozen for the last seconds of a move to another server: reads go on, writes
        # get a 503, and background work skips the tenant (it claims only active tenants).
        MOVING = "moving", "Moving"
        # An upgrade's migration failed on this tenant: out of service until the next
        # successful `migrate_tenants`, while the other tenants work.
        NEEDS_ATTENTION = "attention", "Needs attention"

    slug = models.CharField(max_length=SLUG_MAX_LENGTH, unique=True, validators=SLUG_VALIDATORS)
    name = models.CharField(max_length=200, validators=[validate_name])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # Where the tenant's database lives: kept per tenant so one can move to another server.
    db_name = models.CharField(max_length=63, unique=True)
    db_user = models.CharField(max_length=63, unique=True)
    db_password_encrypted = models.TextField()
    # Re-encrypted by `rotate_encryption_key` when the key changes.
    encrypted_fields = ("db_password_encrypted",)
    db_host = models.CharField(max_length=255)
    db_port = models.PositiveIntegerField(default=5432)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tenants"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(slug__regex=SLUG_PATTERN), name="tenant_slug_format"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "memberships"
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="membership_unique_user_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} as {self.role}"


class TenantMove(models.Model):
    """One attempt to move a tenant's database to another PostgreSQL server, with its report.

    The row is the mover's memory: what it created where, so that a move killed at any point can
    be undone (or, once switched, finished) by whoever looks next."""

    class Method(models.TextChoices):
        LOGICAL = "logical", "Logical replication"
        DUMP = "dump", "Dump and restore"

    class State(models.TextChoices):
        PREFLIGHT = "preflight", "Preflight"
        COPYING = "copying", "Copying"
        FROZEN = "frozen", "Writes frozen"
        SWITCHED = "switched", "Switched"
        DONE = "done", "Done"
        FAILED = "failed", "Failed, rolled back"
        ABORTED = "aborted", "Interrupted, rolled back"

    RUNNING_STATES = (State.PREFLIGHT, State.COPYING, State.FROZEN, State.SWITCHED)

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="moves")
    method = models.CharField(max_length=16, choices=Method.choices, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PREFLIGHT)
    source_host = models.CharField(max_length=255)
    source_port = models.PositiveIntegerField()
    target_host = models.CharField(max_length=255)
    target_port = models.PositiveIntegerField()
    # Administrator URLs (with passwords) for the clean-up of an interrupted move, encrypted.
    source_admin_encrypted = models.TextField(blank=True)
    target_admin_encrypted = models.TextField()
    previous_status = models.CharField(max_length=16, default=Tenant.Status.ACTIVE)
    keep_source = models.BooleanField(default=False)
    pid = models.PositiveIntegerField(null=True, blank=True)
    hostname = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    frozen_at = models.DateTimeField(null=True, blank=True)
    unfrozen_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    freeze_seconds = models.FloatField(null=True, blank=True)
    verify_seconds = models.FloatField(null=True, blank=True)
    total_seconds = models.FloatField(null=True, blank=True)
    report = models.JSONField(default=dict, blank=True)
    progress = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "tenant_moves"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"move of {self.tenant} to {self.target_host}:{self.target_port} ({self.state})"

    @property
    def is_running(self) -> bool:
        return self.state in self.RUNNING_STATES


class TenantBackup(models.Model):
    """A pg_dump of one tenant's database, with what is needed to judge a restore of it."""

    class Kind(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULED = "scheduled", "Scheduled"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="backups")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MANUAL)
    path = models.CharField(max_length=1000)
    size_bytes = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    seconds = models.FloatField(null=True, blank=True)
    dbtools_version = models.CharField(max_length=32, blank=True)
    # Migrations applied in the dumped database and row counts per table, both read in the
    # dump's own snapshot: a restore is judged against exactly what the dump holds.
    migrations = models.JSONField(default=list, blank=True)
    row_counts = models.JSONField(default=dict, blank=True)
    restore_tested_at = models.DateTimeField(null=True, blank=True)
    restore_test_ok = models.BooleanField(null=True)
    restore_test_detail = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "tenant_backups"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"backup of {self.tenant} at {self.created_at:%Y-%m-%d %H:%M}"

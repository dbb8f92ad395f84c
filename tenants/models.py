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

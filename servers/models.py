"""Tenant-database models: the SQL Server fleet, its groups and labels."""

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower

from core.validators import validate_name
from servers import addresses, sqlclient


class ServerQuerySet(models.QuerySet):
    def alive(self) -> "ServerQuerySet":
        return self.filter(deleted_at__isnull=True)

    def listed(self) -> "ServerQuerySet":
        """Live servers with their labels and groups, in name order, as lists show them."""
        return self.alive().prefetch_related(
            models.Prefetch("labels", Label.objects.order_by("name")),
            models.Prefetch("groups", ServerGroup.objects.order_by("name")),
        )


class Server(models.Model):
    class Status(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        ONLINE = "online", "Online"
        DEGRADED = "degraded", "Degraded"
        OFFLINE = "offline", "Offline"

    class AuthType(models.TextChoices):
        SQL = "sql", "SQL Server authentication"
        WINDOWS = "windows", "Windows authentication"

    class Encryption(models.TextChoices):
        ON = sqlclient.ENCRYPT_ON, "Required (whole session)"
        STRICT = sqlclient.ENCRYPT_STRICT, "Strict (TDS 8, Microsoft driver)"
        LOGIN = sqlclient.ENCRYPT_LOGIN, "Login only"
        OFF = sqlclient.ENCRYPT_OFF, "Off"

    class Monitoring(models.TextChoices):
        NOT_DEPLOYED = "not_deployed", "Not deployed"
        DEPLOYING = "deploying", "Deploying"
        MONITORED = "monitored", "Monitored"
        FAILED = "failed", "Deployment failed"

    name = models.CharField(max_length=128, validators=[validate_name])
    host = models.CharField(max_length=255, validators=[addresses.host_validator])
    # Null port: resolve a named instance through the SQL Server Browser service.
    port = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=addresses.DEFAULT_PORT,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
    )
    instance_name = models.CharField(
        max_length=128, blank=True, validators=[addresses.instance_name_validator]
    )
    auth_type = models.CharField(max_length=16, choices=AuthType.choices, default=AuthType.SQL)
    username = models.CharField(max_length=256, blank=True)
    password_encrypted = models.TextField(blank=True)
    # Re-encrypted by `rotate_encryption_key` when the key changes.
    encrypted_fields = ("password_encrypted",)
    encrypt = models.CharField(max_length=8, choices=Encryption.choices, default=Encryption.ON)
    trust_server_certificate = models.BooleanField(default=False)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNKNOWN)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_kind = models.CharField(max_length=32, blank=True)
    version = models.CharField(max_length=64, blank=True)
    major_version = models.PositiveSmallIntegerField(null=True, blank=True)
    product_name = models.CharField(max_length=64, blank=True)
    edition = models.CharField(max_length=128, blank=True)

    monitoring_status = models.CharField(
        max_length=16, choices=Monitoring.choices, default=Monitoring.NOT_DEPLOYED
    )
    deployed_version = models.PositiveIntegerField(null=True, blank=True)
    deployed_at = models.DateTimeField(null=True, blank=True)
    deployment_error = models.TextField(blank=True)
    # The deployment run: queued when requested, running once a worker claims it (a conditional
    # UPDATE on deploy_started_at, so a task the broker hands out twice runs once).
    deploy_requested_at = models.DateTimeField(null=True, blank=True)
    deploy_started_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = ServerQuerySet.as_manager()

    class Meta:
        db_table = "servers"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                condition=models.Q(deleted_at__isnull=True),
                name="server_name_unique",
            )
        ]
        indexes = [models.Index(fields=["status"], name="server_status")]

    def __str__(self) -> str:
        return self.name

    @property
    def upgrade_available(self) -> bool:
        """Deployed monitoring objects older than the scripts this DbTools ships."""
        from servers.monitoring_objects import SCRIPT_VERSION

        return bool(self.deployed_version and self.deployed_version < SCRIPT_VERSION)

    @property
    def address(self) -> str:
        return addresses.display(self.host, self.instance_name, self.port)


class ServerGroup(models.Model):
    name = models.CharField(max_length=128, validators=[validate_name])
    description = models.CharField(max_length=1000, blank=True)
    servers = models.ManyToManyField(Server, through="ServerGroupMember", related_name="groups")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "server_groups"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="group_name_unique")]

    def __str__(self) -> str:
        return self.name


class ServerGroupMember(models.Model):
    group = models.ForeignKey(ServerGroup, on_delete=models.CASCADE)
    server = models.ForeignKey(Server, on_delete=models.CASCADE)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "server_group_members"
        constraints = [
            models.UniqueConstraint(fields=["group", "server"], name="group_member_unique")
        ]

    def __str__(self) -> str:
        return f"{self.server_id} in {self.group_id}"


hex_color = RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour like #3d8bfd.")

# Calm colours that read on the dark theme; new labels take one by their name's hash.
LABEL_PALETTE = [
    "#3d8bfd",
    "#3fb950",
    "#e3b341",
    "#f0883e",
    "#db61a2",
    "#a371f7",
    "#39c5cf",
    "#8e96a3",
]


class Label(models.Model):
    name = models.CharField(max_length=64, validators=[validate_name])
    color = models.CharField(max_length=7, validators=[hex_color])
    servers = models.ManyToManyField(Server, through="ServerLabel", related_name="labels")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "labels"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="label_name_unique")]

    def __str__(self) -> str:
        return self.name


class ServerLabel(models.Model):
    server = models.ForeignKey(Server, on_delete=models.CASCADE)
    label = models.ForeignKey(Label, on_delete=models.CASCADE)

    class Meta:
        db_table = "server_labels"
        constraints = [
            models.UniqueConstraint(fields=["server", "label"], name="server_label_unique")
        ]

    def __str__(self) -> str:
        return f"{self.label_id} on {self.server_id}"


def tenant_workload() -> int:
    """How much the current tenant holds, for choosing where a new session lands."""
    return Server.objects.alive().count()

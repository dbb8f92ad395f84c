"""Tenant-database time series. The high-volume tables are PostgreSQL partitions by day (created
in the migration, kept by `monitoring.partitions`); retention drops whole partitions. Their
models are unmanaged with composite keys: rows are written in batches by the collector, never
one ORM save at a time."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from servers.models import Server

MIN_INTERVAL, MAX_INTERVAL = 30, 3600


class MetricType(models.Model):
    name = models.CharField(max_length=64, unique=True)
    unit = models.CharField(max_length=16)
    description = models.CharField(max_length=255, blank=True)

    class Meta:
        db_table = "metric_types"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class CollectionConfig(models.Model):
    server = models.OneToOneField(
        Server, on_delete=models.CASCADE, primary_key=True, related_name="collection_config"
    )
    interval_seconds = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(MIN_INTERVAL), MaxValueValidator(MAX_INTERVAL)]
    )
    enabled = models.BooleanField(default=True)
    # Empty list: every metric type. Otherwise only these metric type names are stored.
    metrics_enabled = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "collection_config"

    def __str__(self) -> str:
        return f"collection of {self.server_id} every {self.interval_seconds}s"


class CollectorState(models.Model):
    """What the collector remembers between cycles: the previous cumulative counters (for
    deltas, packed by `monitoring.counter_state`: rewritten on every collection, so a few KB
    rather than a JSON document of every wait type and file), the last CPU ring-buffer record
    seen, when the server is next due, who holds it."""

    server = models.OneToOneField(
        Server, on_delete=models.CASCADE, primary_key=True, related_name="collector_state"
    )
    next_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_cpu_record_id = models.BigIntegerField(null=True, blank=True)
    counters = models.BinaryField(default=b"", blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_kind = models.CharField(max_length=32, blank=True)
    last_duration_ms = models.FloatField(null=True, blank=True)
    # Which collector slot is collecting this server, and until when; claimed by conditional
    # UPDATE, so no server is collected twice in a cycle. An expired claim (its worker died) is
    # claimable again.
    claimed_by = models.CharField(max_length=128, blank=True, default="", db_default="")
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "collector_state"

    def __str__(self) -> str:
        return f"collector state of {self.server_id}"


class Metric(models.Model):
    pk = models.CompositePrimaryKey("server_id", "metric_type_id", "collected_at")
    server_id = models.IntegerField()
    metric_type_id = models.SmallIntegerField()
    collected_at = models.DateTimeField()
    value = models.FloatField()

    class Meta:
        managed = False
        db_table = "metrics"

    def __str__(self) -> str:
        return f"{self.server_id}/{self.metric_type_id}@{self.collected_at}={self.value}"


class MetricRollup(models.Model):
    """5-minute buckets kept up to date as samples arrive; ranges over 24 h read these."""

    pk = models.CompositePrimaryKey("server_id", "metric_type_id", "bucket")
    server_id = models.IntegerField()
    metric_type_id = models.SmallIntegerField()
    bucket = models.DateTimeField()
    samples = models.IntegerField()
    total = models.FloatField()
    minimum = models.FloatField()
    maximum = models.FloatField()

    class Meta:
        managed = False
        db_table = "metric_rollups_5m"

    def __str__(self) -> str:
        return f"{self.server_id}/{self.metric_type_id}@{self.bucket}"


class ServerSnapshot(models.Model):
    pk = models.CompositePrimaryKey("server_id", "collected_at")
    server_id = models.IntegerField()
    collected_at = models.DateTimeField()
    status = models.CharField(max_length=16)
    cpu_percent = models.FloatField(null=True)
    cpu_other_percent = models.FloatField(null=True)
    memory_percent = models.FloatField(null=True)
    connection_count = models.IntegerField(null=True)
    batch_requests_sec = models.FloatField(null=True)
    duration_ms = models.FloatField(null=True)

    class Meta:
        managed = False
        db_table = "server_snapshots"

    def __str__(self) -> str:
        return f"{self.server_id}@{self.collected_at}"


class WaitStat(models.Model):
    pk = models.CompositePrimaryKey("server_id", "collected_at", "wait_type")
    server_id = models.IntegerField()
    collected_at = models.DateTimeField()
    wait_type = models.CharField(max_length=60)
    waiting_tasks = models.BigIntegerField()
    wait_time_ms = models.BigIntegerField()
    signal_wait_time_ms = models.BigIntegerField()
    interval_ms = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "wait_stats"

    def __str__(self) -> str:
        return f"{self.server_id}@{self.collected_at} {self.wait_type}"


class FileIoStat(models.Model):
    """I/O of one database in one interval: the sum over its files (data and log). Databases
    without I/O in the interval have no row."""

    pk = models.CompositePrimaryKey("server_id", "collected_at", "database_name")
    server_id = models.IntegerField()
    collected_at = models.DateTimeField()
    database_name = models.CharField(max_length=128)
    reads = models.BigIntegerField()
    writes = models.BigIntegerField()
    bytes_read = models.BigIntegerField()
    bytes_written = models.BigIntegerField()
    read_latency_ms = models.FloatField(null=True)
    write_latency_ms = models.FloatField(null=True)
    interval_ms = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "file_io_stats"

    def __str__(self) -> str:
        return f"{self.server_id}@{self.collected_at} {self.database_name}"


class ServerDetail(models.Model):
    """The latest blocking, availability group, space and SQL Agent detail of a server
    (`monitoring.extra`), one row per server, replaced as collections arrive: what the server page
    shows. The history of these lives in `metrics` (head blockers, volume free %, log used %,
    failed jobs, queues), kept and dropped like every metric. Space and jobs are read every
    DBTOOLS_SPACE_INTERVAL_SECONDS, so their columns keep the last read between two."""

    server = models.OneToOneField(
        Server, on_delete=models.CASCADE, primary_key=True, related_name="detail"
    )
    collected_at = models.DateTimeField()
    blockers = models.JSONField(default=list)
    hadr_enabled = models.BooleanField(default=False)
    availability = models.JSONField(default=list)
    space_collected_at = models.DateTimeField(null=True)
    volumes = models.JSONField(default=list)
    databases = models.JSONField(default=list)
    agent_status = models.CharField(max_length=20, default="not_collected")
    jobs = models.JSONField(default=list)

    class Meta:
        db_table = "server_details"

    def __str__(self) -> str:
        return f"detail of {self.server_id}@{self.collected_at}"

"""System-database bookkeeping of the background engine: what is due when per tenant, and which
collector slots are running. Only timing metadata lives here, never tenant data."""

from django.db import models


class DueWork(models.Model):
    """When a tenant next has work of one kind due. One indexed query over this table finds the
    tenants to visit, so an idle tenant costs no query on its own database."""

    class Kind(models.TextChoices):
        COLLECT = "collect", "Collection"
        JOBS = "jobs", "Scheduled jobs"
        FACTS = "facts", "Compliance facts"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Collection is split into DBTOOLS_COLLECT_SLOTS parts, one per collector slot, so each
    # target is collected by one slot process and sees one DbTools session (see
    # monitoring.collector.part_of). Other kinds have one part.
    part = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)  # NULL: nothing due, ever
    # Set by tenant-side code when something became due; lets a slower recomputation that
    # started before the change avoid overwriting it with an older answer.
    marked_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=128, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "engine_due_work"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "part"], name="due_work_unique_tenant_kind_part"
            )
        ]
        indexes = [
            models.Index(
                fields=["kind", "due_at"],
                name="due_work_kind_due",
                condition=models.Q(due_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.part}) of tenant {self.tenant_id} due {self.due_at}"


class CollectorSlot(models.Model):
    """One of DBTOOLS_COLLECT_SLOTS long-running collector tasks. A slot number is held by one
    task at a time (claimed by conditional UPDATE); a task that stops beating is replaced."""

    slot = models.PositiveSmallIntegerField(primary_key=True)
    owner = models.CharField(max_length=128, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When a task for this slot was last put on the queue (by its predecessor or the tick).
    queued_at = models.DateTimeField(null=True, blank=True)
    # Running counts of the task holding the slot, written with each heartbeat (collected,
    # failed, late, max_late_s): how on time collection is, readable without any tenant data.
    stats = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "engine_collector_slots"

    def __str__(self) -> str:
        return f"collector slot {self.slot} held by {self.owner or 'nobody'}"

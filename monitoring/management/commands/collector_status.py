"""`manage.py collector_status [--tenant SLUG]`: per tenant, servers due, late and failing (with
the last error kind), and what the collector slots hold now. The first command to run when the
dashboard says collection is behind."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from dbtools import tenancy
from engine.models import CollectorSlot, DueWork
from monitoring import collector

LATE_SECONDS = collector.LATE_SECONDS


class Command(BaseCommand):
    help = "Print collection state per tenant and what the collector slots hold."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="Only this tenant (slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        self.stdout.write("Slots:")
        for slot in CollectorSlot.objects.order_by("slot"):
            if not slot.owner:
                self.stdout.write(f"  slot {slot.slot}: free")
                continue
            beat = (now - slot.heartbeat_at).total_seconds() if slot.heartbeat_at else None
            stats = slot.stats or {}
            self.stdout.write(
                f"  slot {slot.slot}: {slot.owner}, last beat "
                f"{'never' if beat is None else f'{beat:.0f} s ago'}; collected "
                f"{stats.get('collected', 0)}, failed {stats.get('failed', 0)}, late "
                f"{stats.get('late', 0)}, worst late {stats.get('recent_max_late_s', 0)} s lately"
            )
        tenants = tenancy.tenant_model().objects.filter(status="active").order_by("slug")
        if options.get("tenant"):
            tenants = tenants.filter(slug=options["tenant"])
        for tenant in tenants:
            with tenancy.use_tenant(tenant):
                self.stdout.write(self._tenant(tenant, now))

    @staticmethod
    def _tenant(tenant: Any, now: dt.datetime) -> str:
        from monitoring.models import CollectorState

        servers = list(collector.collectable().values_list("pk", flat=True))
        states = CollectorState.objects.filter(server_id__in=servers)
        late_at = now - dt.timedelta(seconds=LATE_SECONDS)
        due = sum(1 for s in states if s.next_due_at is None or s.next_due_at <= now)
        due += len(servers) - states.count()  # never collected
        late = states.filter(next_due_at__lt=late_at).count()
        held = states.filter(claimed_until__gt=now).count()
        failing = Counter(
            states.filter(consecutive_failures__gt=0).values_list("last_error_kind", flat=True)
        )
        row = DueWork.objects.filter(tenant_id=tenant.pk, kind=DueWork.Kind.COLLECT)
        next_due = min((r.due_at for r in row if r.due_at), default=None)
        kinds = ", ".join(f"{n} {k or 'unknown'}" for k, n in failing.most_common())
        text = (
            f"{tenant.slug}: {len(servers)} collectable, {due} due now, {late} late "
            f"(over {LATE_SECONDS} s), {held} being collected, {sum(failing.values())} failing"
        )
        if kinds:
            text += f" ({kinds})"
        if next_due:
            return text + f"; next due in the due index {next_due:%H:%M:%S} UTC"
        return text + "; nothing in the due index"

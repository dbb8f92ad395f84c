from typing import Any

from django.core.management.base import BaseCommand
from django_q.models import Schedule

from engine import due

SCHEDULES = [
    # name, function, schedule type, minutes. All run in the main (routine) cluster.
    ("collector tick", "monitoring.collector.tick", Schedule.MINUTES, 1),
    ("due index repair", "engine.due.repair", Schedule.MINUTES, 10),
    ("job dispatcher tick", "scheduler.dispatch.tick", Schedule.MINUTES, 1),
    ("retention cleanup", "monitoring.retention.cleanup_task", Schedule.DAILY, None),
    ("compliance facts", "policies.facts.tick", Schedule.MINUTES, 1),
    ("tenant backups", "tenants.backup.scheduled_task", Schedule.HOURLY, None),
    ("interrupted tenant moves", "tenants.move.recover_task", Schedule.MINUTES, 2),
]
RETIRED = ["collector dispatch"]


class Command(BaseCommand):
    help = (
        "Create or update DbTools' recurring background tasks in Django-Q2 and bring the due "
        "index up to date (idempotent)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        Schedule.objects.filter(name__in=RETIRED).delete()
        for name, func, kind, minutes in SCHEDULES:
            Schedule.objects.update_or_create(
                name=name,
                defaults={"func": func, "schedule_type": kind, "minutes": minutes, "repeats": -1},
            )
        # Tenants that existed before the due index (or whose marks were lost) are found now
        # rather than at the first repair.
        repaired = due.repair()
        self.stdout.write(
            f"{len(SCHEDULES)} schedules in place; due index of {repaired['tenants']} tenant(s) "
            "recomputed"
        )

from typing import Any

from django.core.management.base import BaseCommand
from django_q.models import Schedule

SCHEDULES = [
    # name, function, schedule type, minutes
    ("collector dispatch", "monitoring.collector.dispatch", Schedule.MINUTES, 1),
    ("retention cleanup", "monitoring.retention.cleanup_task", Schedule.DAILY, None),
]


class Command(BaseCommand):
    help = "Create or update DbTools' recurring background tasks in Django-Q2 (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, func, kind, minutes in SCHEDULES:
            Schedule.objects.update_or_create(
                name=name,
                defaults={"func": func, "schedule_type": kind, "minutes": minutes, "repeats": -1},
            )
        self.stdout.write(f"{len(SCHEDULES)} schedules in place")

from typing import Any

from django.core.management.base import BaseCommand

from engine import due


class Command(BaseCommand):
    help = "Recompute what is due when for every active tenant from its own database."

    def handle(self, *args: Any, **options: Any) -> None:
        result = due.repair()
        self.stdout.write(f"{result['tenants']} tenant(s) recomputed, {result['failed']} failed")

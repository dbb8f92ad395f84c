from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants import provisioning
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Apply pending tenant migrations to every tenant database that is not deleted. "
        "Carries on past a failing tenant and exits non-zero if any failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", help="Only these tenants (default: all).")
        parser.add_argument("--quiet", action="store_true", help="Print only failures.")

    def handle(self, *args: Any, slugs: list[str], quiet: bool, **options: Any) -> None:
        tenants = Tenant.objects.exclude(status=Tenant.Status.DELETED).order_by("slug")
        if slugs:
            tenants = tenants.filter(slug__in=slugs)
        failed = []
        for tenant in tenants:
            try:
                provisioning.migrate_tenant(tenant)
            except Exception as exc:
                failed.append(tenant.slug)
                self.stderr.write(f"{tenant.slug}: FAILED: {exc}")
            else:
                if not quiet:
                    self.stdout.write(f"{tenant.slug}: ok")
        if failed:
            raise CommandError(f"{len(failed)} tenant(s) failed: {', '.join(failed)}")
        if not quiet:
            self.stdout.write(self.style.SUCCESS(f"{tenants.count()} tenant(s) up to date"))

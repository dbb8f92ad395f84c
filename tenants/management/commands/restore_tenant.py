from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants import backup
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Restore a tenant backup into a new tenant SLUG, or over the existing tenant SLUG after "
        "confirmation. Refuses a dump from a newer DbTools; migrates an older one forward."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("file")
        parser.add_argument("--name", help="Name of a new tenant (default: the dumped one's).")
        parser.add_argument(
            "--yes",
            action="store_true",
            help="Replace an existing tenant's data without asking.",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Never prompt: without --yes an existing tenant is refused.",
        )

    def handle(
        self, *args: Any, slug: str, file: str, name: str | None, yes: bool, **o: Any
    ) -> None:
        exists = Tenant.objects.filter(slug=slug).exists()
        if exists and not yes:
            if not self.stdin_isatty(o):
                raise CommandError(f"Tenant {slug!r} exists: pass --yes to replace its data.")
            answer = input(f"Replace ALL data of tenant {slug!r} with {file}? Type the slug: ")
            if answer.strip() != slug:
                raise CommandError("Not confirmed; nothing changed.")
        try:
            tenant = backup.restore_tenant(slug, file, name=name, overwrite=exists)
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        except Exception as exc:
            raise CommandError(f"Restore failed: {exc}") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {file} into tenant {tenant.slug} ({'replaced' if exists else 'new'})."
            )
        )

    @staticmethod
    def stdin_isatty(options: dict[str, Any]) -> bool:
        import sys

        return options.get("interactive", True) and sys.stdin.isatty()

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants import backup
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Back up a tenant's database (pg_dump custom format, by the tenant's own role), with its "
        "migrations and row counts recorded beside it. --due backs up every tenant that is due."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", nargs="?")
        parser.add_argument(
            "--test-restore",
            action="store_true",
            help="Then restore it into a scratch database and compare row counts.",
        )
        parser.add_argument(
            "--due",
            action="store_true",
            help="Scheduled run: every active tenant whose last backup is older than "
            "DBTOOLS_BACKUP_INTERVAL_HOURS, with a restore test and retention.",
        )

    def handle(self, *args: Any, slug: str | None, test_restore: bool, due: bool, **o: Any) -> None:
        if due:
            result = backup.run_scheduled()
            self.stdout.write(f"{result['backed_up']} backed up, {result['failed']} failed")
            if result["failed"]:
                raise CommandError("Some scheduled backups failed; see the log.")
            return
        tenant = Tenant.objects.exclude(status=Tenant.Status.DELETED).filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}.")
        try:
            made = backup.backup_tenant(tenant)
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(made.row_counts.values())
        self.stdout.write(
            f"{made.path}: {made.size_bytes} bytes, {len(made.row_counts)} tables, {rows} rows, "
            f"{len(made.migrations)} migrations, DbTools {made.dbtools_version}"
        )
        if test_restore:
            made = backup.restore_test(made)
            verdict = "restorable" if made.restore_test_ok else "NOT restorable"
            self.stdout.write(f"restore test: {verdict}: {made.restore_test_detail}")
            if not made.restore_test_ok:
                raise CommandError("The restore test failed.")

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants import move as mover
from tenants.models import Tenant
from tenants.pgadmin import EndpointError


def _interrupt(signum: int, frame: Any) -> None:
    raise mover.MoveInterrupted(f"stopped by signal {signum}")


class Command(BaseCommand):
    help = (
        "Move a tenant's database to another PostgreSQL server: copy while the tenant works "
        "(logical replication, or dump and restore when that cannot be used), freeze writes, "
        "verify both sides, switch. A failed or interrupted move leaves the tenant where it was."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "--to",
            dest="target",
            metavar="URL",
            help="Target server as postgresql://admin:password@host:port/postgres "
            "(superuser for logical replication; CREATEROLE and CREATEDB for a dump).",
        )
        parser.add_argument(
            "--source-admin",
            metavar="URL",
            help="An administrator of the tenant's current server (default: the system "
            "database's role, when the tenant lives on that server).",
        )
        parser.add_argument("--method", choices=["auto", "logical", "dump"], default="auto")
        parser.add_argument("--check", action="store_true", help="Run the preflight only.")
        parser.add_argument(
            "--keep-source",
            action="store_true",
            help="Keep the old copy on the source, locked, instead of dropping it.",
        )
        parser.add_argument(
            "--verify-before-switch",
            action="store_true",
            help="Compare the checksums of every table while writes are frozen, and roll back on "
            "a difference. By default the tenant switches as soon as the target has caught up "
            "(tables, migrations and sequences checked) and the checksums are compared right "
            "after, against a snapshot taken at the cut-over: the freeze no longer grows with "
            "the data; a difference then keeps the old copy locked for examination.",
        )
        parser.add_argument(
            "--recover",
            action="store_true",
            help="Clean up after a move of this tenant whose process died.",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        tenant = Tenant.objects.filter(slug=opts["slug"]).first()
        if tenant is None:
            raise CommandError(f"No tenant {opts['slug']!r}.")
        if opts["recover"]:
            stale = mover.recover_stale(tenant, out=self.stdout.write)
            self.stdout.write(f"{len(stale)} interrupted move(s) cleaned up.")
            return
        if not opts["target"]:
            raise CommandError("--to is required.")
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            self._move(tenant, opts)
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _move(self, tenant: Tenant, opts: dict[str, Any]) -> None:
        try:
            if opts["check"]:
                target = mover.Endpoint.from_url(opts["target"])
                source_admin = mover._source_admin_for(tenant, opts["source_admin"])
                pf = mover.preflight(tenant, target, source_admin, opts["method"])
                move = None
            else:
                move, pf = mover.start(
                    tenant,
                    opts["target"],
                    source_admin_url=opts["source_admin"],
                    method=opts["method"],
                    keep_source=opts["keep_source"],
                    verify_before_switch=opts["verify_before_switch"],
                    out=self.stdout.write,
                )
        except EndpointError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write("Preflight:")
        for line in pf.lines():
            self.stdout.write("  " + line)
        if pf.note and move is None:
            self.stdout.write(pf.note)  # a move says it as its first step
        if not pf.method:
            failed = pf.failures or pf.logical_failures
            raise CommandError(
                "Preflight failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed)
            )
        if move is None:
            self.stdout.write(
                self.style.SUCCESS(f"Preflight passed; the move would use {pf.method}.")
            )
            return
        try:
            mover.run(move, out=self.stdout.write)
        except BaseException as exc:
            move.refresh_from_db()
            for line in mover.format_report(move):
                self.stderr.write(line)
            if isinstance(exc, mover.MoveInterrupted | KeyboardInterrupt):
                raise CommandError("Move interrupted and rolled back.") from exc
            raise CommandError(f"Move failed and rolled back: {exc}") from exc
        move.refresh_from_db()
        for line in mover.format_report(move):
            self.stdout.write(line)
        if move.error:
            raise CommandError(f"Moved, but: {move.error}")
        self.stdout.write(self.style.SUCCESS("Move done."))

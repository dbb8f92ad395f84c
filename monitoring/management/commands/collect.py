"""`manage.py collect --tenant SLUG [--server NAME_OR_ID ...]`: collect now, in the foreground,
through the workers' code path (claim, collect, write, due index, alert evaluation), and print
what was read. For a DBA checking one server, or an operator where workers are not wanted."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dbtools import tenancy
from monitoring import collector
from servers.models import Server


class Command(BaseCommand):
    help = "Collect a tenant's servers now (all collectable ones, or those named) and print them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument(
            "--server", action="append", default=[], help="Server name or id (repeatable)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenancy.tenant_model().objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant']!r}.")
        with tenancy.use_tenant(tenant):
            names = {s.pk: s.name for s in Server.objects.alive().only("id", "name")}
            ids = None
            if options["server"]:
                ids = [self._find(names, given) for given in options["server"]]
            try:
                results = collector.collect_now(ids)
            finally:
                collector.CONNECTIONS.close_all()
        if not results:
            self.stdout.write(
                "Nothing collected: no monitored server with collection on, or all are being "
                "collected by a worker right now."
            )
            return
        for r in sorted(results, key=lambda r: names.get(r.server_id, "")):
            self.stdout.write(self._line(names.get(r.server_id, str(r.server_id)), r))
        failed = sum(r.computed is None for r in results)
        self.stdout.write(f"{len(results)} collected, {failed} failed.")

    @staticmethod
    def _find(names: dict[int, str], given: str) -> int:
        if given.isdigit() and int(given) in names:
            return int(given)
        by_name = {name.lower(): pk for pk, name in names.items()}
        if given.lower() in by_name:
            return by_name[given.lower()]
        raise CommandError(f"No server {given!r} in this tenant.")

    @staticmethod
    def _line(name: str, r: Any) -> str:
        if r.computed is None:
            return f"{name}: {r.status}, {r.error_kind}: {r.error} ({r.duration_ms:.0f} ms)"
        snap = r.computed.snapshot
        top = ", ".join(f"{w.wait_type} {w.wait_ms} ms" for w in r.computed.waits[:3])
        return (
            f"{name}: {r.status}, CPU {_pct(snap['cpu_percent'])}, memory "
            f"{_pct(snap['memory_percent'])}, {snap['connection_count']} connections, "
            f"{len(r.computed.files)} database files, top waits: {top or 'none yet'} "
            f"({r.duration_ms:.0f} ms)"
        )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} %"

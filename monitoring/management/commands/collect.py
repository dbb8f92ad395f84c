"""`manage.py collect --tenant SLUG [--server NAME_OR_ID ...]`: collect now, in the foreground,
through the workers' code path (claim, collect, write, due index, alert evaluation), and print
what was read. For a DBA checking one server, or an operator where workers are not wanted."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dbtools import tenancy
from monitoring import collector, extra
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
            + "".join(f"\n  {line}" for line in extra_lines(r.computed.extra))
        )


def extra_lines(x: Any) -> list[str]:
    """Blocking, space, Agent jobs and availability groups (monitoring.extra), one line each."""
    if x is None:
        return ["blocking, space, jobs, availability groups: upgrade the monitoring objects"]
    lines = []
    if x.blockers:
        b = x.blockers[0]
        lines.append(
            f"blocking: {b['blocked']} blocked behind session {b['session_id']} "
            f"({b['login'] or '?'} on {b['host'] or '?'}, {b['program'] or '?'}), longest "
            f"{b['longest_wait_ms'] / 1000:.0f} s on {b['wait_resource'] or b['wait_type']}"
            + (
                f"; head {b['status']}, {b['open_transactions']} open transaction(s)"
                if b.get("status")
                else ""
            )
        )
    else:
        lines.append("blocking: none")
    if x.space_collected:
        volumes = ", ".join(f"{v['volume']} {_pct(v['free_percent'])} free" for v in x.volumes)
        logs = [d for d in x.databases if d["log_used_percent"] is not None]
        fullest = max(logs, key=lambda d: d["log_used_percent"], default=None)
        lines.append(
            f"volumes: {volumes or 'none'}"
            + (" (first 100 files only)" if x.volumes_truncated else "")
        )
        if fullest:
            lines.append(
                f"logs: fullest {fullest['database']} {fullest['log_used_percent']} % used "
                f"(reuse wait {fullest['log_reuse_wait']}), {len(x.databases)} databases"
            )
        if x.agent_status in extra.JOBS_READ:
            failed = [j["job"] for j in x.jobs if j["outcome"] == "failed"]
            lines.append(
                f"agent jobs: {len(x.jobs)}, {len(failed)} failed"
                + (f" ({', '.join(failed)})" if failed else "")
                + ("; SQL Server Agent is not running" if x.agent_status == "stopped" else "")
            )
        else:
            lines.append(f"agent jobs: {extra.agent_label(x.agent_status)}")
    else:
        lines.append(
            f"space and agent jobs: read every {extra.space_interval_seconds() // 60} min, "
            "not in this collection"
        )
    for name, status in x.set_errors.items():
        lines.append(f"{name}: not read this time ({status}), the other sets were")
    if not x.hadr_enabled:
        lines.append("availability groups: HADR off")
    else:
        worst = sorted(x.availability, key=lambda a: a["health"] == "HEALTHY")
        lines.append(
            "availability groups: "
            + (
                "; ".join(
                    f"{a['group']} {a['replica']} {a['database']} {a['role']} {a['state']} "
                    f"{a['health']}, send {a['log_send_queue_kb'] or 0} KB, redo "
                    f"{a['redo_queue_kb'] or 0} KB"
                    for a in worst[:5]
                )
                or "HADR on, no replica"
            )
        )
    return lines


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} %"

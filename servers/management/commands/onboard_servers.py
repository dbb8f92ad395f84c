"""Onboard a range of instances from the command line (e.g. a new data centre, or the demo)."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dbtools import tenancy
from servers import actions, addresses, deployment
from servers.models import Server, ServerGroup


def port_range(text: str) -> list[int]:
    ports: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        ports.extend(range(int(lo), int(hi or lo) + 1))
    return ports


class Command(BaseCommand):
    help = (
        "Test, save and optionally deploy monitoring to instances on HOST:PORTS for one tenant. "
        "Instances already onboarded (same host and port) are skipped; names come from the "
        "instances themselves."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--ports", required=True, help="e.g. 1433 or 14330-14349,15000")
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--encrypt", default="on", choices=["on", "login", "off", "strict"])
        parser.add_argument("--group", default="", help="also add them to this group")
        parser.add_argument("--label", action="append", default=[], help="labels (repeatable)")
        parser.add_argument("--deploy", action="store_true", help="deploy monitoring objects")

    def handle(self, *args: Any, **o: Any) -> None:
        try:
            ports = port_range(o["ports"])
        except ValueError as exc:
            raise CommandError(f"--ports: {exc}") from exc
        try:
            o["host"] = addresses.validate_host(o["host"])
        except ValidationError as exc:
            raise CommandError(f"--host: {' '.join(exc.messages)}") from exc
        with tenancy.use_tenant_slug(o["tenant"]):
            known = set(Server.objects.alive().values_list("host", "port"))
            added: list[Server] = []
            for port in ports:
                if (o["host"], port) in known:
                    continue
                data = {
                    "host": o["host"],
                    "port": port,
                    "auth_type": "sql",
                    "username": o["username"],
                    "password": o["password"],
                    "encrypt": o["encrypt"],
                }
                result = actions.test_connection(actions.target_for(data, o["password"]))
                if not result["ok"]:
                    self.stderr.write(f"{o['host']}:{port}: {result['message']}")
                    continue
                name = result.get("server_name") or f"{o['host']}:{port}"
                if Server.objects.alive().filter(name__iexact=name).exists():
                    name = f"{name} ({port})"
                added.append(actions.create_server({**data, "name": name}, tested=result))
            if added and o["group"]:
                group = ServerGroup.objects.filter(name__iexact=o["group"]).first()
                group = group or actions.create_group(o["group"])
                actions.add_to_group(group, added)
            if added and o["label"]:
                actions.assign_labels(added, o["label"])
            deployed = 0
            if o["deploy"]:
                for server in added:
                    deployed += deployment.deploy(server)["monitoring_status"] == "monitored"
        self.stdout.write(f"{len(added)} server(s) onboarded, {deployed} deployed")

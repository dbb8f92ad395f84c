"""Every change to servers, groups and labels goes through one function here, which also writes
the activity log. Views and the API stay thin."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError
from django.db.models.functions import Lower
from django.utils import timezone

from core import activity
from dbtools import crypto, tenancy
from dbtools.errors import ActionError
from engine import due
from servers import addresses, rules, sqlclient
from servers.models import LABEL_PALETTE, Label, Server, ServerGroup, ServerGroupMember, ServerLabel

User = AbstractBaseUser | None

# What the Servers page and the API can do to many servers at once (see `bulk`).
BULK_ACTIONS = ("add_to_group", "add_label", "deploy", "delete")

CONNECTION_FIELDS = (
    "host",
    "port",
    "instance_name",
    "auth_type",
    "username",
    "encrypt",
    "trust_server_certificate",
)
EDITABLE_FIELDS = ("name", *CONNECTION_FIELDS)


class ConnectionFailed(Exception):
    """A connection test that did not pass: the report or the error says why."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result
        super().__init__(result.get("message", "connection test failed"))


# -- connections --------------------------------------------------------------------------------
def target_for(data: dict[str, Any] | Server, password: str | None = None) -> sqlclient.Target:
    get = (lambda k, d=None: getattr(data, k, d)) if isinstance(data, Server) else data.get
    if password is None and isinstance(data, Server) and data.password_encrypted:
        password = crypto.decrypt(data.password_encrypted)
    return sqlclient.Target(
        host=get("host"),
        port=get("port"),
        instance_name=get("instance_name") or "",
        auth_type=get("auth_type") or "sql",
        username=get("username") or "",
        password=password or "",
        encrypt=get("encrypt") or sqlclient.ENCRYPT_ON,
        trust_server_certificate=bool(get("trust_server_certificate")),
    )


def test_connection(target: sqlclient.Target) -> dict[str, Any]:
    """Run the connection test and describe it as the API and pages show it."""
    try:
        addresses.validate_host(target.host)
    except ValidationError as exc:
        # Only rows stored before hosts were validated can get here: no driver could use them.
        return {"ok": False, "error_kind": "unreachable", "message": " ".join(exc.messages)}
    try:
        report = sqlclient.test_connection(target)
    except sqlclient.TargetError as exc:
        return {"ok": False, "error_kind": exc.kind, "message": exc.message}
    result = report.to_dict()
    if not report.ok:
        first = report.problems[0]
        result.update(error_kind=first.kind, message=first.message)
    else:
        result["message"] = f"Connected to {report.product_name} {report.edition}."
    return result


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _apply_result(server: Server, result: dict[str, Any]) -> None:
    server.last_checked_at = timezone.now()
    if result.get("version"):
        server.version = result["version"]
        server.major_version = result["major_version"]
        server.product_name = result["product_name"]
        server.edition = result["edition"]
    if result["ok"]:
        server.last_error = server.last_error_kind = ""
        if server.status in (Server.Status.UNKNOWN, Server.Status.OFFLINE):
            server.status = Server.Status.ONLINE
    else:
        server.last_error, server.last_error_kind = result["message"], result["error_kind"]
        if result["error_kind"] in ("unreachable", "timeout", "tls_failure", "login_failed"):
            server.status = Server.Status.OFFLINE


def recheck_server(server: Server, *, acting_user: User = None) -> dict[str, Any]:
    # The test talks to the instance: no transaction is held open while it waits.
    result = test_connection(target_for(server))
    _apply_result(server, result)
    details = {"ok": result["ok"], "error_kind": result.get("error_kind", "")}
    with tenancy.atomic():
        server.save()
        activity.record(
            "server.connection_tested", "server", server.pk, server.name, details, acting_user
        )
    return result


# -- servers ------------------------------------------------------------------------------------
def _name_taken(name: str, exclude: int | None = None) -> bool:
    qs = Server.objects.alive().filter(name__iexact=name)
    return qs.exclude(pk=exclude).exists() if exclude else qs.exists()


def name_taken(name: str, exclude: int | None = None) -> bool:
    """Is this display name used by another live server? (The wizard asks at its test step.)"""
    return _name_taken(name, exclude)


def create_server(
    data: dict[str, Any],
    *,
    acting_user: User = None,
    validate: bool = False,
    tested: dict[str, Any] | None = None,
) -> Server:
    """Create a server from validated fields (password in clear, encrypted here). With
    `validate`, test the connection first: a failed test raises ConnectionFailed and creates
    nothing. `tested` passes the result of a test the caller just ran instead."""
    if _name_taken(data["name"]):
        raise ActionError({"name": ["A server with this name already exists."]})
    password = data.get("password") or ""
    result = tested or (test_connection(target_for(data, password)) if validate else None)
    if result is not None and not result["ok"]:
        raise ConnectionFailed(result)
    server = Server(**{k: data[k] for k in EDITABLE_FIELDS if k in data})
    server.password_encrypted = crypto.encrypt(password) if password else ""
    if result is not None:
        _apply_result(server, result)
    try:
        with tenancy.atomic():
            server.save()
            activity.record(
                "server.created",
                "server",
                server.pk,
                server.name,
                {"address": server.address, "validated": validate},
                acting_user,
            )
    except IntegrityError as exc:  # a concurrent create with the same name
        raise ActionError({"name": ["A server with this name already exists."]}) from exc
    return server


def onboard_server(
    data: dict[str, Any],
    *,
    acting_user: User = None,
    groups: Iterable[ServerGroup] = (),
    labels: Iterable[str] = (),
    deploy: bool = False,
) -> Server:
    """The onboarding wizard's save: test the connection (nothing is created if it fails), then
    the server with its groups and labels in one transaction; the deployment of the monitoring
    objects, after which collection starts, is queued once that transaction has committed."""
    if _name_taken(data["name"]):
        raise ActionError({"name": ["A server with this name already exists."]})
    result = test_connection(target_for(data, data.get("password") or ""))
    if not result["ok"]:
        raise ConnectionFailed(result)
    with tenancy.atomic():
        server = create_server(data, acting_user=acting_user, validate=True, tested=result)
        for group in groups:
            add_to_group(group, [server], acting_user=acting_user)
        names = list(labels)
        if names:
            assign_labels([server], names, acting_user=acting_user)
        if deploy:
            from servers import deployment  # deployment imports this module

            deployment.request_deploy([server], acting_user=acting_user)
    return server


def update_server(server: Server, data: dict[str, Any], *, acting_user: User = None) -> Server:
    """Change fields; a missing or empty password keeps the stored one."""
    if "name" in data and _name_taken(data["name"], exclude=server.pk):
        raise ActionError({"name": ["A server with this name already exists."]})
    changed = [k for k in EDITABLE_FIELDS if k in data and getattr(server, k) != data[k]]
    for key in changed:
        setattr(server, key, data[key])
    if data.get("password"):
        server.password_encrypted = crypto.encrypt(data["password"])
        changed.append("password")
    if not changed:
        return server
    if any(k in CONNECTION_FIELDS or k == "password" for k in changed):
        server.status = Server.Status.UNKNOWN  # until the next check proves the new settings
    with tenancy.atomic():
        server.save()
        activity.record(
            "server.updated",
            "server",
            server.pk,
            server.name,
            {"changed": sorted(changed)},
            acting_user,
        )
    return server


def delete_servers(servers: Iterable[Server], *, acting_user: User = None) -> int:
    """Soft delete: the row stays for history; the name becomes free again."""
    count = 0
    with tenancy.atomic():
        for server in servers:
            if server.deleted_at:
                continue
            server.deleted_at = timezone.now()
            server.save(update_fields=["deleted_at", "updated_at"])
            ServerGroupMember.objects.filter(server=server).delete()
            activity.record("server.deleted", "server", server.pk, server.name, {}, acting_user)
            count += 1
        if count:
            due.mark_on_commit()  # the collector recomputes what is due without them
    return count


def alive_servers(ids: Iterable[int]) -> list[Server]:
    ids = list(ids)
    found = list(Server.objects.alive().filter(pk__in=ids))
    missing = set(ids) - {s.pk for s in found}
    if missing:
        raise ActionError({"server_ids": [f"Unknown server id(s): {sorted(missing)}"]})
    return found


# -- groups -------------------------------------------------------------------------------------
def _group_name_taken(name: str, exclude: int | None = None) -> bool:
    qs = ServerGroup.objects.filter(name__iexact=name)
    return qs.exclude(pk=exclude).exists() if exclude else qs.exists()


def create_group(name: str, description: str = "", *, acting_user: User = None) -> ServerGroup:
    if _group_name_taken(name):
        raise ActionError({"name": ["A group with this name already exists."]})
    with tenancy.atomic():
        group = ServerGroup.objects.create(name=name, description=description)
        activity.record("group.created", "group", group.pk, group.name, {}, acting_user)
    return group


def update_group(
    group: ServerGroup, data: dict[str, Any], *, acting_user: User = None
) -> ServerGroup:
    if "name" in data and _group_name_taken(data["name"], exclude=group.pk):
        raise ActionError({"name": ["A group with this name already exists."]})
    before = {k: getattr(group, k) for k in ("name", "description")}
    for key in ("name", "description"):
        if key in data:
            setattr(group, key, data[key])
    diff = {
        k: {"from": v, "to": getattr(group, k)} for k, v in before.items() if v != getattr(group, k)
    }
    if diff:
        with tenancy.atomic():
            group.save()
            activity.record("group.updated", "group", group.pk, group.name, diff, acting_user)
    return group


def delete_group(group: ServerGroup, *, acting_user: User = None) -> None:
    """The servers stay; they only leave the group. A group that jobs run on stays until they
    are moved or deleted: deleting it would silently stop them."""
    try:
        with tenancy.atomic():
            members = group.servers.count()
            activity.record(
                "group.deleted", "group", group.pk, group.name, {"members": members}, acting_user
            )
            group.delete()
    except ProtectedError as exc:
        names = sorted({str(o) for o in exc.protected_objects})[:5]
        raise ActionError(
            f"Jobs run on this group ({', '.join(names)}): remove their policy deployments or "
            "change their targets first."
        ) from exc


def add_to_group(group: ServerGroup, servers: list[Server], *, acting_user: User = None) -> int:
    existing = set(
        ServerGroupMember.objects.filter(group=group).values_list("server_id", flat=True)
    )
    new = [s for s in servers if s.pk not in existing]
    with tenancy.atomic():
        ServerGroupMember.objects.bulk_create(
            [ServerGroupMember(group=group, server=s) for s in new], ignore_conflicts=True
        )
        if new:
            activity.record(
                "group.servers_added",
                "group",
                group.pk,
                group.name,
                {"servers": [s.name for s in new]},
                acting_user,
            )
    return len(new)


def remove_from_group(group: ServerGroup, server: Server, *, acting_user: User = None) -> bool:
    with tenancy.atomic():
        deleted, _ = ServerGroupMember.objects.filter(group=group, server=server).delete()
        if deleted:
            activity.record(
                "group.server_removed",
                "group",
                group.pk,
                group.name,
                {"server": server.name},
                acting_user,
            )
    return bool(deleted)


# -- labels -------------------------------------------------------------------------------------
def _palette_color(name: str) -> str:
    return LABEL_PALETTE[sum(name.lower().encode()) % len(LABEL_PALETTE)]


def create_label(name: str, color: str = "", *, acting_user: User = None) -> Label:
    if Label.objects.filter(name__iexact=name).exists():
        raise ActionError({"name": ["A label with this name already exists."]})
    with tenancy.atomic():
        label = Label.objects.create(name=name, color=color or _palette_color(name))
        activity.record(
            "label.created", "label", label.pk, label.name, {"color": label.color}, acting_user
        )
    return label


def labels_named(names: Iterable[str], *, acting_user: User = None) -> list[Label]:
    """The labels with these names, created on first use (case-insensitive) and logged like
    labels created on purpose."""
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    lowered = [n.lower() for n in wanted]
    found = {
        lbl.name.lower(): lbl
        for lbl in Label.objects.annotate(lname=Lower("name")).filter(lname__in=lowered)
    }
    with tenancy.atomic():
        for name in wanted:
            if name.lower() not in found:
                label, created = Label.objects.get_or_create(
                    name=name, defaults={"color": _palette_color(name)}
                )
                if created:
                    activity.record(
                        "label.created",
                        "label",
                        label.pk,
                        label.name,
                        {"color": label.color},
                        acting_user,
                    )
                found[name.lower()] = label
    return [found[n.lower()] for n in wanted]


def assign_labels(
    servers: list[Server], names: Iterable[str], *, acting_user: User = None
) -> list[Label]:
    with tenancy.atomic():
        labels = labels_named(names, acting_user=acting_user)
        links = [ServerLabel(server=s, label=lbl) for s in servers for lbl in labels]
        ServerLabel.objects.bulk_create(links, ignore_conflicts=True)
        for server in servers:
            activity.record(
                "server.labels_added",
                "server",
                server.pk,
                server.name,
                {"labels": [lbl.name for lbl in labels]},
                acting_user,
            )
    return labels


def remove_label(server: Server, label: Label, *, acting_user: User = None) -> bool:
    with tenancy.atomic():
        deleted, _ = ServerLabel.objects.filter(server=server, label=label).delete()
        if deleted:
            activity.record(
                "server.label_removed",
                "server",
                server.pk,
                server.name,
                {"label": label.name},
                acting_user,
            )
    return bool(deleted)


# -- many servers at once -------------------------------------------------------------------------
def bulk(
    action: str,
    servers: list[Server],
    *,
    acting_user: User = None,
    group: ServerGroup | None = None,
    label: str = "",
) -> int:
    """One of BULK_ACTIONS on the servers ticked in a list, for the page and the API alike, in
    one transaction. Returns how many servers it changed (queued, for a deployment)."""
    from servers import deployment  # deployment imports this module

    try:
        rules.check_bulk(action, group=group, label=label)
    except ValidationError as exc:
        raise ActionError(exc.message_dict) from exc
    with tenancy.atomic():
        if action == "add_to_group":
            return add_to_group(group, servers, acting_user=acting_user)
        if action == "add_label":
            assign_labels(servers, [label], acting_user=acting_user)
            return len(servers)
        if action == "deploy":
            return len(deployment.request_deploy(servers, acting_user=acting_user))
        if action == "delete":
            return delete_servers(servers, acting_user=acting_user)
    raise ActionError({"action": [f"Unknown action {action!r}."]})

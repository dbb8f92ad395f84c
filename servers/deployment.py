"""Deploying the DbTools monitoring objects (story 2.9): queued from the web, done by a worker.

The T-SQL itself and the steps on the connection live in `servers.monitoring`; this module owns
the server's deployment state, the queue and the activity log.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone
from rest_framework import serializers

from core import activity
from dbtools import tenancy
from dbtools.tasks import enqueue
from engine import due
from servers import actions, monitoring, sqlclient
from servers.models import Server

log = structlog.get_logger(__name__)


class StatusSerializer(serializers.Serializer):
    server_id = serializers.IntegerField()
    monitoring_status = serializers.ChoiceField(choices=Server.Monitoring.choices)
    deployed_version = serializers.IntegerField(allow_null=True)
    available_version = serializers.IntegerField()
    upgrade_available = serializers.BooleanField()
    deployed_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_blank=True)


def status_of(server: Server) -> dict[str, Any]:
    return {
        "server_id": server.pk,
        "monitoring_status": server.monitoring_status,
        "deployed_version": server.deployed_version,
        "available_version": monitoring.SCRIPT_VERSION,
        "upgrade_available": server.upgrade_available,
        "deployed_at": server.deployed_at,
        "error": server.deployment_error,
    }


def request_deploy(servers: list[Server], user: AbstractBaseUser | None = None) -> list[Server]:
    """Mark the servers as deploying and queue one task each for the workers."""
    slug = tenancy.current().slug
    user_id = user.pk if user is not None and user.is_authenticated else None
    queued = []
    for server in servers:
        if server.monitoring_status == Server.Monitoring.DEPLOYING:
            continue
        server.monitoring_status = Server.Monitoring.DEPLOYING
        server.deployment_error = ""
        server.save(update_fields=["monitoring_status", "deployment_error", "updated_at"])
        activity.record("server.deploy_requested", "server", server.pk, server.name,
                        {"version": monitoring.SCRIPT_VERSION}, user)  # fmt: skip
        queued.append(server)
    for server in queued:
        enqueue("servers.deployment.deploy_task", slug, server.pk, user_id, kind="interactive",
                task_name=f"deploy {slug}/{server.pk}", group="deploy")  # fmt: skip
    return queued


def deploy_task(tenant_slug: str, server_id: int, user_id: int | None = None) -> dict[str, Any]:
    """Worker entry point: takes the tenant slug and sets the tenant itself."""
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    with tenancy.use_tenant_slug(tenant_slug):
        server = Server.objects.alive().get(pk=server_id)
        return deploy(server, user)


def deploy(server: Server, user: AbstractBaseUser | None = None) -> dict[str, Any]:
    """Deploy or upgrade the monitoring objects on one server, idempotently."""
    previous = server.deployed_version
    try:
        with sqlclient.connect(actions.target_for(server)) as conn:
            outcome = monitoring.deploy_objects(conn)
    except sqlclient.TargetError as exc:
        server.monitoring_status = Server.Monitoring.FAILED
        server.deployment_error = exc.message
        server.save(update_fields=["monitoring_status", "deployment_error", "updated_at"])
        activity.record("server.deploy_failed", "server", server.pk, server.name,
                        {"error_kind": exc.kind, "message": exc.message}, user)  # fmt: skip
        log.warning("deploy.failed", server=server.pk, kind=exc.kind)
        return status_of(server)
    server.monitoring_status = Server.Monitoring.MONITORED
    server.deployed_version = outcome.version
    server.deployed_at = timezone.now()
    server.deployment_error = ""
    server.save(update_fields=["monitoring_status", "deployed_version", "deployed_at",
                               "deployment_error", "updated_at"])  # fmt: skip
    due.mark_on_commit()  # collectable from now on
    action = "server.deployed" if not previous else "server.monitoring_upgraded"
    activity.record(action, "server", server.pk, server.name,
                    {"version": outcome.version, "from_version": outcome.previous_version},
                    user)  # fmt: skip
    return status_of(server)

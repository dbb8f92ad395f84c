"""Deploying the DbTools monitoring objects: queued from the web, done by a worker.

The T-SQL itself and the steps on the connection live in `servers.monitoring_objects`; this
module owns the server's deployment state, the queue and the activity log.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from core import activity
from dbtools import tenancy
from dbtools.tasks import enqueue
from engine import due
from servers import actions, monitoring_objects, sqlclient
from servers.models import Server

log = structlog.get_logger(__name__)


# Where a deployment is while the server shows "deploying" (empty otherwise).
PHASES = ["queued", "running", ""]


def status_of(server: Server) -> dict[str, Any]:
    deploying = server.monitoring_status == Server.Monitoring.DEPLOYING
    return {
        "server_id": server.pk,
        "monitoring_status": server.monitoring_status,
        "deployed_version": server.deployed_version,
        "available_version": monitoring_objects.SCRIPT_VERSION,
        "upgrade_available": server.upgrade_available,
        "deployed_at": server.deployed_at,
        # While deploying: waiting for a worker (queued) or being deployed (running), since when.
        "phase": ("running" if server.deploy_started_at else "queued") if deploying else "",
        "requested_at": server.deploy_requested_at,
        "started_at": server.deploy_started_at,
        "error": server.deployment_error,
    }


DEPLOY_REQUEST_FIELDS = [
    "monitoring_status",
    "deployment_error",
    "deploy_requested_at",
    "deploy_started_at",
    "updated_at",
]


def _running(server: Server) -> bool:
    """Deploying, and recently enough that a worker may still be at it: a task outliving the
    cluster's retry period was lost (worker killed), so its server may be deployed again."""
    if server.monitoring_status != Server.Monitoring.DEPLOYING:
        return False
    # Deploys run in the interactive cluster: its retry period is the one that applies.
    cluster = settings.Q_CLUSTER.get("ALT_CLUSTERS", {}).get("interactive", settings.Q_CLUSTER)
    limit = dt.timedelta(seconds=cluster.get("retry", settings.Q_CLUSTER["retry"]))
    return server.updated_at > timezone.now() - limit


def _enqueue_deploy(slug: str, server_id: int, user_id: int | None) -> None:
    enqueue(
        "servers.deployment.deploy_task",
        slug,
        server_id,
        user_id,
        kind="interactive",
        task_name=f"deploy {slug}/{server_id}",
        group="deploy",
    )


def request_deploy(
    servers: list[Server], *, acting_user: AbstractBaseUser | None = None
) -> list[Server]:
    """Mark the servers as deploying and queue one task each for the workers, once the marks
    are committed (a worker must find the server deploying)."""
    slug = tenancy.current().slug
    user_id = acting_user.pk if acting_user is not None and acting_user.is_authenticated else None
    queued = []
    with tenancy.atomic():
        for server in servers:
            if _running(server):
                continue
            server.monitoring_status = Server.Monitoring.DEPLOYING
            server.deployment_error = ""
            server.deploy_requested_at, server.deploy_started_at = timezone.now(), None
            server.save(update_fields=DEPLOY_REQUEST_FIELDS)
            details = {"version": monitoring_objects.SCRIPT_VERSION}
            activity.record(
                "server.deploy_requested", "server", server.pk, server.name, details, acting_user
            )
            queued.append(server)
            transaction.on_commit(
                partial(_enqueue_deploy, slug, server.pk, user_id), using=tenancy.current().alias
            )
    return queued


def deploy_task(tenant_slug: str, server_id: int, user_id: int | None = None) -> dict[str, Any]:
    """Worker entry point: takes the tenant slug and sets the tenant itself."""
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    with tenancy.use_tenant_slug(tenant_slug):
        # Claim the run: only the first worker to get here deploys; the page shows it running.
        claimed = (
            Server.objects.alive()
            .filter(
                pk=server_id,
                monitoring_status=Server.Monitoring.DEPLOYING,
                deploy_started_at__isnull=True,
            )
            .update(deploy_started_at=timezone.now())
        )
        server = Server.objects.alive().get(pk=server_id)
        if not claimed:
            return status_of(server)
        return deploy(server, acting_user=user)


def _failed(
    server: Server, kind: str, message: str, acting_user: AbstractBaseUser | None
) -> dict[str, Any]:
    server.monitoring_status = Server.Monitoring.FAILED
    server.deployment_error = message
    with tenancy.atomic():
        server.save(update_fields=["monitoring_status", "deployment_error", "updated_at"])
        activity.record(
            "server.deploy_failed",
            "server",
            server.pk,
            server.name,
            {"error_kind": kind, "message": message},
            acting_user,
        )
    return status_of(server)


def deploy(server: Server, *, acting_user: AbstractBaseUser | None = None) -> dict[str, Any]:
    """Deploy or upgrade the monitoring objects on one server, idempotently.

    Whatever happens, the server leaves "deploying": a deployment nobody finishes would block
    every later one (request_deploy skips servers that are deploying)."""
    previous = server.deployed_version
    try:
        with sqlclient.connect(actions.target_for(server)) as conn:
            outcome = monitoring_objects.deploy_objects(conn)
    except sqlclient.TargetError as exc:
        log.warning("deploy.failed", server=server.pk, kind=exc.kind)
        return _failed(server, exc.kind, exc.message, acting_user)
    except Exception as exc:
        log.exception("deploy.unexpected_error", server=server.pk)
        message = f"Deployment stopped by an unexpected error: {exc}"
        return _failed(server, "unexpected", message, acting_user)
    server.monitoring_status = Server.Monitoring.MONITORED
    server.deployed_version = outcome.version
    server.deployed_at = timezone.now()
    server.deployment_error = ""
    action = "server.deployed" if not previous else "server.monitoring_upgraded"
    with tenancy.atomic():
        server.save(
            update_fields=[
                "monitoring_status",
                "deployed_version",
                "deployed_at",
                "deployment_error",
                "updated_at",
            ]
        )
        activity.record(
            action,
            "server",
            server.pk,
            server.name,
            {"version": outcome.version, "from_version": outcome.previous_version},
            acting_user,
        )
        due.mark_on_commit()  # collectable from now on
    return status_of(server)

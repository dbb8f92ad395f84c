"""Compliance on the dashboard, the server page and the group page. Registered in
`PoliciesConfig.ready()` (see `dbtools.sections`); the figures are `policies.standing`'s."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from policies import standing
from policies.models import Policy
from policies.views import show_rows

SECTION_ROW_LIMIT = 20  # databases per deployment on a server or group page; the worst first


def dashboard(request: HttpRequest, obj: Any = None) -> dict[str, Any]:
    """The fleet figure (one row kept by the background work) and a link to what fails."""
    return {"summary": standing.fleet_card()}


def _sections(found: list[standing.DeploymentStanding], deployments: Any) -> list[dict[str, Any]]:
    """Every live deployment, judged ones with their standing (index maintenance and scripts
    have no evidence on the servers, so they are listed as not judged)."""
    by_pk = {s.deployment.pk: s for s in found}
    out = []
    for d in deployments:
        s = by_pk.get(d.pk)
        if s is not None:
            show_rows(s, s.rows, SECTION_ROW_LIMIT)
        out.append({"deployment": d, "standing": s})
    return out


def server_section(request: HttpRequest, server: Any) -> dict[str, Any]:
    groups = server.groups.values("pk")
    deployments = standing.live_deployments().filter(group_id__in=groups)
    deployments = deployments.order_by("policy__name", "group__name")
    return {"deployments": _sections(standing.for_server(server.pk), deployments)}


def group_section(request: HttpRequest, group: Any) -> dict[str, Any]:
    deployments = standing.live_deployments().filter(group=group).order_by("policy__name")
    return {"deployments": _sections(standing.for_group(group.pk), deployments), "group": group}


def bulk_deploy(request: HttpRequest, obj: Any = None) -> dict[str, Any]:
    """Active policies only: a draft cannot be deployed."""
    policies = Policy.objects.alive().filter(status=Policy.Status.ACTIVE).order_by("name")
    return {"policies": list(policies.only("pk", "name"))}

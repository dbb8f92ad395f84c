"""Where the fleet stands against its deployed policies: the rules of `compliance` applied to the
facts collected from the servers, per deployment, group, server, and for the whole fleet.

Only backup and integrity policies have measurable evidence on the servers; index maintenance
and scripts are not judged. Everything here reads, except `refresh_snapshot`, which the routine
background work calls to keep the fleet figure ready for the dashboard.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils import timezone

from policies import compliance
from policies.compliance import Status
from policies.models import (
    ComplianceSnapshot,
    DatabaseState,
    Exemption,
    FactsCollection,
    Policy,
    PolicyDeployment,
)
from servers.models import ServerGroupMember

JUDGED_TYPES = (Policy.Type.BACKUP, Policy.Type.INTEGRITY_CHECK)
# Worst first: the order a database's several verdicts are reduced in, and rows are sorted in.
SEVERITY = {
    Status.NON_COMPLIANT: 0,
    Status.WARNING: 1,
    Status.GRACE: 2,
    Status.EXEMPT: 3,
    Status.NOT_APPLICABLE: 4,
    Status.COMPLIANT: 5,
}


# The order a page reduces several deployments' figures in ("unknown": no facts yet).
OVERALL_ORDER = ["non_compliant", "warning", "unknown", "grace", "exempt", "not_applicable"]


def worst(statuses: Iterable[str]) -> str:
    order = {s: i for i, s in enumerate([*OVERALL_ORDER, "compliant"])}
    return min(statuses, key=lambda s: order.get(s, len(order)))


@dataclass
class Row:
    """One database under one deployed policy, with the evidence the verdict rests on."""

    verdict: compliance.Verdict
    facts: compliance.DatabaseFacts

    def to_dict(self) -> dict[str, Any]:
        f = self.facts
        return {
            "server_id": f.server_id,
            "server_name": f.server_name,
            "database": f.name,
            "compliance": self.verdict.status.value,
            "reasons": list(self.verdict.reasons),
            "recovery_model": f.recovery_model,
            "state": f.state,
            "last_full": f.last_full,
            "last_diff": f.last_diff,
            "last_log": f.last_log,
            "last_good_checkdb": f.last_good_checkdb,
        }


@dataclass
class DeploymentStanding:
    deployment: PolicyDeployment
    rows: list[Row] = field(default_factory=list)
    # Servers of the group whose facts were never read (or could not be), with the reason.
    unknown: list[dict[str, Any]] = field(default_factory=list)
    # When time alone would next change a verdict here (None: only new facts would).
    changes_at: dt.datetime | None = None

    @property
    def summary(self) -> dict[str, Any]:
        return compliance.summary([r.verdict for r in self.rows])

    @property
    def status(self) -> str:
        """The deployment's own figure: failing if any database fails, and so on."""
        if not self.rows:
            return "unknown"
        return min((r.verdict.status for r in self.rows), key=SEVERITY.__getitem__).value


@functools.lru_cache(maxsize=512)
def _limits(policy_type: str, config_json: str, hour: dt.datetime) -> compliance.Limits:
    # Schedule gaps barely move within an hour; computing them walks hundreds of cron slots.
    return compliance.limits_for(policy_type, json.loads(config_json))


def limits(policy_type: str, config: dict[str, Any], now: dt.datetime) -> compliance.Limits:
    hour = now.replace(minute=0, second=0, microsecond=0)
    return _limits(policy_type, json.dumps(config, sort_keys=True), hour)


def _facts(server_ids: Iterable[int]) -> dict[int, list[compliance.DatabaseFacts]]:
    out: dict[int, list[compliance.DatabaseFacts]] = {}
    rows = DatabaseState.objects.filter(server_id__in=list(server_ids)).values_list(
        "server_id",
        "server__name",
        "name",
        "recovery_model",
        "state",
        "created",
        "last_full",
        "last_diff",
        "last_log",
        "last_good_checkdb",
        "in_availability_group",
    )
    for row in rows:
        out.setdefault(row[0], []).append(compliance.DatabaseFacts(*row))
    return out


def _exemptions(policy_ids: Iterable[int], now: dt.datetime) -> dict[int, list]:
    out: dict[int, list[compliance.Exemption]] = {}
    for e in Exemption.objects.filter(
        policy_id__in=list(policy_ids), revoked_at__isnull=True, expires_at__gt=now
    ):
        out.setdefault(e.policy_id, []).append(
            compliance.Exemption(e.server_id, e.database, e.reason, e.expires_at, e.granted_by)
        )
    return out


def _members(group_ids: Iterable[int], server_id: int | None = None) -> dict[int, list[tuple]]:
    qs = ServerGroupMember.objects.filter(
        group_id__in=list(group_ids), server__deleted_at__isnull=True
    )
    if server_id is not None:
        qs = qs.filter(server_id=server_id)
    out: dict[int, list[tuple[int, str]]] = {}
    for gid, sid, name in qs.values_list("group_id", "server_id", "server__name"):
        out.setdefault(gid, []).append((sid, name))
    return out


def standings(
    deployments: Iterable[PolicyDeployment],
    now: dt.datetime | None = None,
    *,
    server_id: int | None = None,
) -> list[DeploymentStanding]:
    """Judge each deployment's databases (only `server_id`'s when given)."""
    now = now or timezone.now()
    deployments = [d for d in deployments if d.policy.policy_type in JUDGED_TYPES]
    if not deployments:
        return []
    members = _members({d.group_id for d in deployments}, server_id)
    server_ids = {sid for servers in members.values() for sid, _ in servers}
    facts = _facts(server_ids)
    problems = dict(
        FactsCollection.objects.filter(server_id__in=server_ids).values_list("server_id", "error")
    )
    exemptions = _exemptions({d.policy_id for d in deployments}, now)
    configs = {
        (v.policy_id, v.number): v.configuration
        for v in _versions({(d.policy_id, d.policy_version) for d in deployments})
    }
    out = []
    for d in deployments:
        standing = DeploymentStanding(d)
        group_facts: list[compliance.DatabaseFacts] = []
        for sid, name in members.get(d.group_id, []):
            if sid in facts:
                group_facts += facts[sid]
            else:
                reason = problems.get(sid) or "compliance facts not collected yet"
                standing.unknown.append({"server_id": sid, "server_name": name, "reason": reason})
        lim = limits(d.policy.policy_type, configs[(d.policy_id, d.policy_version)], now)
        by_key = {(f.server_id, f.name): f for f in group_facts}
        exempt = exemptions.get(d.policy_id, [])
        verdicts = compliance.evaluate(lim, group_facts, now, exemptions=exempt)
        standing.changes_at = compliance.next_change(lim, group_facts, now, exemptions=exempt)
        standing.rows = sorted(
            (Row(v, by_key[(v.server_id, v.database)]) for v in verdicts),
            key=lambda r: (SEVERITY[r.verdict.status], r.facts.server_name, r.facts.name),
        )
        out.append(standing)
    return out


def _versions(keys: set[tuple[int, int]]) -> list:
    from policies.models import PolicyVersion

    q = Q()
    for policy_id, number in keys:
        q |= Q(policy_id=policy_id, number=number)
    return list(PolicyVersion.objects.filter(q).only("policy_id", "number", "configuration"))


def live_deployments() -> Any:
    return PolicyDeployment.objects.filter(
        removed_at__isnull=True, policy__deleted_at__isnull=True
    ).select_related("policy", "group")


def for_policy(policy: Policy, now: dt.datetime | None = None) -> list[DeploymentStanding]:
    return standings(live_deployments().filter(policy=policy).order_by("group__name"), now)


def for_group(group_id: int, now: dt.datetime | None = None) -> list[DeploymentStanding]:
    return standings(live_deployments().filter(group_id=group_id).order_by("policy__name"), now)


def for_server(server_id: int, now: dt.datetime | None = None) -> list[DeploymentStanding]:
    groups = ServerGroupMember.objects.filter(server_id=server_id).values("group_id")
    qs = live_deployments().filter(group_id__in=groups).order_by("policy__name", "group__name")
    return standings(qs, now, server_id=server_id)


def fleet_summary(now: dt.datetime | None = None) -> dict[str, Any]:
    """The dashboard figure: the share of databases under a backup or integrity policy that meet
    every such policy. A database is counted once, at its worst verdict."""
    worst: dict[tuple[int, str], Status] = {}
    unknown: set[int] = set()
    changes: list[dt.datetime] = []
    for standing in standings(live_deployments(), now):
        if standing.changes_at:
            changes.append(standing.changes_at)
        for row in standing.rows:
            key = (row.facts.server_id, row.facts.name.lower())
            status = row.verdict.status
            if key not in worst or SEVERITY[status] < SEVERITY[worst[key]]:
                worst[key] = status
        unknown |= {u["server_id"] for u in standing.unknown}
    counts = {s.value: 0 for s in Status}
    for status in worst.values():
        counts[status.value] += 1
    within = counts["compliant"] + counts["warning"]
    judged = within + counts["non_compliant"]
    return {
        "percent": round(100 * within / judged, 1) if judged else None,
        "databases": judged,
        "within": within,
        "failing": counts["non_compliant"],
        "warning": counts["warning"],
        "counts": counts,
        "servers_without_facts": len(unknown),
        "changes_at": min(changes, default=None),
    }


def to_dict(standing: DeploymentStanding, only: str | None = None) -> dict[str, Any]:
    d = standing.deployment
    summary = standing.summary
    return {
        "policy_id": d.policy_id,
        "policy_name": d.policy.name,
        "policy_type": d.policy.policy_type,
        "group_id": d.group_id,
        "group_name": d.group.name,
        "policy_version": d.policy_version,
        "overall": standing.status,
        "percent": summary["percent"],
        "counts": summary["counts"],
        "databases": [
            r.to_dict() for r in standing.rows if only is None or r.verdict.status.value == only
        ],
        "servers_without_facts": standing.unknown,
    }


def refresh_snapshot(now: dt.datetime | None = None) -> ComplianceSnapshot:
    """Compute the fleet figure and keep it for the readers (routine background work only)."""
    import time

    started = time.perf_counter()
    summary = fleet_summary(now)
    changes_at = summary.pop("changes_at")
    took = int((time.perf_counter() - started) * 1000)
    snapshot, _ = ComplianceSnapshot.objects.update_or_create(
        pk=1,
        defaults={
            "computed_at": now or timezone.now(),
            "duration_ms": took,
            "summary": summary,
            "changes_at": changes_at,
        },
    )
    return snapshot


def fleet_card() -> dict[str, Any]:
    """The fleet figure for a dashboard card: the background snapshot when there is one (a
    single-row read), else computed now for a fleet not measured yet. Never writes."""
    snapshot = ComplianceSnapshot.objects.filter(pk=1).first()
    if snapshot is not None:
        return {**snapshot.summary, "computed_at": snapshot.computed_at}
    summary = fleet_summary()
    summary.pop("changes_at")
    return {**summary, "computed_at": timezone.now()}

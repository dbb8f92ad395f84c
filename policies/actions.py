"""Every change to policies goes through a function here, with its activity entry in the same
transaction. Deploying a policy creates the scheduled jobs that run it on the group; removing
the deployment removes them; deploying a newer version updates them in place."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError
from django.utils import timezone

from core import activity
from dbtools import tenancy
from dbtools.errors import ActionError
from policies import facts, schemas
from policies.models import Exemption, Policy, PolicyDeployment, PolicyVersion
from scheduler import actions as job_actions
from scheduler.models import Job
from servers.models import Server, ServerGroup

User = AbstractBaseUser | None

# How long maintenance may run when the policy sets no time limit of its own.
DEFAULT_TIMEOUT = 6 * 3600


def _check(policy_type: str, name: str, config: Any, exclude: int | None = None) -> dict:
    filled, errors = schemas.validate(policy_type, config)
    taken = Policy.objects.alive().filter(name__iexact=name).exclude(pk=exclude).exists()
    if taken:
        errors.setdefault("name", []).append("A policy with this name already exists.")
    if errors:
        raise ActionError(errors)
    return filled


def create_policy(data: dict[str, Any], *, acting_user: User) -> Policy:
    config = _check(data["policy_type"], data["name"], data.get("configuration", {}))
    try:
        with tenancy.atomic():
            policy = Policy.objects.create(
                name=data["name"],
                policy_type=data["policy_type"],
                description=data.get("description", ""),
                status=data.get("status", Policy.Status.DRAFT),
            )
            PolicyVersion.objects.create(
                policy=policy,
                number=1,
                configuration=config,
                created_by=activity.actor_name(acting_user),
            )
            activity.record(
                "policy.created",
                "policy",
                policy.pk,
                policy.name,
                {"type": policy.policy_type, "status": policy.status},
                acting_user,
            )
    except IntegrityError as exc:
        raise ActionError({"name": ["A policy with this name already exists."]}) from exc
    return policy


def update_policy(policy: Policy, data: dict[str, Any], *, acting_user: User) -> Policy:
    """A new configuration becomes a new version; name, description and status change in
    place. Deployed groups keep their version until the policy is deployed again."""
    name = data.get("name", policy.name)
    latest = policy.latest()
    config = _check(
        policy.policy_type, name, data.get("configuration", latest.configuration), exclude=policy.pk
    )
    changed = [
        k for k in ("name", "description", "status") if k in data and data[k] != getattr(policy, k)
    ]
    new_version = config != latest.configuration
    if not changed and not new_version:
        return policy
    try:
        with tenancy.atomic():
            for key in changed:
                setattr(policy, key, data[key])
            if new_version:
                policy.version += 1
                PolicyVersion.objects.create(
                    policy=policy,
                    number=policy.version,
                    configuration=config,
                    created_by=activity.actor_name(acting_user),
                )
            policy.save()
            activity.record(
                "policy.updated",
                "policy",
                policy.pk,
                policy.name,
                {"changed": changed, "version": policy.version},
                acting_user,
            )
    except IntegrityError as exc:
        raise ActionError({"name": ["A policy with this name already exists."]}) from exc
    return policy


def delete_policy(policy: Policy, *, acting_user: User) -> None:
    """Soft delete: versions and deployment history stay; its jobs go."""
    with tenancy.atomic():
        for deployment in policy.deployments.filter(removed_at__isnull=True):
            _remove(deployment, acting_user)
        policy.deleted_at = timezone.now()
        policy.save(update_fields=["deleted_at", "updated_at"])
        activity.record("policy.deleted", "policy", policy.pk, policy.name, {}, acting_user)


# -- deployment -------------------------------------------------------------------------------
def _job_specs(policy: Policy, version: PolicyVersion) -> list[dict[str, Any]]:
    """The jobs a version runs as: one per backup type for backups, one otherwise."""
    config = version.configuration
    base = {"policy_id": policy.pk, "policy_version": version.number}
    heavy = policy.policy_type != Policy.Type.CUSTOM_SCRIPT
    limit = config.get("time_limit_seconds")
    timeout = config.get("timeout_seconds") or (limit + 600 if limit else DEFAULT_TIMEOUT)
    if policy.policy_type != Policy.Type.BACKUP:
        return [
            {
                "task": policy.policy_type,
                "configuration": base,
                "heavy": heavy,
                "timeout_seconds": timeout,
                "schedule_type": "cron",
                "schedule_config": {"expression": config["schedule"]},
            }
        ]
    specs = []
    for task in ("full", "diff", "log"):
        sched = config.get(task)
        if not sched:
            continue
        if task == "log":
            when = {
                "schedule_type": "interval",
                "schedule_config": {"interval_seconds": sched["every_minutes"] * 60},
            }
        else:
            when = {"schedule_type": "cron", "schedule_config": {"expression": sched["schedule"]}}
        specs.append(
            {
                "task": task,
                "configuration": {**base, "task": task},
                "heavy": True,
                "timeout_seconds": timeout,
                **when,
            }
        )
    return specs


def _job_name(policy: Policy, task: str, group: ServerGroup) -> str:
    label = {"full": "full backup", "diff": "differential backup", "log": "log backup"}.get(
        task, ""
    )
    name = f"{policy.name}{' – ' + label if label else ''} on {group.name}"
    return name if len(name) <= 128 else name[:127] + "…"


def _sync_jobs(deployment: PolicyDeployment, version: PolicyVersion, user: User) -> None:
    policy, group = deployment.policy, deployment.group
    existing = {
        (j.configuration or {}).get("task", policy.policy_type): j
        for j in deployment.jobs.filter(deleted_at__isnull=True)
    }
    keep = []
    for spec in _job_specs(policy, version):
        data = {
            "name": _job_name(policy, spec["task"], group),
            "description": f"Runs policy {policy.name} v{version.number} on group {group.name}.",
            "job_type": Job.Type.POLICY_EXECUTION,
            "configuration": spec["configuration"],
            "schedule_type": spec["schedule_type"],
            "schedule_config": spec["schedule_config"],
            "target_type": Job.TargetType.GROUP,
            "group": group,
            "heavy": spec["heavy"],
            "timeout_seconds": spec["timeout_seconds"],
        }
        job = existing.pop(spec["task"], None)
        if job is None:
            job = job_actions.create_job(data, acting_user=user)
            deployment.jobs.add(job)
        else:
            job_actions.update_job(job, data, acting_user=user)
        keep.append(job.pk)
    for job in existing.values():  # a backup type the new version no longer schedules
        job_actions.delete_job(job, acting_user=user)


def deploy(
    policy: Policy, groups: list[ServerGroup], *, acting_user: User
) -> list[PolicyDeployment]:
    """Deploy the latest version to each group (updating groups on an older version)."""
    if policy.deleted_at:
        raise ActionError("This policy was deleted.")
    if not policy.is_active:
        raise ActionError({"status": ["Activate the policy before deploying it (it is a draft)."]})
    version = policy.latest()
    done = []
    with tenancy.atomic():
        for group in groups:
            deployment = policy.deployments.filter(group=group, removed_at__isnull=True).first()
            if deployment is None:
                deployment = PolicyDeployment.objects.create(
                    policy=policy,
                    group=group,
                    policy_version=version.number,
                    deployed_by=activity.actor_name(acting_user),
                )
            else:
                deployment.policy_version = version.number
                deployment.deployed_by = activity.actor_name(acting_user)
                deployment.save(update_fields=["policy_version", "deployed_by", "updated_at"])
            _sync_jobs(deployment, version, acting_user)
            activity.record(
                "policy.deployed",
                "policy",
                policy.pk,
                policy.name,
                {"group": group.name, "version": version.number},
                acting_user,
            )
            done.append(deployment)
        # Compliance of the new deployment needs facts, and the fleet figure changes: read and
        # recompute them at the next tick.
        facts.invalidate_snapshot()
    return done


def _remove(deployment: PolicyDeployment, user: User) -> None:
    for job in deployment.jobs.filter(deleted_at__isnull=True):
        job_actions.delete_job(job, acting_user=user)
    deployment.removed_at = timezone.now()
    deployment.save(update_fields=["removed_at", "updated_at"])
    activity.record(
        "policy.undeployed",
        "policy",
        deployment.policy_id,
        deployment.policy.name,
        {"group": deployment.group.name},
        user,
    )
    facts.invalidate_snapshot()


def undeploy(policy: Policy, group: ServerGroup, *, acting_user: User) -> None:
    deployment = policy.deployments.filter(group=group, removed_at__isnull=True).first()
    if deployment is None:
        raise ActionError(f"{policy.name} is not deployed to {group.name}.")
    with tenancy.atomic():
        _remove(deployment, acting_user)


# -- exemptions -------------------------------------------------------------------------------
# An exemption is a decision to revisit: it must end, and within a year.
MAX_EXEMPTION = dt.timedelta(days=366)


def grant_exemption(policy: Policy, data: dict[str, Any], *, acting_user: User) -> Exemption:
    """Set a database (or, with no database, a whole server) aside from a policy until a date."""
    server: Server = data["server"]
    errors: dict[str, list[str]] = {}
    now = timezone.now()
    expires_at = data["expires_at"]
    if expires_at <= now:
        errors["expires_at"] = ["The expiry must be in the future."]
    elif expires_at > now + MAX_EXEMPTION:
        errors["expires_at"] = ["An exemption lasts a year at most."]
    if not (data.get("reason") or "").strip():
        errors["reason"] = ["Say why this database is exempt."]
    if server.deleted_at is not None:
        errors["server_id"] = ["This server was deleted."]
    if policy.deleted_at:
        raise ActionError("This policy was deleted.")
    if errors:
        raise ActionError(errors)
    with tenancy.atomic():
        exemption = Exemption.objects.create(
            policy=policy,
            server=server,
            database=(data.get("database") or "").strip(),
            reason=data["reason"].strip(),
            expires_at=expires_at,
            granted_by=activity.actor_name(acting_user),
        )
        facts.invalidate_snapshot()
        activity.record(
            "policy.exemption_granted",
            "policy",
            policy.pk,
            policy.name,
            {
                "server": server.name,
                "database": exemption.database or "*",
                "until": expires_at.isoformat(),
                "reason": exemption.reason,
            },
            acting_user,
        )
    return exemption


def revoke_exemption(exemption: Exemption, *, acting_user: User) -> None:
    if exemption.revoked_at is not None:
        raise ActionError("This exemption was already revoked.")
    with tenancy.atomic():
        exemption.revoked_at = timezone.now()
        exemption.revoked_by = activity.actor_name(acting_user)
        exemption.save(update_fields=["revoked_at", "revoked_by"])
        facts.invalidate_snapshot()
        activity.record(
            "policy.exemption_revoked",
            "policy",
            exemption.policy_id,
            exemption.policy.name,
            {"server": exemption.server.name, "database": exemption.database or "*"},
            acting_user,
        )

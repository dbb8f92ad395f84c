"""The one helper every action calls to write the tenant's activity log."""

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from core.models import ActivityLog


def _is_user(acting_user: AbstractBaseUser | AnonymousUser | None) -> bool:
    return acting_user is not None and getattr(acting_user, "is_authenticated", False)


def actor_name(acting_user: AbstractBaseUser | AnonymousUser | None) -> str:
    """Who did it, as the log and the "created by" columns show it: the username, or "system"
    for work nobody signed in asked for (schedules, tasks)."""
    return acting_user.get_username() if _is_user(acting_user) else "system"


def record(
    action: str,
    entity_type: str,
    entity_id: object = "",
    entity_name: str = "",
    details: dict[str, Any] | None = None,
    acting_user: AbstractBaseUser | AnonymousUser | None = None,
) -> ActivityLog:
    """Record `action` (e.g. "server.created") on an entity, in the current tenant's database."""
    is_user = _is_user(acting_user)
    return ActivityLog.objects.create(
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        entity_name=entity_name[:255],
        details=details or {},
        user_id=acting_user.pk if is_user else None,
        user_name=actor_name(acting_user),
    )

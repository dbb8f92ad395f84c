"""The one helper every action calls to write the tenant's activity log."""

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from core.models import ActivityLog


def record(
    action: str,
    entity_type: str,
    entity_id: object = "",
    entity_name: str = "",
    details: dict[str, Any] | None = None,
    acting_user: AbstractBaseUser | AnonymousUser | None = None,
) -> ActivityLog:
    """Record `action` (e.g. "server.created") on an entity, in the current tenant's database."""
    is_user = acting_user is not None and getattr(acting_user, "is_authenticated", False)
    return ActivityLog.objects.create(
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        entity_name=entity_name[:255],
        details=details or {},
        user_id=acting_user.pk if is_user else None,
        user_name=acting_user.get_username() if is_user else "system",
    )

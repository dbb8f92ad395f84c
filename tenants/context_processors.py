from typing import Any

from django.http import HttpRequest

from dbtools.roles import Role, has_role
from tenants import access


def shell(request: HttpRequest) -> dict[str, Any]:
    """What the layout needs: the tenant selector and what the user's role lets them do."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    role = getattr(request, "tenant_role", None)
    return {
        "current_tenant": getattr(request, "tenant", None),
        "tenant_role": role,
        "tenant_choices": access.tenants_for(user).only("slug", "name", "status"),
        "can_operate": has_role(role, Role.OPERATOR),
        "can_admin": has_role(role, Role.ADMIN),
    }

from typing import Any

from django.http import HttpRequest

from tenants import access
from tenants.models import Role


def shell(request: HttpRequest) -> dict[str, Any]:
    """What the layout needs: the tenant selector and what the user's role lets them do."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    role = getattr(request, "tenant_role", None)
    tenant = getattr(request, "tenant", None)
    lag = None
    if tenant is not None and (user.is_superuser or access.has_role(role, Role.ADMIN)):
        from monitoring.health import collection_lag

        lag = collection_lag  # called by the template only where the banner is drawn
    return {
        "collection_lag": lag,
        "current_tenant": getattr(request, "tenant", None),
        "tenant_role": role,
        "tenant_choices": access.tenants_for(user).only("slug", "name", "status"),
        "can_operate": access.has_role(role, Role.OPERATOR),
        "can_admin": access.has_role(role, Role.ADMIN),
    }

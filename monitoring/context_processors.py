from typing import Any

from django.http import HttpRequest

from dbtools.roles import Role, has_role


def collection_banner(request: HttpRequest) -> dict[str, Any]:
    """The "collection is behind" banner, for the people who can act on it (admins)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(request, "tenant", None) is None:
        return {}
    if not (user.is_superuser or has_role(getattr(request, "tenant_role", None), Role.ADMIN)):
        return {}
    from monitoring.health import collection_lag

    # Called by the template only where the banner is drawn: most pages never pay for it.
    return {"collection_lag": collection_lag}

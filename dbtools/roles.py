"""The roles a member can hold in a tenant, and how they rank.

They are kernel vocabulary: pages, the API and every app ask "does this role reach that one?"
without importing the tenants app (which stores who holds which role).
"""

from __future__ import annotations

from django.db import models
from django.http import HttpRequest


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    OPERATOR = "operator", "Operator"
    VIEWER = "viewer", "Viewer"


ROLE_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


def has_role(role: Role | str | None, needed: Role | str) -> bool:
    """Whether `role` (None: no role at all) is at least `needed`."""
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(needed)]


def request_has_role(request: HttpRequest, needed: Role | str) -> bool:
    """Whether the user of a page request holds at least `needed` in the request's tenant
    (the tenant middleware sets `tenant_role`; a request it did not reach has no role)."""
    return has_role(getattr(request, "tenant_role", None), needed)

"""API permissions: tenant from X-Tenant-Slug, then the member's role decides.

Viewers read; operators also write; admins also manage users and settings. A view may raise
the bar per action with `required_roles = {"destroy": Role.ADMIN}`.
"""

from typing import Any

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from dbtools.roles import Role, has_role
from dbtools.tenancy import TENANT_HEADER
from tenants import access, freeze
from tenants.middleware import activate


class TenantRolePermission(BasePermission):
    # Tells the schema generator (which knows no app) that this endpoint needs TENANT_HEADER.
    needs_tenant_header = True

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        try:
            tenant, role = access.find_tenant_for(request.user, request.headers.get(TENANT_HEADER))
        except access.TenantHeaderMissing as exc:
            raise exceptions.ParseError(exc.message) from exc
        except access.TenantNotFound as exc:
            raise exceptions.NotFound(exc.message) from exc
        except access.TenantAccessError as exc:
            raise exceptions.PermissionDenied(exc.message) from exc
        activate(request._request, tenant, role)
        freeze.check_api_write(tenant, request.method)
        needed = getattr(view, "required_roles", {}).get(getattr(view, "action", None))
        if needed is None:
            needed = Role.VIEWER if request.method in SAFE_METHODS else Role.OPERATOR
        if not has_role(role, needed):
            raise exceptions.PermissionDenied(
                f"Your role in this tenant ({role}) cannot do this; it needs {needed}."
            )
        return True


class IsSuperuser(BasePermission):
    message = "Only platform administrators can manage tenants."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_superuser)

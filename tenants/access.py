"""Who may work in which tenant, with which role. Used by pages and the API alike."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from dbtools.roles import Role
from tenants.models import Membership, Tenant


class TenantAccessError(Exception):
    status = 403

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TenantHeaderMissing(TenantAccessError):
    status = 400


class TenantNotFound(TenantAccessError):
    status = 404


class TenantSuspended(TenantAccessError):
    status = 403


class NotAMember(TenantAccessError):
    status = 403


# One answer for "no such tenant", "not yours" and "suspended, not yours": an outsider must not
# learn which tenants exist (or which are suspended) by probing slugs. Only members hear that
# their tenant is suspended.
NOT_FOUND_MESSAGE = "No such tenant, or you are not a member of it."
OUT_OF_SERVICE_MESSAGE = (
    "Tenant {name!r} is out of service: its upgrade to this DbTools version failed and a "
    "platform administrator is on it. Its data is safe."
)


def find_tenant_for(
    user: AbstractBaseUser | AnonymousUser, slug: str | None
) -> tuple[Tenant, Role]:
    """The tenant `slug` names and the user's role in it, or the error the user may see."""
    if not slug:
        raise TenantHeaderMissing("The X-Tenant-Slug header is required for this endpoint.")
    tenant = Tenant.objects.exclude(status=Tenant.Status.DELETED).filter(slug=slug).first()
    role = role_of(user, tenant) if tenant is not None else None
    if tenant is None or role is None:
        raise TenantNotFound(NOT_FOUND_MESSAGE)
    if tenant.status == Tenant.Status.SUSPENDED:
        raise TenantSuspended(f"Tenant {slug!r} is suspended.")
    if tenant.status == Tenant.Status.NEEDS_ATTENTION:
        raise TenantSuspended(OUT_OF_SERVICE_MESSAGE.format(name=slug))
    return tenant, role


def role_of(user: AbstractBaseUser | AnonymousUser, tenant: Tenant) -> Role | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        # Platform operators support every tenant.
        return Role.ADMIN
    role = (
        Membership.objects.filter(user=user, tenant=tenant).values_list("role", flat=True).first()
    )
    return Role(role) if role else None


def check_member(user: AbstractBaseUser | AnonymousUser, tenant: Tenant) -> Role:
    role = role_of(user, tenant)
    if role is None:
        raise NotAMember(f"You are not a member of tenant {tenant.slug!r}.")
    return role


def tenants_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Tenant]:
    """Tenants the user can select: never deleted ones; suspended ones stay visible (greyed)."""
    qs = Tenant.objects.exclude(status=Tenant.Status.DELETED)
    if not user.is_authenticated:
        return qs.none()
    if user.is_superuser:
        return qs
    return qs.filter(memberships__user=user)

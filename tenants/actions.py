"""Membership changes: each one is a function that also writes the tenant's activity log."""

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from core import activity
from tenants.models import Membership, Role, Tenant

User = get_user_model()


class MembershipError(Exception):
    pass


def _admins_left(tenant: Tenant, excluding: Membership) -> int:
    return (
        Membership.objects.filter(tenant=tenant, role=Role.ADMIN).exclude(pk=excluding.pk).count()
    )


def add_member(
    tenant: Tenant,
    username: str,
    role: Role | str,
    *,
    email: str = "",
    password: str | None = None,
    by: AbstractBaseUser | None = None,
) -> Membership:
    """Add an existing user, or create one when a password is given and the name is free."""
    with transaction.atomic():
        user = User.objects.filter(username=username).first()
        created = False
        if user is None:
            if not password:
                raise MembershipError("No such user; give a password to create one.")
            user = User.objects.create_user(username=username, email=email, password=password)
            created = True
        if Membership.objects.filter(user=user, tenant=tenant).exists():
            raise MembershipError(f"{username} is already a member of this tenant.")
        member = Membership.objects.create(user=user, tenant=tenant, role=role)
    activity.record(
        "member.added", "user", user.pk, username, {"role": str(role), "new_user": created}, by
    )
    return member


def change_role(member: Membership, role: Role | str, by: AbstractBaseUser | None = None) -> None:
    if member.role == role:
        return
    if member.role == Role.ADMIN and _admins_left(member.tenant, member) == 0:
        raise MembershipError("A tenant needs at least one admin.")
    previous, member.role = member.role, role
    member.save(update_fields=["role"])
    activity.record(
        "member.role_changed", "user", member.user_id, member.user.username,
        {"from": previous, "to": str(role)}, by,
    )  # fmt: skip


def remove_member(member: Membership, by: AbstractBaseUser | None = None) -> None:
    if member.role == Role.ADMIN and _admins_left(member.tenant, member) == 0:
        raise MembershipError("A tenant needs at least one admin.")
    member.delete()
    activity.record(
        "member.removed", "user", member.user_id, member.user.username, {"role": member.role}, by
    )

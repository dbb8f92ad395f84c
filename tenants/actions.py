"""Membership changes: each one is a function that also writes the tenant's activity log.

Memberships live in the system database and the log in the tenant's: each change holds a
transaction on both, the tenant's inside, so a change is never left without its entry."""

import contextlib
from collections.abc import Iterator

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from core import activity
from dbtools import tenancy
from tenants.models import Membership, Role, Tenant

User = get_user_model()


class MembershipError(Exception):
    pass


@contextlib.contextmanager
def _both_databases() -> Iterator[None]:
    with transaction.atomic(), tenancy.atomic():
        yield


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
    acting_user: AbstractBaseUser | None = None,
) -> Membership:
    """Add an existing user, or create one when a password is given and the name is free."""
    with _both_databases():
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
        details = {"role": str(role), "new_user": created}
        activity.record("member.added", "user", user.pk, username, details, acting_user)
    return member


def change_role(
    member: Membership, role: Role | str, *, acting_user: AbstractBaseUser | None = None
) -> None:
    if member.role == role:
        return
    if member.role == Role.ADMIN and _admins_left(member.tenant, member) == 0:
        raise MembershipError("A tenant needs at least one admin.")
    previous, member.role = member.role, role
    with _both_databases():
        member.save(update_fields=["role"])
        details = {"from": previous, "to": str(role)}
        activity.record(
            "member.role_changed",
            "user",
            member.user_id,
            member.user.username,
            details,
            acting_user,
        )


def remove_member(member: Membership, *, acting_user: AbstractBaseUser | None = None) -> None:
    if member.role == Role.ADMIN and _admins_left(member.tenant, member) == 0:
        raise MembershipError("A tenant needs at least one admin.")
    with _both_databases():
        member.delete()
        details = {"role": member.role}
        activity.record(
            "member.removed", "user", member.user_id, member.user.username, details, acting_user
        )

"""Creating, migrating and retiring tenant databases.

Each tenant gets a PostgreSQL role and a database owned by it, with CONNECT revoked from PUBLIC:
the role of tenant A has no way into tenant B's database. The system role is a member of each
tenant role without inheriting its rights (NOINHERIT), so it can create and drop those databases
(after SET ROLE) but cannot connect to them either.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
import structlog
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connections, transaction
from psycopg import sql

from core import activity, settings_store
from dbtools import crypto, tenancy
from engine import due
from tenants.models import SLUG_VALIDATORS, Tenant

log = structlog.get_logger(__name__)


class SlugTakenError(Exception):
    pass


class ProvisioningError(Exception):
    def __init__(self, step: str, cause: BaseException) -> None:
        self.step = step
        self.cause = cause
        super().__init__(f"Provisioning failed while {step}: {cause}")


# What `create_tenant` raises when it creates nothing.
CREATE_ERRORS = (SlugTakenError, ValidationError, ProvisioningError)
# The key of errors about the tenant as a whole (Django's NON_FIELD_ERRORS).
WHOLE_TENANT = "__all__"


def why_not_created(exc: Exception) -> tuple[dict[str, list[str]], int]:
    """One of CREATE_ERRORS as errors by field, and the HTTP status that fits it: a taken slug
    is a conflict (409), bad input a 400, a failed provisioning our fault (500). The admin form
    and the API both answer from this."""
    if isinstance(exc, SlugTakenError):
        return {"slug": [str(exc)]}, 409
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return exc.message_dict, 400
        return {WHOLE_TENANT: list(exc.messages)}, 400
    return {WHOLE_TENANT: [str(exc)]}, 500


def admin_connection() -> psycopg.Connection:
    """A fresh autocommit connection as the system role: CREATE DATABASE cannot run in a
    transaction, and this must not join whatever transaction the caller's Django connection has."""
    cfg = connections.settings["default"]
    return psycopg.connect(
        dbname=cfg["NAME"],
        user=cfg["USER"],
        password=cfg.get("PASSWORD") or None,
        host=cfg.get("HOST") or None,
        port=cfg.get("PORT") or None,
        autocommit=True,
        connect_timeout=10,
    )


def validate_new_tenant(slug: str, name: str) -> None:
    errors: dict[str, list[str]] = {}
    try:
        for validate in SLUG_VALIDATORS:
            validate(slug)
    except ValidationError as exc:
        errors["slug"] = list(exc.messages)
    if not name or not name.strip():
        errors["name"] = ["Name is required."]
    elif len(name) > 200:
        errors["name"] = ["Ensure this field has no more than 200 characters."]
    if errors:
        raise ValidationError(errors)
    if Tenant.objects.filter(slug=slug).exists():
        raise SlugTakenError(f"A tenant with slug {slug!r} already exists.")


@dataclass
class _Undo:
    steps: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def push(self, label: str, fn: Callable[[], None]) -> None:
        self.steps.append((label, fn))

    def run(self) -> None:
        for label, fn in reversed(self.steps):
            try:
                fn()
            except Exception:
                log.exception("tenant.rollback_step_failed", step=label)


def _grant_to_system_role(cur: psycopg.Cursor, role: str) -> None:
    # PostgreSQL 16 split membership into INHERIT and SET options; before it NOINHERIT on the
    # system role gives the same effect.
    if cur.connection.info.server_version >= 160000:
        stmt = "GRANT {} TO CURRENT_USER WITH INHERIT FALSE, SET TRUE"
    else:
        stmt = "GRANT {} TO CURRENT_USER"
    cur.execute(sql.SQL(stmt).format(sql.Identifier(role)))


def _drop_database(role: str, db_name: str) -> None:
    with admin_connection() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        cur.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_name))
        )


def _drop_role(role: str) -> None:
    with admin_connection() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def create_tenant(slug: str, name: str, *, acting_user: AbstractBaseUser | None = None) -> Tenant:
    """Provision a tenant, all or nothing. Raises ValidationError, SlugTakenError or
    ProvisioningError; after a failure no database, role or tenant row is left behind."""
    validate_new_tenant(slug, name)
    started = time.monotonic()
    db_name = tenancy.database_name(slug)
    password = secrets.token_urlsafe(32)
    default = connections.settings["default"]
    tenant = Tenant(
        slug=slug,
        name=name.strip(),
        db_name=db_name,
        db_user=db_name,
        db_password_encrypted=crypto.encrypt(password),
        db_host=default.get("HOST") or "",
        db_port=int(default.get("PORT") or 5432),
    )
    undo = _Undo()
    step = "validating"
    try:
        step = "creating the database role"
        with admin_connection() as conn, conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                    "PASSWORD {}"
                ).format(sql.Identifier(db_name), sql.Literal(password))
            )
            undo.push("drop role", lambda: _drop_role(db_name))
            _grant_to_system_role(cur, db_name)
            step = "creating the database"
            cur.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8'").format(
                    sql.Identifier(db_name), sql.Identifier(db_name)
                )
            )
            undo.push("drop database", lambda: _drop_database(db_name, db_name))
            cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(db_name)))
            cur.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(db_name))
            )
            cur.execute("RESET ROLE")
        undo.push("forget alias", lambda: tenancy.unregister(slug))
        with tenancy.use_tenant(tenant):
            step = "migrating the tenant database"
            migrate_database(tenant)
            step = "seeding default settings"
            settings_store.seed_defaults()
            step = "saving the tenant"
            tenant.save()
            activity.record(
                "tenant.created", "tenant", tenant.pk, tenant.name, {"slug": slug}, acting_user
            )
    except Exception as exc:
        undo.run()
        if tenant.pk:
            Tenant.objects.filter(pk=tenant.pk).delete()
        log.error("tenant.provision_failed", slug=slug, step=step, error=str(exc))
        raise ProvisioningError(step, exc) from exc
    log.info("tenant.provisioned", slug=slug, seconds=round(time.monotonic() - started, 3))
    return tenant


def migrate_database(tenant: Tenant) -> None:
    """Apply pending migrations of the tenant apps to this tenant's database."""
    with tenancy.use_tenant(tenant) as ctx:
        call_command("migrate", database=ctx.alias, interactive=False, verbosity=0)


def migrate_tenant(tenant: Tenant) -> None:
    migrate_database(tenant)
    with tenancy.use_tenant(tenant):
        settings_store.seed_defaults()


def _set_status(
    tenant: Tenant, status: str, action: str, acting_user: AbstractBaseUser | None
) -> Tenant:
    previous = tenant.status
    tenant.status = status
    details = {"from": previous, "to": status}
    # The status (system database) and its log entry (tenant database) commit together.
    with transaction.atomic(), tenancy.use_tenant(tenant), tenancy.atomic():
        tenant.save(update_fields=["status", "updated_at"])
        activity.record(action, "tenant", tenant.pk, tenant.name, details, acting_user)
    log.info(action, slug=tenant.slug, previous=previous)
    return tenant


class TenantStateError(Exception):
    pass


def suspend_tenant(tenant: Tenant, *, acting_user: AbstractBaseUser | None = None) -> Tenant:
    if tenant.status == Tenant.Status.DELETED:
        raise TenantStateError("A deleted tenant cannot be suspended.")
    return _set_status(tenant, Tenant.Status.SUSPENDED, "tenant.suspended", acting_user)


def activate_tenant(tenant: Tenant, *, acting_user: AbstractBaseUser | None = None) -> Tenant:
    if tenant.status == Tenant.Status.DELETED:
        raise TenantStateError("A deleted tenant cannot be activated.")
    tenant = _set_status(tenant, Tenant.Status.ACTIVE, "tenant.activated", acting_user)
    # Collection skipped the tenant while suspended; its servers are overdue now.
    due.mark(tenant.pk)
    return tenant


def delete_tenant(tenant: Tenant, *, acting_user: AbstractBaseUser | None = None) -> Tenant:
    """Soft delete: the row and the database stay (for restore or export), the tenant's role can
    no longer log in and the tenant disappears from every list but the super-admin's."""
    if tenant.status == Tenant.Status.DELETED:
        return tenant
    _set_status(tenant, Tenant.Status.DELETED, "tenant.deleted", acting_user)
    tenancy.forget_connection(tenancy.alias_for(tenant.slug))
    with admin_connection() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(tenant.db_user)))
    return tenant


def destroy_tenant_database(slug: str) -> None:
    """Drop a tenant's database and role for good (tests and `delete_tenant --purge`)."""
    tenancy.unregister(slug)
    name = tenancy.database_name(slug)
    _drop_database(name, name)
    _drop_role(name)

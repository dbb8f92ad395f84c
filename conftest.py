"""Shared fixtures: a real PostgreSQL, two fixed tenants provisioned for the whole session.

Tenant aliases must exist before test transactions start, so `alpha` and `beta` are provisioned
once, right after the test system database is created; tests that create more tenants clean up
after themselves. Tests that need tenant data use `databases="__all__"`.
"""

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db.backends.base.base import BaseDatabaseWrapper

# Playwright's sync API runs an event loop in the test thread; our ORM calls there are still
# synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

FIXED_TENANTS = {"alpha": "Alpha Corp", "beta": "Beta Ltd"}
_fixed_rows: dict[str, dict[str, Any]] = {}

pytest_plugins = [p for p in ["sqlsim.pytest_plugin"] if os.path.exists("sqlsim/pytest_plugin.py")]


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _drop_leftover_test_tenants() -> None:
    """Drop tenant databases and roles left by test runs that died (their pid is gone)."""
    import re

    from psycopg import sql

    from tenants.provisioning import admin_connection

    pattern = re.compile(r"^test(\d+)_tenant_")
    with admin_connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 'test%\\_tenant\\_%'")
        for (name,) in cur.fetchall():
            m = pattern.match(name)
            if m and not _alive(m[1]):
                cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(name)))
                cur.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
                cur.execute("RESET ROLE")
        cur.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'test%\\_tenant\\_%'")
        for (name,) in cur.fetchall():
            m = pattern.match(name)
            if m and not _alive(m[1]):
                cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
        cur.execute("SELECT datname FROM pg_database WHERE datname ~ '^test[0-9]+_dbtools$'")
        for (name,) in cur.fetchall():
            if not _alive(name[4:].split("_")[0]):
                cur.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    from tenants import provisioning

    with django_db_blocker.unblock():
        _drop_leftover_test_tenants()
        for slug, name in FIXED_TENANTS.items():
            tenant = provisioning.create_tenant(slug, name)
            _fixed_rows[slug] = {
                f.attname: getattr(tenant, f.attname) for f in tenant._meta.concrete_fields
            }
    yield
    with django_db_blocker.unblock():
        for slug in FIXED_TENANTS:
            provisioning.destroy_tenant_database(slug)


def _fixed_tenant(slug: str) -> Any:
    """The tenant row, recreated if a transactional test flushed the system database."""
    from tenants.models import Tenant

    row = dict(_fixed_rows[slug])
    row.pop("id")
    tenant, _ = Tenant.objects.update_or_create(slug=slug, defaults=row)
    return tenant


@pytest.fixture
def tenant_alpha(django_db_setup: None, django_db_blocker: Any) -> Any:
    with django_db_blocker.unblock():
        return _fixed_tenant("alpha")


@pytest.fixture
def tenant_beta(django_db_setup: None, django_db_blocker: Any) -> Any:
    with django_db_blocker.unblock():
        return _fixed_tenant("beta")


@pytest.fixture
def make_user(db: None) -> Any:
    """make_user("ann", tenant, "viewer") -> a user with that role in that tenant."""
    from tenants.models import Membership

    def make(username: str, tenant: Any = None, role: str = "viewer", **extra: Any) -> Any:
        user = get_user_model().objects.create_user(username, password="pw-" + username, **extra)
        if tenant is not None:
            Membership.objects.create(user=user, tenant=tenant, role=role)
        return user

    return make


@pytest.fixture
def api() -> Any:
    """api(user, tenant) -> an APIClient logged in as user, sending X-Tenant-Slug."""

    from rest_framework.test import APIClient

    def make(user: Any = None, tenant: Any = None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        if tenant is not None:
            client.credentials(HTTP_X_TENANT_SLUG=getattr(tenant, "slug", tenant))
        return client

    return make


@pytest.fixture
def committing(django_capture_on_commit_callbacks: Any) -> Any:
    """committing(client) -> the same client, whose every request ends by running the on-commit
    callbacks it registered on the current tenant's database, as the commit of a real request
    would. (Tests run inside one transaction that never commits, so work that actions queue
    on commit, such as a deployment, would otherwise never start.)"""
    from dbtools import tenancy

    def wrap(client: Any) -> Any:
        for name in ("get", "post", "put", "patch", "delete"):
            method = getattr(client, name)

            def call(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
                alias = tenancy.current().alias
                with django_capture_on_commit_callbacks(using=alias, execute=True):
                    return _method(*args, **kwargs)

            setattr(client, name, call)
        return client

    return wrap


@pytest.fixture
def in_tenant() -> Any:
    """with in_tenant(tenant): ... run ORM code against that tenant's database."""
    from dbtools.tenancy import use_tenant

    return use_tenant


@pytest.fixture
def scratch_tenants(monkeypatch: pytest.MonkeyPatch, django_db_blocker: Any) -> Iterator[Any]:
    """For tests that provision tenants: allows connections to the new tenant databases and
    destroys them afterwards. `scratch_tenants("gamma")` marks a slug for clean-up."""
    from dbtools import tenancy
    from tenants import provisioning

    # Django's test cases refuse connections to aliases not known when the test started, which
    # tenants created inside the test are not: put the unpatched method back for this test.
    real = django_db_blocker._real_ensure_connection
    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", real)
    slugs: list[str] = []
    yield slugs.append
    with provisioning.admin_connection() as conn:
        for slug in slugs:
            name = tenancy.database_name(slug)
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone():
                provisioning.destroy_tenant_database(slug)
            tenancy.unregister(slug)


# --- browser tests ------------------------------------------------------------------------------
CHROMIUM = os.environ.get("DBTOOLS_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    # Two cores shared with PostgreSQL, sqlsim and the live server: be patient, not flaky.
    expect.set_options(timeout=10_000)

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def login(page: Any) -> Any:
    def do(username: str, password: str) -> Any:
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()
        return page

    return do


@pytest.fixture
def use_alpha(tenant_alpha: Any) -> Iterator[Any]:
    """Run the test body inside tenant alpha, as a request or a task would."""
    from dbtools.tenancy import use_tenant

    with use_tenant(tenant_alpha):
        yield tenant_alpha

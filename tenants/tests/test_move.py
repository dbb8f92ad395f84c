"""Moving a tenant between PostgreSQL servers, against clusters the tests start themselves.

The shared cluster runs with wal_level=replica, so logical replication is tested between two
throw-away clusters (the source with wal_level=logical); the dump fallback is tested from the
shared cluster, where provisioning puts tenants. The move runs as `manage.py move_tenant` in a
child process, so a test can kill it where it wants (DBTOOLS_MOVE_HOLD makes it wait there).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections

from core import activity
from core.models import ActivityLog
from dbtools import crypto, tenancy
from tenants import provisioning
from tenants.models import Tenant, TenantMove
from tenants.pgadmin import Endpoint, create_tenant_database
from tenants.tests import pgcluster

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.skipif(not pgcluster.available(), reason="PostgreSQL server binaries not found"),
]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def source_cluster() -> Iterator[pgcluster.Cluster]:
    cluster = pgcluster.start(wal_level="logical")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def target_cluster() -> Iterator[pgcluster.Cluster]:
    cluster = pgcluster.start()
    yield cluster
    cluster.stop()


def provision_on(cluster: pgcluster.Cluster, slug: str) -> Tenant:
    """A tenant whose database lives on `cluster`, migrated and seeded like a provisioned one,
    with a table the test's writer fills during the move."""
    name = tenancy.database_name(slug)
    password = secrets.token_urlsafe(16)
    create_tenant_database(Endpoint.from_url(cluster.admin_url), name, password, name)
    tenant = Tenant.objects.create(
        slug=slug,
        name=slug.title(),
        db_name=name,
        db_user=name,
        db_password_encrypted=crypto.encrypt(password),
        db_host="127.0.0.1",
        db_port=cluster.port,
    )
    provisioning.migrate_tenant(tenant)
    with Endpoint.of_tenant(tenant).connect() as conn:
        conn.execute("CREATE TABLE writes (id bigserial PRIMARY KEY, n int NOT NULL)")
    return tenant


def provision_main(slug: str) -> Tenant:
    tenant = provisioning.create_tenant(slug, slug.title())
    with Endpoint.of_tenant(tenant).connect() as conn:
        conn.execute("CREATE TABLE writes (id bigserial PRIMARY KEY, n int NOT NULL)")
    return tenant


def seed(tenant: Tenant, n: int = 50) -> None:
    with tenancy.use_tenant(tenant):
        for i in range(n):
            activity.record("test.seeded", "thing", i, f"thing {i}", {"i": i, "note": "é ✓"})


def move_cmd(*args: str, hold: str = "") -> subprocess.Popen:
    db = connections["default"].settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dbtools.settings_test",
        "DBTOOLS_TEST_RUN": settings.TEST_RUN,
        "DBTOOLS_ENCRYPTION_KEYS": settings.DBTOOLS_ENCRYPTION_KEYS,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "DBTOOLS_MOVE_GRACE_SECONDS": "0.2",
    }
    if hold:
        env["DBTOOLS_MOVE_HOLD"] = hold
    return subprocess.Popen(
        [sys.executable, "manage.py", "move_tenant", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class Writer(threading.Thread):
    """Inserts into the tenant's `writes` table on its source as fast as it can, the way the
    application would, and remembers which inserts were acknowledged."""

    def __init__(self, ep: Endpoint) -> None:
        super().__init__(daemon=True)
        self.ep = ep
        self.stop = threading.Event()
        self.acked: list[int] = []
        self.attempted: list[int] = []
        self.refused = 0

    def run(self) -> None:
        n = 0
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = self.ep.connect()
                n += 1
                self.attempted.append(n)
                conn.execute("INSERT INTO writes (n) VALUES (%s)", [n])
                self.acked.append(n)
            except psycopg.Error:
                self.refused += 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
            time.sleep(0.005)
        if conn is not None:
            conn.close()


def wait_state(tenant: Tenant, state: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        move = TenantMove.objects.filter(tenant=tenant).first()
        if move and move.state == state and move.progress and "holding" in move.progress[-1]["msg"]:
            return
        if proc.poll() is not None:
            pytest.fail(f"mover exited early:\n{proc.stdout.read()}")
        time.sleep(0.2)
    pytest.fail(f"move never reached {state}")


def leftovers(tenant: Tenant, source: str, target: str) -> dict[str, Any]:
    """Everything a move creates, on both servers."""
    found: dict[str, Any] = {}
    with psycopg.connect(Endpoint.from_url(target).conninfo(), autocommit=True) as conn:
        found["target_db"] = conn.execute(
            "SELECT datname FROM pg_database WHERE datname = %s", [tenant.db_name]
        ).fetchall()
        found["target_role"] = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname = %s", [tenant.db_user]
        ).fetchall()
        found["subscriptions"] = conn.execute("SELECT subname FROM pg_subscription").fetchall()
    src = Endpoint.from_url(source)
    with psycopg.connect(src.conninfo(), autocommit=True) as conn:
        found["slots"] = conn.execute("SELECT slot_name FROM pg_replication_slots").fetchall()
        found["role_settings"] = conn.execute(
            "SELECT setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
            "WHERE r.rolname = %s",
            [tenant.db_user],
        ).fetchall()
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [tenant.db_name]
        ).fetchone()
    if src.user == "postgres" and exists:
        with psycopg.connect(src.conninfo(tenant.db_name), autocommit=True) as conn:
            found["publications"] = conn.execute("SELECT pubname FROM pg_publication").fetchall()
            found["marker"] = conn.execute(
                "SELECT relname FROM pg_class WHERE relname = 'dbtools_move_marker'"
            ).fetchall()
    return {k: v for k, v in found.items() if v}


def source_writable(tenant: Tenant) -> None:
    tenant.refresh_from_db()
    tenancy.unregister(tenant.slug)
    with tenancy.use_tenant(tenant):
        activity.record("test.after", "thing", 1, "after")
        assert ActivityLog.objects.filter(action="test.after").exists()


def test_preflight_says_what_fails_on_the_shared_server(scratch_tenants, target_cluster, capsys):
    scratch_tenants("mv-pre")
    tenant = provision_main("mv-pre")
    with Endpoint.of_tenant(tenant).connect() as conn:
        conn.execute("CREATE TABLE no_key (n int)")
    with pytest.raises(Exception, match="Preflight failed") as err:
        call_command(
            "move_tenant",
            "mv-pre",
            "--to",
            target_cluster.admin_url,
            "--method",
            "logical",
            "--check",
        )
    out = capsys.readouterr().out
    assert "[FAIL] source wal_level: wal_level=replica" in out
    assert "[FAIL] primary keys: no primary key or replica identity: no_key" in out
    assert "[FAIL] source admin" in out  # the system role is no superuser
    assert "wal_level" in str(err.value)
    # Automatic choice: said up front that it falls back to a dump with a longer freeze.
    call_command("move_tenant", "mv-pre", "--to", target_cluster.admin_url, "--check")
    out = capsys.readouterr().out
    assert "Logical replication cannot be used" in out and "Falling back to dump" in out
    assert "Preflight passed; the move would use dump" in out
    # A target that already has the tenant's role is refused before anything is touched.
    with psycopg.connect(
        Endpoint.from_url(target_cluster.admin_url).conninfo(), autocommit=True
    ) as conn:
        conn.execute(f'CREATE ROLE "{tenant.db_user}"')
    try:
        with pytest.raises(Exception, match="already exists on the target"):
            call_command("move_tenant", "mv-pre", "--to", target_cluster.admin_url)
    finally:
        with psycopg.connect(
            Endpoint.from_url(target_cluster.admin_url).conninfo(), autocommit=True
        ) as conn:
            conn.execute(f'DROP ROLE "{tenant.db_user}"')
    assert not TenantMove.objects.exists()


def test_logical_move_while_writing(scratch_tenants, source_cluster, target_cluster):
    scratch_tenants("mv-live")
    tenant = provision_on(source_cluster, "mv-live")
    seed(tenant)
    writer = Writer(Endpoint.of_tenant(tenant))
    writer.start()
    time.sleep(0.5)
    proc = move_cmd(
        "mv-live", "--to", target_cluster.admin_url, "--source-admin", source_cluster.admin_url
    )
    out, _ = proc.communicate(timeout=300)
    writer.stop.set()
    writer.join()
    assert proc.returncode == 0, out
    assert "Logical replication: the tenant keeps working" in out
    # The checksums are compared after the switch, against the cut-over snapshot: the freeze
    # does not grow with the data.
    assert (
        out.index("switched to") < out.index("verifying after the switch") < out.index("verified:")
    )
    assert "write freeze:" in out
    tenant.refresh_from_db()
    assert (tenant.db_port, tenant.status) == (target_cluster.port, Tenant.Status.ACTIVE)
    move = TenantMove.objects.get(tenant=tenant)
    assert move.state == TenantMove.State.DONE and move.method == "logical"
    assert move.freeze_seconds < 10
    figures = move.report["verification"]
    assert figures["tables_ok"] and figures["migrations"]["same"]
    assert figures["tables"]["writes"]["source_rows"] == figures["tables"]["writes"]["target_rows"]
    assert {s["sequence"]: s["ok"] for s in figures["sequences"]}["writes_id_seq"]
    # Nothing acknowledged was lost; nothing was written that was not attempted.
    with Endpoint.of_tenant(tenant).connect() as conn:
        on_target = {r[0] for r in conn.execute("SELECT n FROM writes")}
        # The sequence was set at cut-over: the next insert does not collide.
        conn.execute("INSERT INTO writes (n) VALUES (-1)")
    assert len(writer.acked) > 20
    assert set(writer.acked) <= on_target <= set(writer.attempted)
    # The tenant works on its new server and is gone from the old one.
    source_writable(tenant)
    with tenancy.use_tenant(tenant):
        assert ActivityLog.objects.filter(action="tenant.moved").exists()
        assert ActivityLog.objects.filter(action="test.seeded").count() == 50
    assert leftovers(tenant, source_cluster.admin_url, target_cluster.admin_url) == {
        "target_db": [(tenant.db_name,)],
        "target_role": [(tenant.db_user,)],
    }
    with psycopg.connect(
        Endpoint.from_url(source_cluster.admin_url).conninfo(), autocommit=True
    ) as conn:
        assert not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [tenant.db_name]
        ).fetchall()


def test_sigterm_during_the_freeze_rolls_back(scratch_tenants, source_cluster, target_cluster):
    scratch_tenants("mv-term")
    tenant = provision_on(source_cluster, "mv-term")
    seed(tenant, 10)
    proc = move_cmd(
        "mv-term",
        "--to",
        target_cluster.admin_url,
        "--source-admin",
        source_cluster.admin_url,
        hold="frozen:120",
    )
    wait_state(tenant, TenantMove.State.FROZEN, proc)
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.MOVING
    with Endpoint.of_tenant(tenant).connect() as conn, pytest.raises(psycopg.Error, match="read"):
        conn.execute("INSERT INTO writes (n) VALUES (1)")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "Move interrupted and rolled back" in out
    tenant.refresh_from_db()
    assert (tenant.db_port, tenant.status) == (source_cluster.port, Tenant.Status.ACTIVE)
    move = TenantMove.objects.get(tenant=tenant)
    assert move.state == TenantMove.State.ABORTED and not move.report["rollback_problems"]
    source_writable(tenant)
    assert leftovers(tenant, source_cluster.admin_url, target_cluster.admin_url) == {}


def test_kill_9_then_recover(scratch_tenants, source_cluster, target_cluster):
    """A mover killed outright cleans up nothing itself: the tenant stays frozen on its old
    server until `--recover` (or the next move of the tenant) rolls the move back."""
    scratch_tenants("mv-kill")
    tenant = provision_on(source_cluster, "mv-kill")
    seed(tenant, 10)
    proc = move_cmd(
        "mv-kill",
        "--to",
        target_cluster.admin_url,
        "--source-admin",
        source_cluster.admin_url,
        hold="frozen:120",
    )
    wait_state(tenant, TenantMove.State.FROZEN, proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert leftovers(tenant, source_cluster.admin_url, target_cluster.admin_url)
    call_command("move_tenant", "mv-kill", "--recover")
    tenant.refresh_from_db()
    assert (tenant.db_port, tenant.status) == (source_cluster.port, Tenant.Status.ACTIVE)
    assert TenantMove.objects.get(tenant=tenant).state == TenantMove.State.ABORTED
    source_writable(tenant)
    assert leftovers(tenant, source_cluster.admin_url, target_cluster.admin_url) == {}


def test_kill_9_during_copy_next_move_recovers(scratch_tenants, source_cluster, target_cluster):
    scratch_tenants("mv-copy")
    tenant = provision_on(source_cluster, "mv-copy")
    seed(tenant, 10)
    proc = move_cmd(
        "mv-copy",
        "--to",
        target_cluster.admin_url,
        "--source-admin",
        source_cluster.admin_url,
        hold="copied:120",
    )
    wait_state(tenant, TenantMove.State.COPYING, proc)
    proc.kill()
    proc.communicate(timeout=60)
    # Not frozen yet: the tenant kept working on its old server all along.
    source_writable(tenant)
    proc = move_cmd(
        "mv-copy", "--to", target_cluster.admin_url, "--source-admin", source_cluster.admin_url
    )
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    states = list(TenantMove.objects.filter(tenant=tenant).order_by("pk").values_list("state"))
    assert states == [("aborted",), ("done",)]
    tenant.refresh_from_db()
    assert tenant.db_port == target_cluster.port
    source_writable(tenant)
    with tenancy.use_tenant(tenant):
        assert ActivityLog.objects.filter(action="test.after").count() == 2


def test_dump_fallback_from_the_shared_server(scratch_tenants, target_cluster):
    scratch_tenants("mv-dump")
    tenant = provision_main("mv-dump")
    seed(tenant, 30)
    with Endpoint.of_tenant(tenant).connect() as conn:
        conn.execute("INSERT INTO writes (n) SELECT g FROM generate_series(1, 500) g")
    proc = move_cmd("mv-dump", "--to", target_cluster.admin_url, "--verify-before-switch")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert "Falling back to dump and restore" in out
    move = TenantMove.objects.get(tenant=tenant)
    assert move.method == "dump" and move.state == TenantMove.State.DONE
    assert out.index("verifying in the freeze") < out.index("switched to")
    assert move.report["verification"]["tables"]["writes"]["target_rows"] == 500
    tenant.refresh_from_db()
    assert tenant.db_port == target_cluster.port
    source_writable(tenant)
    with provisioning.admin_connection() as conn:
        assert not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [tenant.db_name]
        ).fetchall()
        assert not conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", [tenant.db_user]
        ).fetchall()

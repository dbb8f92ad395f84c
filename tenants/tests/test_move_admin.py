"""The move as a platform-admin operation, and what a frozen tenant answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from tenants import provisioning
from tenants.models import Tenant, TenantMove
from tenants.tests import pgcluster


@pytest.fixture
def frozen_alpha(tenant_alpha) -> Iterator[Tenant]:
    Tenant.objects.filter(pk=tenant_alpha.pk).update(status=Tenant.Status.MOVING)
    tenant_alpha.refresh_from_db()
    yield tenant_alpha
    Tenant.objects.filter(pk=tenant_alpha.pk).update(status=Tenant.Status.ACTIVE)


@pytest.mark.django_db(databases="__all__")
def test_frozen_tenant_reads_but_answers_writes_with_503(frozen_alpha, make_user, api):
    user = make_user("op", frozen_alpha, "admin")
    client = Client()
    client.force_login(user)
    page = client.get("/servers/")
    assert page.status_code == 200
    refused = client.post("/servers/add", {"name": "x"})
    assert refused.status_code == 503
    assert refused["Retry-After"] == "5"
    assert "is being moved" in refused.content.decode()
    assert "retry in a few seconds" in refused.content.decode()
    rest = api(user, frozen_alpha)
    assert rest.get("/api/servers/").status_code == 200
    answer = rest.post("/api/servers/", {"name": "x"}, format="json")
    assert answer.status_code == 503
    assert answer["Retry-After"] == "5"
    assert answer.json()["detail"].startswith("This tenant is being moved")


@pytest.mark.django_db(databases="__all__")
def test_active_tenant_writes_as_usual(tenant_alpha, make_user, api):
    user = make_user("op2", tenant_alpha, "admin")
    answer = api(user, tenant_alpha).post("/api/servers/", {}, format="json")
    assert answer.status_code == 400  # validation, not the freeze


@pytest.fixture(scope="module")
def target_cluster() -> Iterator[pgcluster.Cluster]:
    if not pgcluster.available():
        pytest.skip("PostgreSQL server binaries not found")
    cluster = pgcluster.start()
    yield cluster
    cluster.stop()


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_superadmin_moves_a_tenant_and_watches_progress(scratch_tenants, target_cluster, make_user):
    scratch_tenants("mv-admin")
    tenant = provisioning.create_tenant("mv-admin", "Move Admin")
    staff = make_user("staff", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/tenants/tenant/mv-admin/move/").status_code == 403
    boss = make_user("boss", is_staff=True, is_superuser=True)
    client.force_login(boss)
    listing = client.get("/admin/tenants/tenant/").content.decode()
    assert "/admin/tenants/tenant/mv-admin/move/" in listing
    form = client.get("/admin/tenants/tenant/mv-admin/move/")
    assert form.status_code == 200 and "Target server" in form.content.decode()
    bad = client.post(
        "/admin/tenants/tenant/mv-admin/move/", {"target_url": "mysql://x", "method": "auto"}
    )
    assert bad.status_code == 400 and "postgresql://user:password@host" in bad.content.decode()
    # Logical replication is impossible from the shared server: the preflight says why and
    # nothing is created.
    refused = client.post(
        "/admin/tenants/tenant/mv-admin/move/",
        {"target_url": target_cluster.admin_url, "method": "logical"},
    )
    text = refused.content.decode()
    assert refused.status_code == 400 and "Preflight failed" in text
    assert "wal_level=replica" in text and not TenantMove.objects.exists()
    done = client.post(
        "/admin/tenants/tenant/mv-admin/move/",
        {"target_url": target_cluster.admin_url, "method": "auto"},
    )
    move = TenantMove.objects.get(tenant=tenant)
    assert done.status_code == 302
    assert done["Location"] == f"/admin/tenants/tenant/mv-admin/move/{move.pk}/"
    progress = client.get(done["Location"]).content.decode()
    assert "✓ Done" in progress and "Dump and restore" in progress
    assert "✓ equal" in progress and "✗ different" not in progress
    assert "Write freeze" in progress and "Falling back to dump" in progress
    assert "data-live-url" not in progress  # finished: no more polling
    part = client.get(done["Location"], headers={"HX-Request": "true"}).content.decode()
    assert part.lstrip().startswith('<section id="move-progress"')
    tenant.refresh_from_db()
    assert (tenant.db_port, tenant.status) == (target_cluster.port, Tenant.Status.ACTIVE)
    # A task delivered again does not run the move twice.
    from tenants import move as mover

    assert mover.run_task(move.pk).startswith("not started")

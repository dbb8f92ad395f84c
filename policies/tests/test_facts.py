"""Compliance facts read from sqlsim over TDS: msdb history (whoever made the backups), the boot
page's last good CHECKDB, many databases, stored as the latest state per server and database."""

import datetime as dt

import pytest
from django.db import connections
from django.utils import timezone

from policies import facts
from policies.models import DatabaseState, FactsCollection
from servers import actions as server_actions

pytestmark = [
    pytest.mark.django_db(databases="__all__", transaction=True),
    pytest.mark.usefixtures("use_alpha"),
]


@pytest.fixture
def fleet(sqlsim_factory):
    from sqlsim import InstanceConfig

    return sqlsim_factory(
        [
            InstanceConfig(name="SQLFACTS01", port=0, databases=60),
            InstanceConfig(name="SQLFACTS02", port=0, version=2014, databases=6),
        ]
    )


def add(fleet, name):
    host, port = fleet.address(name)
    return server_actions.create_server(
        {
            "name": name,
            "host": host,
            "port": port,
            "auth_type": "sql",
            "username": fleet.login,
            "password": fleet.password,
        },
        acting_user=None,
    )


def user_dbs(count):
    from sqlsim.instance import database_names

    return [n for n in database_names(count) if n not in ("master", "model", "msdb", "tempdb")]


def test_every_database_of_a_server_is_stored_with_its_state(fleet):
    server = add(fleet, "SQLFACTS01")
    result = facts.collect()
    connections.close_all()
    assert result == {"servers": 1, "failed": 0}, FactsCollection.objects.get(server=server).error
    states = DatabaseState.objects.filter(server=server)
    assert states.count() == 60
    master = states.get(name="master")
    assert master.recovery_model == "SIMPLE" and master.state == "ONLINE"
    assert master.created < timezone.now() - dt.timedelta(days=29)
    assert master.last_full is None and master.last_good_checkdb is None  # never: 1900-01-01
    assert FactsCollection.objects.get(server=server).collected_at is not None


def test_backups_another_tool_made_count_and_copy_only_ones_stay_out_of_the_chain(fleet):
    server = add(fleet, "SQLFACTS01")
    db = user_dbs(60)[0]
    fleet.steer(
        "SQLFACTS01",
        add_backups=[
            {"database": db, "type": "D", "hours_ago": 30, "device": "\\\\nas\\veeam\\a.bak"},
            {"database": db, "type": "D", "hours_ago": 2, "copy_only": True},
            {"database": db, "type": "I", "hours_ago": 6},
            {"database": db, "type": "L", "hours_ago": 0.25, "checksum": False},
        ],
    )
    facts.collect()
    connections.close_all()
    state = DatabaseState.objects.get(server=server, name=db)
    now = timezone.now()
    assert abs((now - state.last_full) - dt.timedelta(hours=30)) < dt.timedelta(minutes=2)
    assert abs((now - state.last_diff) - dt.timedelta(hours=6)) < dt.timedelta(minutes=2)
    assert abs((now - state.last_log) - dt.timedelta(minutes=15)) < dt.timedelta(minutes=2)
    assert state.backups["full"]["device"] == "\\\\nas\\veeam\\a.bak"
    assert state.backups["full_copy_only"]["copy_only"] is True
    assert state.backups["log"]["checksum"] is False
    assert state.backups["full"]["size_bytes"] > 0
    assert state.backups["full"]["duration_seconds"] >= 1


def test_last_good_checkdb_comes_from_the_server_and_older_versions_do_not_know_it(fleet):
    new = add(fleet, "SQLFACTS01")
    old = add(fleet, "SQLFACTS02")
    db = user_dbs(60)[1]
    when = (dt.datetime.now() - dt.timedelta(days=3)).replace(microsecond=0)
    fleet.steer("SQLFACTS01", last_good_checkdb={db: when.isoformat()})
    fleet.steer("SQLFACTS02", last_good_checkdb={user_dbs(6)[0]: when.isoformat()})
    facts.collect()
    connections.close_all()
    got = DatabaseState.objects.get(server=new, name=db).last_good_checkdb
    assert abs(got - when.astimezone(dt.UTC)) < dt.timedelta(seconds=2)
    assert DatabaseState.objects.get(server=old, name=user_dbs(6)[0]).last_good_checkdb is None


def test_an_offline_database_is_stored_as_offline(fleet):
    server = add(fleet, "SQLFACTS01")
    db = user_dbs(60)[2]
    fleet.steer("SQLFACTS01", offline=db)
    facts.collect()
    connections.close_all()
    assert DatabaseState.objects.get(server=server, name=db).state == "OFFLINE"


def test_a_server_is_read_again_only_after_the_interval_and_dropped_databases_go(fleet):
    server = add(fleet, "SQLFACTS01")
    now = timezone.now()
    assert facts.collect(now=now)["servers"] == 1
    assert facts.collect(now=now + facts.INTERVAL - dt.timedelta(seconds=1))["servers"] == 0
    DatabaseState.objects.create(
        server=server, name="DroppedDB", recovery_model="FULL", state="ONLINE", collected_at=now
    )
    assert facts.collect(now=now + facts.INTERVAL)["servers"] == 1
    connections.close_all()
    assert not DatabaseState.objects.filter(server=server, name="DroppedDB").exists()


def test_a_claimed_server_is_not_read_by_a_second_worker(fleet):
    server = add(fleet, "SQLFACTS01")
    now = timezone.now()
    facts._ensure_rows()
    assert facts.claim(server.pk, now)
    assert not facts.claim(server.pk, now)
    assert facts.collect(now=now)["servers"] == 0
    assert facts.claim(server.pk, now + facts.LEASE + dt.timedelta(seconds=1))


def test_an_unreachable_server_keeps_its_last_facts_and_records_why(fleet):
    server = add(fleet, "SQLFACTS01")
    now = timezone.now()
    facts.collect(now=now)
    fleet.stop_instance("SQLFACTS01")
    facts.collect(now=now + facts.INTERVAL)
    connections.close_all()
    row = FactsCollection.objects.get(server=server)
    assert row.error and row.collected_at == now
    assert DatabaseState.objects.filter(server=server).count() == 60


def test_the_tenant_task_collects_and_refreshes_the_fleet_figure(fleet, tenant_alpha):
    from policies.models import ComplianceSnapshot

    add(fleet, "SQLFACTS02")
    result = facts.collect_tenant(tenant_alpha.slug)
    assert result["servers"] == 1 and "snapshot_ms" in result
    assert ComplianceSnapshot.objects.get().summary["databases"] == 0  # nothing deployed
    again = facts.collect_tenant(tenant_alpha.slug)  # nothing due, figure fresh: no work
    assert again["servers"] == 0 and "snapshot_ms" not in again


def test_the_fleet_figure_is_recomputed_when_a_verdict_changes_not_every_few_minutes(
    fleet, tenant_alpha
):
    from policies.models import ComplianceSnapshot

    add(fleet, "SQLFACTS02")
    facts.collect_tenant(tenant_alpha.slug)
    snapshot = ComplianceSnapshot.objects.get()
    # Nothing deployed: no instant changes a verdict; next at the configuration safety net.
    assert snapshot.changes_at is None
    assert facts.next_due() > timezone.now() + dt.timedelta(minutes=14)  # facts, then figure
    # The instant a backup turns overdue has come: recomputed.
    ComplianceSnapshot.objects.update(changes_at=timezone.now() - dt.timedelta(seconds=1))
    assert "snapshot_ms" in facts.collect_tenant(tenant_alpha.slug)
    assert "snapshot_ms" not in facts.collect_tenant(tenant_alpha.slug)
    # A write that changes what is judged (a deployment, an exemption) marks it stale.
    from dbtools import tenancy

    with tenancy.atomic():
        facts.invalidate_snapshot()
    assert facts.next_due() <= timezone.now()
    assert "snapshot_ms" in facts.collect_tenant(tenant_alpha.slug)


def test_the_tick_visits_only_tenants_with_facts_due(fleet, tenant_alpha, tenant_beta, monkeypatch):
    """Finding work is one query on the due index: a tenant with nothing due is not visited
    (no task, no query on its database); one with a server due is, once, and is then due again
    one interval later."""
    from engine import due as due_index
    from engine.models import DueWork

    queued: list[tuple] = []
    monkeypatch.setattr(
        "dbtools.tasks.enqueue", lambda func, *args, **kw: queued.append((func, *args))
    )
    DueWork.objects.filter(kind=due_index.FACTS).delete()
    add(fleet, "SQLFACTS01")
    due_index.refresh(tenant_alpha.pk, due_index.FACTS)
    with tenancy_for(tenant_beta):
        due_index.refresh(tenant_beta.pk, due_index.FACTS)  # beta has no servers: never due
    assert facts.tick() == 1
    assert [q[:2] for q in queued] == [("policies.facts.collect_tenant", tenant_alpha.slug)]
    assert facts.tick() == 0  # claimed: not queued twice
    facts.collect_tenant(tenant_alpha.slug, queued[0][2])
    row = DueWork.objects.get(tenant=tenant_alpha, kind=due_index.FACTS)
    assert row.claimed_by == "" and row.due_at > timezone.now() + dt.timedelta(minutes=4)
    assert DueWork.objects.get(tenant=tenant_beta, kind=due_index.FACTS).due_at is None


def tenancy_for(tenant):
    from dbtools import tenancy

    return tenancy.use_tenant(tenant)

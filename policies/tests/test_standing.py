"""Compliance of deployed policies computed from stored facts, exemptions through the API, and
the fleet figure for the dashboard."""

import datetime as dt

import pytest
from django.utils import timezone

from core.models import ActivityLog
from policies import actions, standing
from policies.models import DatabaseState, Exemption
from servers import actions as server_actions

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]
H = dt.timedelta(hours=1)


@pytest.fixture
def operator(make_user, tenant_alpha):
    return make_user("petra", tenant_alpha, "operator")


@pytest.fixture
def client(api, operator, tenant_alpha):
    return api(operator, tenant_alpha)


def server(name):
    return server_actions.create_server(
        {"name": name, "host": f"{name.lower()}.corp.example", "auth_type": "sql", "username": "u"},
        acting_user="pw",
    )


def state(srv, name, now, **kw):
    base = {
        "recovery_model": "FULL",
        "state": "ONLINE",
        "created": now - 400 * H,
        "last_full": now - 20 * H,
        "last_diff": now - 5 * H,
        "last_log": now - dt.timedelta(minutes=5),
        "last_good_checkdb": now - 30 * H,
        "collected_at": now,
    }
    return DatabaseState.objects.create(server=srv, name=name, **{**base, **kw})


@pytest.fixture
def prod():
    now = timezone.now()
    group = server_actions.create_group("Production")
    a, b, c = server("SQLA"), server("SQLB"), server("SQLC")
    server_actions.add_to_group(group, [a, b, c])
    state(a, "master", now, recovery_model="SIMPLE")
    state(a, "Sales", now)
    state(a, "Billing", now, last_log=now - 200 * dt.timedelta(minutes=1))
    state(b, "Reports", now, recovery_model="SIMPLE", last_log=None)
    policy = actions.create_policy(
        {
            "name": "Prod backups",
            "policy_type": "backup",
            "status": "active",
            "configuration": {"destination_path": "D:\\Backup"},
        },
        acting_user=None,
    )
    actions.deploy(policy, [group], acting_user=None)
    return {"group": group, "policy": policy, "servers": (a, b, c)}


def test_each_database_gets_its_verdict_and_the_reason(prod):
    [s] = standing.for_policy(prod["policy"])
    got = {(r.facts.server_name, r.facts.name): r.verdict for r in s.rows}
    assert set(got) == {("SQLA", "Sales"), ("SQLA", "Billing"), ("SQLB", "Reports")}
    assert got[("SQLA", "Sales")].status == "compliant"
    assert got[("SQLA", "Billing")].reasons == (
        "no log backup for 3 h 20 min; policy: every 15 min",
    )
    assert got[("SQLB", "Reports")].reasons == ("simple recovery model: log backups impossible",)
    assert s.status == "non_compliant"
    assert s.rows[0].verdict.status == "non_compliant"  # worst first
    assert s.unknown == [
        {
            "server_id": prod["servers"][2].pk,
            "server_name": "SQLC",
            "reason": "compliance facts not collected yet",
        }
    ]


def test_the_fleet_figure_counts_each_database_once_at_its_worst(prod):
    integrity = actions.create_policy(
        {"name": "Weekly CHECKDB", "policy_type": "integrity_check", "status": "active"},
        acting_user=None,
    )
    actions.deploy(integrity, [prod["group"]], acting_user=None)
    summary = standing.fleet_summary()
    # Sales passes both; Billing and Reports fail backups; master is judged by CHECKDB only.
    assert summary["databases"] == 4 and summary["failing"] == 2
    assert summary["percent"] == 50.0
    assert summary["servers_without_facts"] == 1


def test_index_policies_are_not_judged(prod):
    index = actions.create_policy(
        {"name": "Indexes", "policy_type": "index_maintenance", "status": "active"},
        acting_user=None,
    )
    actions.deploy(index, [prod["group"]], acting_user=None)
    assert standing.for_policy(index) == []


def test_group_and_server_compliance_through_the_api(client, prod):
    r = client.get(f"/api/groups/{prod['group'].pk}/compliance")
    assert r.status_code == 200
    [body] = r.json()
    assert body["policy_name"] == "Prod backups" and body["overall"] == "non_compliant"
    assert body["counts"]["non_compliant"] == 2
    failing = client.get(
        f"/api/groups/{prod['group'].pk}/compliance", {"compliance": "non_compliant"}
    ).json()[0]["databases"]
    assert {d["database"] for d in failing} == {"Billing", "Reports"}
    srv = client.get(f"/api/servers/{prod['servers'][1].pk}/compliance").json()
    assert [d["database"] for d in srv[0]["databases"]] == ["Reports"]
    assert client.get("/api/compliance/summary").json()["percent"] == pytest.approx(33.3)
    assert (
        client.get(f"/api/groups/{prod['group'].pk}/compliance", {"compliance": "x"}).status_code
        == 400
    )


def test_an_exemption_sets_a_database_aside_until_it_is_revoked(client, prod, operator):
    pid = prod["policy"].pk
    until = (timezone.now() + 30 * 24 * H).isoformat()
    body = {
        "server_id": prod["servers"][0].pk,
        "database": "Billing",
        "reason": "archived, read-only",
        "expires_at": until,
    }
    r = client.post(f"/api/policies/{pid}/exemptions", body, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["granted_by"] == "petra" and r.json()["active"] is True
    rows = client.get(f"/api/policies/{pid}/compliance").json()[0]["databases"]
    billing = next(d for d in rows if d["database"] == "Billing")
    assert billing["compliance"] == "exempt"
    assert "archived, read-only (petra)" in billing["reasons"][0]
    assert ActivityLog.objects.filter(action="policy.exemption_granted").exists()
    eid = r.json()["id"]
    assert client.delete(f"/api/policies/{pid}/exemptions/{eid}").status_code == 204
    assert Exemption.objects.get(pk=eid).revoked_by == "petra"
    rows = client.get(f"/api/policies/{pid}/compliance").json()[0]["databases"]
    assert next(d for d in rows if d["database"] == "Billing")["compliance"] == "non_compliant"
    assert client.delete(f"/api/policies/{pid}/exemptions/{eid}").status_code == 400


def test_an_expired_exemption_no_longer_applies(prod):
    Exemption.objects.create(
        policy=prod["policy"],
        server=prod["servers"][0],
        database="",
        reason="old",
        expires_at=timezone.now() - H,
    )
    [s] = standing.for_policy(prod["policy"])
    assert "exempt" not in {r.verdict.status for r in s.rows}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "2099-01-01T00:00:00Z"}, "expires_at"),
        ({"reason": "   "}, "reason"),
        ({"server_id": 999999}, "server_id"),
        ({"database": "x" * 129}, "database"),
    ],
)
def test_a_bad_exemption_is_a_400_on_its_field(client, prod, change, field):
    body = {
        "server_id": prod["servers"][0].pk,
        "reason": "r",
        "expires_at": (timezone.now() + H).isoformat(),
        **change,
    }
    r = client.post(f"/api/policies/{prod['policy'].pk}/exemptions", body, format="json")
    assert r.status_code == 400 and field in r.json(), r.json()
    assert not Exemption.objects.exists()


def test_the_card_reads_the_background_snapshot_and_says_when(client, prod):
    snapshot = standing.refresh_snapshot()
    assert snapshot.summary["databases"] == 3
    DatabaseState.objects.filter(name="Billing").delete()  # changed since: not seen yet
    body = client.get("/api/compliance/summary").json()
    assert body["databases"] == 3 and body["computed_at"]
    standing.refresh_snapshot()
    assert client.get("/api/compliance/summary").json()["databases"] == 2

"""Deploying the monitoring objects through the API to sqlsim over real TDS."""

import datetime as dt

import pytest
from django.utils import timezone

from core.models import ActivityLog
from servers import deployment, monitoring_objects
from servers.models import Server

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


@pytest.fixture
def client(api, make_user, tenant_alpha, committing):
    return committing(api(make_user("dep", tenant_alpha, "operator"), tenant_alpha))


@pytest.fixture
def add(client, sqlsim):
    def make(name):
        host, port = sqlsim.address(name)
        body = {
            "name": name,
            "host": host,
            "port": port,
            "auth_type": "sql",
            "username": sqlsim.login,
            "password": sqlsim.password,
        }
        r = client.post("/api/servers", body, format="json")
        assert r.status_code == 201, r.json()
        return r.json()["id"]

    return make


def test_deploy_then_status_then_redeploy(client, add, sqlsim):
    sqlsim.drop_objects("SQLPROD01")
    sid = add("SQLPROD01")
    before = client.get(f"/api/servers/{sid}/deployment-status").json()
    assert before["monitoring_status"] == "not_deployed"
    r = client.post(f"/api/servers/{sid}/deploy")
    assert r.status_code == 202
    # Tasks run synchronously in tests; in production a worker picks this up.
    status = client.get(f"/api/servers/{sid}/deployment-status").json()
    assert status["monitoring_status"] == "monitored", status
    assert status["deployed_version"] == monitoring_objects.SCRIPT_VERSION
    assert status["upgrade_available"] is False
    objects = sqlsim.info("SQLPROD01")["dbtools"]["objects"]
    assert any("usp_CollectMetrics" in str(o) for o in objects), objects
    again = client.post(f"/api/servers/{sid}/deploy")
    assert again.status_code == 202
    assert client.get(f"/api/servers/{sid}/deployment-status").json()["monitoring_status"] == (
        "monitored"
    )
    actions = list(ActivityLog.objects.filter(entity_id=str(sid)).values_list("action", flat=True))
    assert actions.count("server.deployed") == 1  # the re-deploy is recorded as an upgrade check
    assert "server.deploy_requested" in actions


def test_upgrade_path_when_scripts_move_on(client, add, monkeypatch):
    sid = add("SQLPROD02")
    client.post(f"/api/servers/{sid}/deploy")
    monkeypatch.setattr(monitoring_objects, "SCRIPT_VERSION", monitoring_objects.SCRIPT_VERSION + 1)
    status = client.get(f"/api/servers/{sid}/deployment-status").json()
    assert status["upgrade_available"] is True
    client.post(f"/api/servers/{sid}/deploy")
    status = client.get(f"/api/servers/{sid}/deployment-status").json()
    assert status["deployed_version"] == monitoring_objects.SCRIPT_VERSION
    assert status["upgrade_available"] is False
    entry = ActivityLog.objects.filter(action="server.monitoring_upgraded").get()
    assert entry.details["version"] == monitoring_objects.SCRIPT_VERSION
    assert entry.details["from_version"] == monitoring_objects.SCRIPT_VERSION - 1


def test_deploy_without_view_server_state_fails_clearly(client, add):
    sid = add("SQLNOPERM01")
    client.post(f"/api/servers/{sid}/deploy")
    status = client.get(f"/api/servers/{sid}/deployment-status").json()
    assert status["monitoring_status"] == "failed"
    assert "VIEW SERVER STATE" in status["error"]
    assert ActivityLog.objects.filter(action="server.deploy_failed").exists()


def test_deploy_without_create_rights_fails_clearly(client, add, sqlsim):
    sid = add("SQLPROD03")
    sqlsim.set_can_deploy("SQLPROD03", False)
    client.post(f"/api/servers/{sid}/deploy")
    status = client.get(f"/api/servers/{sid}/deployment-status").json()
    assert status["monitoring_status"] == "failed"
    assert "db_owner" in status["error"]
    sqlsim.set_can_deploy("SQLPROD03", True)
    client.post(f"/api/servers/{sid}/deploy")
    assert Server.objects.get(pk=sid).monitoring_status == "monitored"


def test_deploy_to_unreachable_server(client, add, sqlsim):
    sid = add("SQLPROD04")
    sqlsim.stop_instance("SQLPROD04")
    client.post(f"/api/servers/{sid}/deploy")
    status = client.get(f"/api/servers/{sid}/deployment-status").json()
    assert status["monitoring_status"] == "failed"
    assert status["error"]


def test_bulk_deploy_and_viewer_forbidden(client, add, api, make_user, tenant_alpha):
    ids = [add("SQLPROD01"), add("SQLPROD02")]
    r = client.post("/api/servers/bulk", {"action": "deploy", "server_ids": ids}, format="json")
    assert r.json() == {"affected": 2}
    assert set(Server.objects.values_list("monitoring_status", flat=True)) == {"monitored"}
    viewer = api(make_user("vw", tenant_alpha, "viewer"), tenant_alpha)
    assert viewer.post(f"/api/servers/{ids[0]}/deploy").status_code == 403
    assert viewer.get(f"/api/servers/{ids[0]}/deployment-status").status_code == 200


def test_status_of_unknown_server_is_404(client):
    assert client.get("/api/servers/424242/deployment-status").status_code == 404
    assert client.post("/api/servers/424242/deploy").status_code == 404
    assert deployment.status_of  # imported for the module's API


def test_deploy_hitting_an_unexpected_error_ends_failed_with_it(client, add, monkeypatch):
    sid = add("SQLPROD01")

    def boom(conn):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(monitoring_objects, "deploy_objects", boom)
    r = client.post(f"/api/servers/{sid}/deploy")
    assert r.status_code == 202
    status = client.get(f"/api/servers/{sid}/deployment-status").json()
    assert status["monitoring_status"] == "failed"
    assert "disk on fire" in status["error"]
    assert ActivityLog.objects.filter(action="server.deploy_failed", entity_id=str(sid)).exists()


def test_deploy_of_a_host_stored_before_validation_ends_failed(client):
    # Rows written before hosts were validated may hold names no resolver accepts.
    server = Server.objects.create(name="Legacy", host="db\u202e1", username="u")
    client.post(f"/api/servers/{server.pk}/deploy")
    server.refresh_from_db()
    assert server.monitoring_status == "failed"
    assert server.deployment_error
    r = client.post(f"/api/servers/{server.pk}/test-connection")
    assert r.status_code == 400
    assert r.json()["ok"] is False


def test_a_deployment_whose_worker_was_lost_can_be_started_again(client):
    server = Server.objects.create(
        name="Lost", host="lost.invalid", username="u", monitoring_status="deploying"
    )
    client.post(f"/api/servers/{server.pk}/deploy")
    server.refresh_from_db()
    assert server.monitoring_status == "deploying"  # a worker may still be at it
    Server.objects.filter(pk=server.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=10))
    client.post(f"/api/servers/{server.pk}/deploy")
    server.refresh_from_db()
    assert server.monitoring_status == "failed"
    assert server.deployment_error

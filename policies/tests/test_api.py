"""Policies through the REST API: versions, validation, deployment creating and removing jobs."""

import pytest

from core.models import ActivityLog
from policies.models import Policy, PolicyVersion
from scheduler.models import Job
from servers import actions as server_actions

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


@pytest.fixture
def operator(make_user, tenant_alpha):
    return make_user("petra", tenant_alpha, "operator")


@pytest.fixture
def client(api, operator, tenant_alpha):
    return api(operator, tenant_alpha)


@pytest.fixture
def groups():
    return [server_actions.create_group(n) for n in ("Production", "Reporting")]


def backup_policy(**extra):
    return {
        "name": "Prod backups",
        "policy_type": "backup",
        "status": "active",
        "configuration": {"destination_path": "\\\\backupsrv\\sql"},
        **extra,
    }


def test_create_fills_defaults_and_keeps_version_one(client, operator):
    r = client.post("/api/policies", backup_policy(), format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["version"] == 1
    assert body["configuration"]["log"] == {"every_minutes": 15}
    assert body["configuration"]["databases"] == "USER_DATABASES"
    assert ActivityLog.objects.get(action="policy.created").user_id == operator.pk


def test_bad_configuration_is_a_400_with_the_field_and_nothing_written(client):
    body = backup_policy(configuration={"destination_path": "relative", "cleanup_hours": -1})
    r = client.post("/api/policies", body, format="json")
    assert r.status_code == 400
    assert set(r.json()) >= {"configuration.destination_path", "configuration.cleanup_hours"}
    assert not Policy.objects.exists() and not PolicyVersion.objects.exists()


def test_put_writes_a_new_immutable_version(client):
    policy = client.post("/api/policies", backup_policy(), format="json").json()
    body = backup_policy(configuration={"destination_path": "D:\\Backup", "log": None})
    r = client.put(f"/api/policies/{policy['id']}", body, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["version"] == 2
    versions = client.get(f"/api/policies/{policy['id']}/versions").json()["results"]
    assert [v["number"] for v in versions] == [2, 1]
    assert versions[1]["configuration"]["destination_path"] == "\\\\backupsrv\\sql"
    assert versions[0]["configuration"]["log"] is None
    same = client.put(f"/api/policies/{policy['id']}", body, format="json").json()
    assert same["version"] == 2  # nothing changed, no new version
    v1 = PolicyVersion.objects.get(number=1)
    v1.configuration = {}
    with pytest.raises(ValueError, match="immutable"):
        v1.save()


def test_names_are_unique_and_the_type_is_fixed(client):
    first = client.post("/api/policies", backup_policy(), format="json").json()
    dup = client.post("/api/policies", backup_policy(name="PROD BACKUPS"), format="json")
    assert dup.status_code == 400 and "name" in dup.json()
    r = client.put(
        f"/api/policies/{first['id']}", backup_policy(policy_type="integrity_check"), format="json"
    )
    assert r.status_code == 200 and r.json()["policy_type"] == "backup"


def test_deploy_creates_one_job_per_backup_type_and_removal_deletes_them(client, groups):
    policy = client.post("/api/policies", backup_policy(), format="json").json()
    r = client.post(
        f"/api/policies/{policy['id']}/deploy", {"group_ids": [g.pk for g in groups]}, format="json"
    )
    assert r.status_code == 200, r.json()
    assert [d["group_name"] for d in r.json()] == ["Production", "Reporting"]
    jobs = Job.objects.alive().filter(group=groups[0]).order_by("name")
    assert [(j.name, j.schedule_type, j.heavy) for j in jobs] == [
        ("Prod backups – differential backup on Production", "cron", True),
        ("Prod backups – full backup on Production", "cron", True),
        ("Prod backups – log backup on Production", "interval", True),
    ]
    log = jobs.get(schedule_type="interval")
    assert log.schedule_config == {"interval_seconds": 900}
    assert log.configuration == {"policy_id": policy["id"], "policy_version": 1, "task": "log"}
    on_group = client.get(f"/api/groups/{groups[0].pk}/policies").json()["results"]
    assert [(d["policy_name"], d["policy_version"], d["latest_version"]) for d in on_group] == [
        ("Prod backups", 1, 1)
    ]
    gone = client.delete(f"/api/policies/{policy['id']}/deployments/{groups[0].pk}")
    assert gone.status_code == 204
    assert not Job.objects.alive().filter(group=groups[0]).exists()
    assert Job.objects.alive().filter(group=groups[1]).count() == 3
    again = client.delete(f"/api/policies/{policy['id']}/deployments/{groups[0].pk}")
    assert again.status_code == 400


def test_a_new_version_reaches_groups_when_deployed_again(client, groups):
    policy = client.post("/api/policies", backup_policy(), format="json").json()
    client.post(
        f"/api/policies/{policy['id']}/deploy", {"group_ids": [groups[0].pk]}, format="json"
    )
    body = backup_policy(
        configuration={"destination_path": "D:\\B", "diff": None, "log": {"every_minutes": 5}}
    )
    client.put(f"/api/policies/{policy['id']}", body, format="json")
    lagging = client.get(f"/api/groups/{groups[0].pk}/policies").json()["results"][0]
    assert (lagging["policy_version"], lagging["latest_version"]) == (1, 2)
    client.post(
        f"/api/policies/{policy['id']}/deploy", {"group_ids": [groups[0].pk]}, format="json"
    )
    jobs = Job.objects.alive().filter(group=groups[0])
    assert sorted(j.configuration["task"] for j in jobs) == ["full", "log"]
    assert jobs.get(configuration__task="log").schedule_config == {"interval_seconds": 300}
    assert {j.configuration["policy_version"] for j in jobs} == {2}


def test_drafts_cannot_be_deployed_and_unknown_groups_are_named(client, groups):
    draft = client.post("/api/policies", backup_policy(status="draft"), format="json").json()
    r = client.post(
        f"/api/policies/{draft['id']}/deploy", {"group_ids": [groups[0].pk]}, format="json"
    )
    assert r.status_code == 400 and "draft" in r.json()["status"][0]
    active = client.post("/api/policies", backup_policy(name="B"), format="json").json()
    r = client.post(f"/api/policies/{active['id']}/deploy", {"group_ids": [999999]}, format="json")
    assert r.status_code == 400 and "999999" in r.json()["group_ids"][0]


def test_a_group_with_policy_jobs_cannot_be_deleted_by_accident(client, groups):
    policy = client.post("/api/policies", backup_policy(), format="json").json()
    client.post(
        f"/api/policies/{policy['id']}/deploy", {"group_ids": [groups[0].pk]}, format="json"
    )
    r = client.delete(f"/api/groups/{groups[0].pk}")
    assert r.status_code == 400
    assert "Jobs run on this group" in r.json()["detail"][0]


def test_delete_policy_is_soft_and_removes_its_jobs(client, groups):
    policy = client.post("/api/policies", backup_policy(), format="json").json()
    client.post(
        f"/api/policies/{policy['id']}/deploy", {"group_ids": [groups[0].pk]}, format="json"
    )
    assert client.delete(f"/api/policies/{policy['id']}").status_code == 204
    assert client.get(f"/api/policies/{policy['id']}").status_code == 404
    assert not Job.objects.alive().exists()
    assert Policy.objects.get().deleted_at is not None


def test_schemas_and_preview_are_published(client):
    types = {s["policy_type"] for s in client.get("/api/policies/schemas").json()}
    assert types == {"backup", "index_maintenance", "integrity_check", "custom_script"}
    policy = client.post("/api/policies", backup_policy(), format="json").json()
    sql = client.get(f"/api/policies/{policy['id']}/preview").json()["sql"]
    assert "BACKUP DATABASE [Sales] TO DISK = N'\\\\backupsrv\\sql\\SQLPROD01\\Sales\\FULL\\" in sql
    assert client.get(f"/api/policies/{policy['id']}/preview?version=x").status_code == 400
    assert client.get(f"/api/policies/{policy['id']}/preview?version=9").status_code == 404


def test_viewers_cannot_deploy(api, make_user, tenant_alpha, client, groups):
    policy = client.post("/api/policies", backup_policy(), format="json").json()
    viewer = api(make_user("vic", tenant_alpha, "viewer"), tenant_alpha)
    assert viewer.get("/api/policies").status_code == 200
    r = viewer.post(
        f"/api/policies/{policy['id']}/deploy", {"group_ids": [groups[0].pk]}, format="json"
    )
    assert r.status_code == 403

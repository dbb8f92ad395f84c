"""Jobs through the REST API: create, validate, change, enable, run now, cancel, dependencies."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from core.models import ActivityLog
from scheduler.models import Job, JobDependency, JobRun
from servers import actions as server_actions

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


@pytest.fixture
def operator(make_user, tenant_alpha):
    return make_user("otto", tenant_alpha, "operator")


@pytest.fixture
def client(api, operator, tenant_alpha):
    return api(operator, tenant_alpha)


@pytest.fixture
def servers():
    return [
        server_actions.create_server(
            {
                "name": f"SQL{i}",
                "host": "127.0.0.1",
                "port": 1433 + i,
                "auth_type": "sql",
                "username": "dbtools",
                "password": "x",
            },
            acting_user=None,
        )
        for i in range(3)
    ]


def script_job(servers, **extra):
    body = {
        "name": "Nightly check",
        "job_type": "custom_script",
        "configuration": {"script": "SELECT 1"},
        "schedule_type": "cron",
        "schedule_config": {"expression": "0 2 * * *"},
        "timezone": "Europe/Berlin",
        "target_type": "servers",
        "server_ids": [s.pk for s in servers],
    }
    return {**body, **extra}


def test_create_a_cron_job_plans_its_next_run_in_its_time_zone(client, servers, operator):
    r = client.post("/api/jobs", script_job(servers), format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["schedule_description"] == "At 02:00, every day (Europe/Berlin)"
    assert body["configuration"] == {"script": "SELECT 1", "database": "master"}
    assert [s["name"] for s in body["servers"]] == ["SQL0", "SQL1", "SQL2"]
    nxt = dt.datetime.fromisoformat(body["next_run_at"])
    local = nxt.astimezone(ZoneInfo("Europe/Berlin"))
    assert local.hour == 2 and local.minute == 0
    entry = ActivityLog.objects.get(action="job.created")
    assert entry.user_id == operator.pk and entry.entity_name == "Nightly check"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"schedule_config": {"expression": "61 2 * * *"}}, "schedule_config"),
        ({"schedule_config": {"expression": "0 0 30 2 *"}}, "schedule_config"),
        ({"schedule_config": "0 2 * * *"}, "schedule_config"),
        ({"timezone": "Mars/Base"}, "timezone"),
        (
            {"schedule_type": "interval", "schedule_config": {"interval_seconds": 30}},
            "schedule_config",
        ),
        (
            {"schedule_type": "interval", "schedule_config": {"interval_seconds": "60"}},
            "schedule_config",
        ),
        (
            {"schedule_type": "once", "schedule_config": {"run_at": "2020-01-01T00:00:00+00:00"}},
            "schedule_config",
        ),
        ({"schedule_type": "once", "schedule_config": {"run_at": "tomorrow"}}, "schedule_config"),
        ({"schedule_type": "event", "schedule_config": {"event": "reboot"}}, "schedule_config"),
        ({"configuration": {"script": ""}}, "configuration.script"),
        ({"configuration": {"script": "SELECT 1", "database": "a]b"}}, "configuration.database"),
        ({"configuration": {"script": "SELECT 1", "extra": 1}}, "configuration.extra"),
        ({"configuration": {}}, "configuration.script"),
        ({"server_ids": []}, "server_ids"),
        ({"server_ids": [999999]}, "server_ids"),
        ({"target_type": "group"}, "group"),
        ({"retry_delay_seconds": 600, "retry_max_delay_seconds": 60}, "retry_max_delay_seconds"),
        ({"timeout_seconds": 5}, "timeout_seconds"),
        ({"priority": 101}, "priority"),
        ({"name": "x" * 129}, "name"),
        ({"job_type": "reboot"}, "job_type"),
    ],
)
def test_bad_jobs_are_refused_with_the_field_and_nothing_is_written(client, servers, change, field):
    r = client.post("/api/jobs", script_job(servers, **change), format="json")
    assert r.status_code == 400, r.json()
    assert field in r.json(), r.json()
    assert not Job.objects.exists()
    assert not ActivityLog.objects.filter(action="job.created").exists()


def test_limits_are_accepted_at_the_limit(client, servers):
    body = script_job(
        servers,
        name="x" * 128,
        priority=100,
        timeout_seconds=10,
        schedule_type="interval",
        schedule_config={"interval_seconds": 60},
    )
    r = client.post("/api/jobs", body, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["schedule_description"] == "Every minute"


def test_names_are_unique_per_tenant_ignoring_case(client, servers):
    assert client.post("/api/jobs", script_job(servers), format="json").status_code == 201
    r = client.post("/api/jobs", script_job(servers, name="NIGHTLY CHECK"), format="json")
    assert r.status_code == 400
    assert r.json()["name"] == ["A job with this name already exists."]


def test_event_jobs_have_no_clock(client, servers):
    body = script_job(servers, schedule_type="event", schedule_config={"event": "server_added"})
    r = client.post("/api/jobs", body, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["next_run_at"] is None
    assert r.json()["schedule_description"] == "When a server is added"


def test_disable_stops_scheduling_and_enable_plans_again(client, servers):
    job = client.post("/api/jobs", script_job(servers), format="json").json()
    off = client.post(f"/api/jobs/{job['id']}/disable").json()
    assert off["is_enabled"] is False and off["next_run_at"] is None
    on = client.post(f"/api/jobs/{job['id']}/enable").json()
    assert on["is_enabled"] is True and on["next_run_at"] == job["next_run_at"]
    actions = list(ActivityLog.objects.filter(entity_type="job").values_list("action", flat=True))
    assert sorted(actions) == ["job.created", "job.disabled", "job.enabled"]


def test_next_runs_lists_dst_notes(client, servers):
    body = script_job(servers, schedule_config={"expression": "30 2 * * *"})
    job = client.post("/api/jobs", body, format="json").json()
    r = client.get(f"/api/jobs/{job['id']}/next-runs?count=5")
    assert r.status_code == 200
    assert len(r.json()["next_runs"]) == 5
    for bad in ("0", "51", "x"):
        assert client.get(f"/api/jobs/{job['id']}/next-runs?count={bad}").status_code == 400


def test_schedule_preview_before_saving_shows_the_spring_gap(client):
    r = client.post(
        "/api/jobs/schedule-preview",
        {
            "schedule_type": "cron",
            "schedule_config": {"expression": "30 2 * * *"},
            "timezone": "Europe/Berlin",
            "count": 50,
        },
        format="json",
    )
    assert r.status_code == 200, r.json()
    runs = r.json()["next_runs"]
    assert len(runs) == 50
    assert r.json()["description"] == "At 02:30, every day (Europe/Berlin)"
    bad = client.post(
        "/api/jobs/schedule-preview",
        {"schedule_type": "cron", "schedule_config": {"expression": "nope"}},
        format="json",
    )
    assert bad.status_code == 400 and "schedule_config" in bad.json()


def test_run_now_queues_a_run_once_and_overlap_is_refused(client, servers, operator):
    job = client.post("/api/jobs", script_job(servers), format="json").json()
    r = client.post(f"/api/jobs/{job['id']}/run")
    assert r.status_code == 202, r.json()
    assert r.json()["trigger"] == "manual" and r.json()["status"] == "queued"
    again = client.post(f"/api/jobs/{job['id']}/run")
    assert again.status_code == 400
    assert "already running" in again.json()["detail"][0]
    assert JobRun.objects.count() == 1
    entry = ActivityLog.objects.get(action="job.run_requested")
    assert entry.user_id == operator.pk


def test_cancel_a_queued_run(client, servers):
    job = client.post("/api/jobs", script_job(servers), format="json").json()
    run = client.post(f"/api/jobs/{job['id']}/run").json()
    r = client.post(f"/api/jobs/{job['id']}/runs/{run['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert client.post(f"/api/jobs/{job['id']}/runs/{run['id']}/cancel").status_code == 400


def test_delete_is_soft_and_cancels_queued_runs(client, servers):
    job = client.post("/api/jobs", script_job(servers), format="json").json()
    client.post(f"/api/jobs/{job['id']}/run")
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404
    stored = Job.objects.get(pk=job["id"])
    assert stored.deleted_at is not None and stored.next_run_at is None
    assert JobRun.objects.get().status == "cancelled"
    # The name is free again.
    assert client.post("/api/jobs", script_job(servers), format="json").status_code == 201


def test_dependencies_and_cycles(client, servers):
    ids = [
        client.post("/api/jobs", script_job(servers, name=n), format="json").json()["id"]
        for n in ("A", "B", "C")
    ]
    a, b, c = ids
    r = client.put(f"/api/jobs/{b}/dependencies", {"upstream": [{"job_id": a}]}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["upstream"] == [{"job_id": a, "trigger_rule": "on_success"}]
    body = {"upstream": [{"job_id": b, "trigger_rule": "on_failure"}]}
    assert client.put(f"/api/jobs/{c}/dependencies", body, format="json").status_code == 200
    cycle = client.put(f"/api/jobs/{a}/dependencies", {"upstream": [{"job_id": c}]}, format="json")
    assert cycle.status_code == 400
    assert "cycle: A → C → B → A" in cycle.json()["upstream"][0]
    itself = client.put(f"/api/jobs/{a}/dependencies", {"upstream": [{"job_id": a}]}, format="json")
    assert itself.status_code == 400
    assert JobDependency.objects.count() == 2
    down = client.get(f"/api/jobs/{a}/dependencies").json()["downstream"]
    assert down == [{"job_id": b, "trigger_rule": "on_success"}]


def test_viewers_read_but_cannot_change_jobs(api, make_user, tenant_alpha, client, servers):
    job = client.post("/api/jobs", script_job(servers), format="json").json()
    viewer = api(make_user("vera", tenant_alpha, "viewer"), tenant_alpha)
    assert viewer.get("/api/jobs").status_code == 200
    assert viewer.post(f"/api/jobs/{job['id']}/run").status_code == 403
    assert viewer.post("/api/jobs", script_job(servers, name="V"), format="json").status_code == 403


def test_list_filters_and_sorts_by_next_run(client, servers):
    now = timezone.now()
    for name, minute in (("late", 50), ("early", 10)):
        body = script_job(servers, name=name, schedule_config={"expression": f"{minute} * * * *"})
        client.post("/api/jobs", body, format="json")
    client.post("/api/jobs", script_job(servers, name="off", is_enabled=False), format="json")
    names = [
        j["name"]
        for j in client.get("/api/jobs?ordering=next_run_at&state=enabled").json()["results"]
    ]
    expected = ["early", "late"] if now.minute < 10 or now.minute >= 50 else ["late", "early"]
    assert names == expected
    off = client.get("/api/jobs?state=disabled").json()["results"]
    assert [j["name"] for j in off] == ["off"]
    assert client.get("/api/jobs?job_type=reboot").status_code == 400


def test_the_job_types_and_their_schemas_are_published(client):
    types = {t["job_type"]: t for t in client.get("/api/jobs/types").json()}
    assert set(types) == {"custom_script", "data_collection", "alert_check", "policy_execution"}
    assert types["custom_script"]["schema"]["required"] == ["script"]

"""The server list's bulk "run job": a job run now on chosen servers only, whatever its targets."""

import pytest

from core.models import ActivityLog
from scheduler import actions, engine
from scheduler.models import JobRun
from scheduler.tests.test_pages import as_role, job, servers  # noqa: F401
from servers import actions as server_actions

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


def test_a_run_on_chosen_servers_executes_there_only(job, servers):  # noqa: F811
    run = actions.run_now(job, acting_user=None, servers=[servers[1]])
    assert run.only_servers == [servers[1].pk]
    engine.start_runs()
    assert list(run.executions.values_list("server_id", flat=True)) == [servers[1].pk]
    entry = ActivityLog.objects.get(action="job.run_requested")
    assert entry.details["servers"] == [servers[1].name]


def test_a_server_outside_the_job_targets_runs_too(job):  # noqa: F811
    other = server_actions.create_server(
        {
            "name": "SQLOTHER",
            "host": "other.corp",
            "port": 1433,
            "auth_type": "sql",
            "username": "dbtools",
            "password": "x",
        }
    )
    run = actions.run_now(job, acting_user=None, servers=[other])
    engine.start_runs()
    assert list(run.executions.values_list("server_name", flat=True)) == ["SQLOTHER"]


def test_a_plain_run_now_keeps_the_job_targets(job, servers):  # noqa: F811
    run = actions.run_now(job, acting_user=None)
    engine.start_runs()
    assert run.only_servers == []
    assert run.executions.count() == len(servers)


def test_bulk_run_page_action_starts_the_run_and_shows_it(
    client,
    make_user,
    tenant_alpha,
    job,  # noqa: F811
    servers,  # noqa: F811
):
    c = as_role(client, make_user, tenant_alpha, "operator")
    r = c.post(
        "/jobs/bulk-run", {"job": job.pk, "server_ids": [servers[0].pk], "next": "/servers/?q=x"}
    )
    run = JobRun.objects.get(job=job)
    assert r.status_code == 302 and r["Location"] == f"/jobs/{job.pk}/runs/{run.pk}/"
    assert run.only_servers == [servers[0].pk]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"server_ids": ["1"]}, "Choose a job to run."),
        ({"job": "999999", "server_ids": ["1"]}, "Unknown job."),
        ({"job": "JOB"}, "Select at least one server."),
    ],
)
def test_bulk_run_refuses_what_is_missing_and_writes_nothing(
    client,
    make_user,
    tenant_alpha,
    job,  # noqa: F811
    data,
    message,
):
    c = as_role(client, make_user, tenant_alpha, "operator")
    data = {k: (str(job.pk) if v == "JOB" else v) for k, v in data.items()}
    r = c.post("/jobs/bulk-run", {**data, "next": "/servers/?q=x"}, follow=True)
    assert r.redirect_chain[0][0] == "/servers/?q=x"
    assert message in r.content.decode()
    assert not JobRun.objects.exists()


def test_viewers_cannot_bulk_run(client, make_user, tenant_alpha, job, servers):  # noqa: F811
    c = as_role(client, make_user, tenant_alpha, "viewer")
    r = c.post("/jobs/bulk-run", {"job": job.pk, "server_ids": [servers[0].pk]})
    assert r.status_code == 403
    assert not JobRun.objects.exists()

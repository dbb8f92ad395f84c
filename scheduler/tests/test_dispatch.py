"""The scheduler driven by the background engine: the due index (kind "jobs") finds the tenant,
the dispatcher visits it, executions run as tasks on the right cluster against sqlsim over TDS
(tasks run inline: Q_CLUSTER sync in tests), lost workers are recovered."""

import datetime as dt
import threading
import time

import pytest
from django.db import connections
from django.utils import timezone

from dbtools import tasks
from engine import due
from engine.models import DueWork
from scheduler import actions, dispatch, engine
from scheduler.models import Job, JobExecution, JobRun
from servers import actions as server_actions

pytestmark = [
    pytest.mark.django_db(databases="__all__", transaction=True),
    pytest.mark.usefixtures("use_alpha", "dispatching"),
]


@pytest.fixture
def server(sqlsim):
    host, port = sqlsim.address("SQLPROD01")
    return server_actions.create_server(
        {
            "name": "SQLPROD01",
            "host": host,
            "port": port,
            "auth_type": "sql",
            "username": sqlsim.login,
            "password": sqlsim.password,
        },
        acting_user=None,
    )


@pytest.fixture
def queued(monkeypatch):
    """Every task queued by the scheduler, as (function, kind); still run (inline)."""
    seen: list[tuple[str, str]] = []

    def spy(func, *args, kind="interactive", **options):
        seen.append((func.rsplit(".", 1)[-1], kind))
        return tasks.enqueue(func, *args, kind=kind, **options)

    monkeypatch.setattr("scheduler.dispatch.enqueue", spy)
    monkeypatch.setattr("scheduler.actions.enqueue", spy)
    return seen


def make_job(server, **extra):
    data = {
        "name": "check",
        "job_type": "custom_script",
        "configuration": {"script": "PRINT 'ran on the server'\nGO\nSELECT 1"},
        "schedule_type": "interval",
        "schedule_config": {"interval_seconds": 300},
        "server_ids": [server.pk],
        **extra,
    }
    return actions.create_job(data, acting_user=None)


def row(tenant):
    return DueWork.objects.get(tenant=tenant, kind="jobs")


def make_due(job, tenant):
    """Move the job back in time so that its next slot has just passed, and mark the tenant due
    (as the index would say once the slot comes)."""
    now = timezone.now()
    if job.schedule_type == "interval":
        seconds = job.schedule_config["interval_seconds"]
        slot = now - dt.timedelta(seconds=1)
        Job.objects.filter(pk=job.pk).update(
            created_at=slot - dt.timedelta(seconds=seconds), next_run_at=slot
        )
    else:
        Job.objects.filter(pk=job.pk).update(next_run_at=now.replace(second=0, microsecond=0))
    due.mark(tenant.pk, due.JOBS)


def test_creating_a_job_puts_the_tenant_in_the_due_index_at_its_next_run(server, tenant_alpha):
    job = make_job(server)
    assert row(tenant_alpha).due_at <= timezone.now()  # marked on commit: visit now
    assert dispatch.visit_due("test") == 1
    job.refresh_from_db()
    r = row(tenant_alpha)
    assert r.due_at == job.next_run_at
    assert (r.claimed_by, r.claimed_until) == ("", None)
    # Nothing due before the slot: the next poll does not visit the tenant at all.
    assert dispatch.visit_due("test") == 0


def test_a_due_interval_job_runs_its_script_on_the_routine_cluster(server, tenant_alpha, queued):
    job = make_job(server)
    dispatch.visit_due("test")
    make_due(job, tenant_alpha)
    assert dispatch.visit_due("test") == 1
    run = JobRun.objects.get(job=job)
    assert (run.trigger, run.status) == ("schedule", "succeeded"), run.reason
    ex = run.executions.get()
    assert ex.status == "succeeded" and "ran on the server" in ex.output
    assert ex.started_at is not None and ex.completed_at >= ex.started_at
    assert ("run_execution", "routine") in queued
    job.refresh_from_db()
    assert job.next_run_at > timezone.now()
    # The finished execution asked for a visit; that visit finds nothing left and parks the
    # tenant at the next slot.
    dispatch.visit_due("test")
    assert row(tenant_alpha).due_at == job.next_run_at


def test_a_cron_job_runs_through_the_dispatcher_task(server, tenant_alpha):
    job = make_job(server, schedule_type="cron", schedule_config={"expression": "* * * * *"})
    make_due(job, tenant_alpha)
    result = dispatch.dispatcher_task(seconds=1)
    assert result["visits"] >= 1
    assert JobRun.objects.get(job=job).status == "succeeded"


def test_run_now_visits_at_once_and_runs_on_the_interactive_cluster(
    server, queued, api, make_user, tenant_alpha
):
    job = make_job(server, timeout_seconds=30)
    client = api(make_user("otto", tenant_alpha, "operator"), tenant_alpha)
    started = time.monotonic()
    r = client.post(f"/api/jobs/{job.pk}/run")
    assert r.status_code == 202
    run = JobRun.objects.get(pk=r.json()["id"])
    assert (run.trigger, run.status) == ("manual", "succeeded")
    assert queued[:2] == [("visit_now", "interactive"), ("run_execution", "interactive")]
    assert time.monotonic() - started < 10


def test_run_now_of_a_long_job_runs_on_the_routine_cluster(server, queued):
    # Its time limit (30 min) is past the interactive cluster's task limit: it must not hold
    # one of the interactive workers for the whole run.
    job = make_job(server, timeout_seconds=1800)
    run = actions.run_now(job, acting_user=None)
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert queued[:2] == [("visit_now", "interactive"), ("run_execution", "routine")]


def test_a_full_node_gives_the_execution_back_and_it_runs_once_a_slot_frees(
    server, tenant_alpha, settings
):
    settings.DBTOOLS_JOBS_PER_NODE = 1
    job = make_job(server)
    run = engine.queue_run(job, "manual")
    engine.start_runs()
    [claimed] = engine.claim_executions("w1", 5)
    held, release = threading.Event(), threading.Event()

    def other_execution():  # another worker of this node, in the middle of a long execution
        try:
            with engine.node_slot() as free:
                assert free
                held.set()
                release.wait(30)
        finally:
            connections.close_all()

    t = threading.Thread(target=other_execution)
    t.start()
    assert held.wait(10)
    assert engine.execute(claimed.execution_id, "w1") == "queued"
    ex = JobExecution.objects.get(pk=claimed.execution_id)
    assert (ex.status, ex.attempt, ex.started_at, ex.claimed_by) == ("queued", 1, None, "")
    assert ex.not_before > timezone.now()  # not claimed again at once
    release.set()
    t.join(10)
    JobExecution.objects.filter(pk=ex.pk).update(not_before=None)
    [again] = engine.claim_executions("w2", 5)
    assert engine.execute(again.execution_id, "w2") == "succeeded"
    run.refresh_from_db()
    assert run.status == "succeeded"


def test_only_one_dispatcher_runs_at_a_time(tenant_alpha):
    holder_started = threading.Event()
    results: list[dict] = []

    def first():
        holder_started.set()
        results.append(dispatch.dispatcher_task(seconds=2))
        connections.close_all()

    t = threading.Thread(target=first)
    t.start()
    holder_started.wait()
    time.sleep(0.5)
    assert dispatch.running()
    assert dispatch.dispatcher_task(seconds=2) == {"skipped": "another dispatcher is running"}
    assert dispatch.tick() == {"queued": 0}
    t.join()
    assert results[0]["polls"] >= 2
    assert not dispatch.running()


def test_a_claim_whose_task_never_started_is_handed_out_again(server, tenant_alpha, monkeypatch):
    job = make_job(server)
    make_due(job, tenant_alpha)
    lost: list[tuple] = []
    monkeypatch.setattr("scheduler.dispatch.enqueue", lambda *a, **kw: lost.append(a))
    dispatch.visit_due("node-a")  # claimed, queued, and the message is lost
    ex = JobExecution.objects.get()
    assert ex.status == "running" and ex.started_at is None
    monkeypatch.undo()
    JobExecution.objects.update(claimed_until=timezone.now() - dt.timedelta(seconds=1))
    due.mark(tenant_alpha.pk, due.JOBS)
    dispatch.visit_due("node-b")
    ex.refresh_from_db()
    assert (ex.status, ex.attempt, ex.error_kind) == ("succeeded", 1, "")


def test_an_execution_whose_worker_died_is_interrupted_and_retried(
    server, tenant_alpha, monkeypatch
):
    job = make_job(
        server,
        retry_attempts=1,
        retry_backoff="fixed",
        retry_delay_seconds=1,
        retry_max_delay_seconds=1,
    )
    make_due(job, tenant_alpha)
    died: list[tuple] = []
    monkeypatch.setattr("scheduler.dispatch.enqueue", lambda *a, **kw: died.append(a))
    dispatch.visit_due("node-a")
    _, execution_id, owner = died[0][1:]
    assert engine.begin(execution_id, owner)  # the worker started, then was SIGKILLed
    monkeypatch.undo()
    # The tenant is due again around when the claim runs out, whatever else happens there.
    assert dispatch.visit_due("node-b") == 0
    claimed_until = JobExecution.objects.get().claimed_until
    assert timezone.now() + dt.timedelta(seconds=30) < row(tenant_alpha).due_at <= claimed_until
    # Time passes: the claim runs out without renewal, and the index says so.
    past = timezone.now() - dt.timedelta(seconds=1)
    JobExecution.objects.update(claimed_until=past)
    DueWork.objects.filter(tenant=tenant_alpha, kind="jobs").update(due_at=past)
    dispatch.visit_due("node-b")
    assert dispatch.visit_due("node-b") == 0
    ex = JobExecution.objects.get()
    assert (ex.status, ex.attempt, ex.error_kind) == ("queued", 2, "interrupted")
    assert row(tenant_alpha).due_at == ex.not_before
    time.sleep(1.1)
    dispatch.visit_due("node-b")
    ex.refresh_from_db()
    run = JobRun.objects.get(job=job)
    assert (ex.status, ex.attempt, run.status) == ("succeeded", 2, "succeeded")


def test_a_failing_script_retries_with_backoff_then_fails_with_the_servers_error(
    sqlsim_factory, tenant_alpha
):
    from sqlsim.instance import InstanceConfig

    fleet = sqlsim_factory([InstanceConfig(name="SQLJOBS01", port=0)])
    host, port = fleet.address("SQLJOBS01")
    target = server_actions.create_server(
        {
            "name": "SQLJOBS01",
            "host": host,
            "port": port,
            "auth_type": "sql",
            "username": fleet.login,
            "password": fleet.password,
        },
        acting_user=None,
    )
    script = "PRINT 'archiving';\nTHROW 51000, 'The archive share is full.', 1;"
    job = make_job(
        target,
        name="archive",
        configuration={"script": script, "database": "msdb"},
        retry_attempts=2,
        retry_backoff="fixed",
        retry_delay_seconds=1,
        retry_max_delay_seconds=1,
    )
    fleet.clear_statements("SQLJOBS01")
    make_due(job, tenant_alpha)
    dispatch.visit_due("node")
    ex = JobExecution.objects.get()
    assert (ex.status, ex.attempt) == ("queued", 2)
    # The visit the failure asked for leaves it waiting out its back-off, and parks the tenant
    # in the index until then.
    dispatch.visit_due("node")
    ex.refresh_from_db()
    assert (ex.status, ex.attempt) == ("queued", 2)
    assert row(tenant_alpha).due_at == ex.not_before > timezone.now()
    for _ in range(2):
        time.sleep(1.1)
        dispatch.visit_due("node")
    ex.refresh_from_db()
    run = JobRun.objects.get(job=job, trigger="schedule", status__in=["failed", "succeeded"])
    assert (ex.status, ex.attempt, run.status) == ("failed", 3, "failed")
    assert ex.error_kind == "query_failed"
    assert "The archive share is full." in ex.error_message
    assert "(error 51000)" in ex.error_message
    assert ex.result["error_number"] == 51000
    assert "archiving" in ex.output
    # What the server received: the script in its database, once per attempt, nothing more.
    sent = [s["sql"] for s in fleet.statements("SQLJOBS01") if s["kind"] == "batch"]
    assert [s for s in sent if s.startswith(("USE", "PRINT"))] == ["USE [msdb]", script] * 3


def test_an_event_marks_the_tenant_and_its_jobs_run(server, tenant_alpha):
    job = make_job(server, schedule_type="event", schedule_config={"event": "server_added"})
    dispatch.visit_due("test")
    assert row(tenant_alpha).due_at is None  # an event job has no slot
    assert len(engine.fire_event("server_added", {"server_id": server.pk})) == 1
    assert row(tenant_alpha).due_at <= timezone.now()
    dispatch.visit_due("test")
    assert JobRun.objects.get(job=job).status == "succeeded"

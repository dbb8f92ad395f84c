"""The scheduler engine against a real tenant database and sqlsim over TDS, with the clock passed
in: firing once, misfires, overlap, priorities under limits, per-server exclusion, scripts with
their output, failures, retries, timeouts and cancels on the server, recovery, dependencies."""

import datetime as dt
import threading
import time

import pytest
from django.db import connections
from django.utils import timezone

from core.models import ActivityLog
from dbtools import tenancy
from dbtools.errors import ActionError
from scheduler import actions, engine, timing
from scheduler.models import Job, JobExecution, JobRun
from servers import actions as server_actions

pytestmark = [
    pytest.mark.django_db(databases="__all__", transaction=True),
    pytest.mark.usefixtures("use_alpha"),
]

UTC = dt.UTC


@pytest.fixture
def fleet(sqlsim):
    def add(name, password=None):
        host, port = sqlsim.address(name)
        return server_actions.create_server(
            {
                "name": name,
                "host": host,
                "port": port,
                "auth_type": "sql",
                "username": sqlsim.login,
                "password": password or sqlsim.password,
            },
            acting_user=None,
        )

    return add


@pytest.fixture
def two(fleet):
    return [fleet("SQLPROD01"), fleet("SQLPROD02")]


def make_job(servers, name="job", script="PRINT 'hello'", **extra):
    data = {
        "name": name,
        "job_type": "custom_script",
        "configuration": {"script": script},
        "schedule_type": "cron",
        "schedule_config": {"expression": "*/5 * * * *"},
        "server_ids": [s.pk for s in servers],
        **extra,
    }
    return actions.create_job(data, acting_user=None)


def run_all(owner="w1", now=None, capacity=10):
    """One engine pass, then every claimed execution run to its end, as workers would."""
    claimed = engine.step(owner, capacity, now)
    for c in claimed:
        engine.execute(c.execution_id, owner)
    return claimed


def five_minute_mark():
    now = timezone.now().replace(second=0, microsecond=0)
    return now - dt.timedelta(minutes=now.minute % 5)


def due_now(job, at):
    Job.objects.filter(pk=job.pk).update(next_run_at=at)
    job.refresh_from_db()


# -- firing ---------------------------------------------------------------------------------------
def test_two_engines_racing_fire_a_slot_once(two, tenant_alpha):
    job = make_job(two)
    slot = timezone.now().replace(second=0, microsecond=0)
    due_now(job, slot)
    barrier = threading.Barrier(2)
    fired: list[list[int]] = []

    def engine_node():
        with tenancy.use_tenant(tenant_alpha):
            barrier.wait()
            fired.append(engine.fire_due(slot + dt.timedelta(seconds=1)))
        connections.close_all()

    threads = [threading.Thread(target=engine_node) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(f) for f in fired) == [0, 1]
    assert JobRun.objects.filter(job=job).count() == 1
    job.refresh_from_db()
    assert job.next_run_at == timing.next_run(job.schedule(), slot + dt.timedelta(seconds=1))


def test_after_downtime_run_once_records_the_missed_slots_without_a_burst(two):
    job = make_job(two)
    now = five_minute_mark()
    due_now(job, now - dt.timedelta(hours=1))
    engine.fire_due(now + dt.timedelta(seconds=30))
    runs = {r.status: r for r in JobRun.objects.filter(job=job)}
    assert set(runs) == {"queued", "missed"}
    assert runs["missed"].missed_slots == 12
    assert "ran once instead" in runs["missed"].reason


def test_after_downtime_skip_runs_nothing_and_waits_for_the_next_slot(two):
    job = make_job(two, misfire_policy="skip")
    now = five_minute_mark()
    due_now(job, now - dt.timedelta(hours=1))
    assert engine.fire_due(now + dt.timedelta(seconds=30)) == []
    assert list(JobRun.objects.values_list("status", "missed_slots")) == [("missed", 13)]
    job.refresh_from_db()
    assert job.next_run_at == now + dt.timedelta(minutes=5)


def test_overlap_skip_records_why(two):
    job = make_job(two)
    actions.run_now(job, acting_user=None)
    due_now(job, timezone.now())
    engine.fire_due()
    skipped = JobRun.objects.get(status="skipped")
    assert skipped.reason == "The previous run was still active."


def test_overlap_queue_one_keeps_one_waiting(two):
    job = make_job(two, overlap_policy="queue_one")
    engine.queue_run(job, "manual")
    JobRun.objects.update(status="running")
    assert engine.queue_run(job, "manual").status == "queued"
    assert engine.queue_run(job, "manual").status == "skipped"


# -- limits ---------------------------------------------------------------------------------------
def test_priorities_under_the_tenant_limit(two, settings):
    settings.DBTOOLS_JOBS_PER_TENANT = 2
    jobs = [make_job(two, name=f"j{p}", priority=p) for p in (1, 5, 3)]
    for job in jobs:
        actions.run_now(job, acting_user=None)
    started = engine.start_runs()
    started_jobs = sorted(JobRun.objects.get(pk=r).job.priority for r in started)
    assert started_jobs == [3, 5]
    assert engine.start_runs() == []  # at the limit


def test_heavy_jobs_never_overlap_on_one_server(two, settings):
    settings.DBTOOLS_JOBS_PER_SERVER = 5
    a = make_job(two[:1], name="rebuild", heavy=True)
    b = make_job(two[:1], name="checkdb", heavy=True)
    c = make_job(two[:1], name="light")
    for job in (a, b, c):
        actions.run_now(job, acting_user=None)
    engine.start_runs()
    claimed = engine.claim_executions("w1", 10)
    names = sorted(Job.objects.get(pk=x.job_id).name for x in claimed)
    assert names == ["light", "rebuild"]


def test_per_server_limit_at_and_past_it(two, settings):
    settings.DBTOOLS_JOBS_PER_SERVER = 1
    for n in range(3):
        actions.run_now(make_job(two, name=f"j{n}"), acting_user=None)
    engine.start_runs()
    claimed = engine.claim_executions("w1", 10)
    assert sorted(x.server_id for x in claimed) == sorted(s.pk for s in two)
    assert engine.claim_executions("w2", 10) == []


# -- executing on sqlsim --------------------------------------------------------------------------
def test_a_script_runs_on_each_server_and_keeps_its_output(two):
    job = make_job(two, script="PRINT 'checked'\nGO\nRAISERROR('note', 10, 1);\nSELECT 1")
    run = actions.run_now(job, acting_user=None)
    run_all()
    run.refresh_from_db()
    assert run.status == "succeeded", list(run.executions.values("status", "error_message"))
    for ex in run.executions.all():
        assert "checked" in ex.output
        assert "note" in ex.output
        assert ex.result["batches"] == 2
    assert ActivityLog.objects.filter(action="job.run_succeeded").count() == 1


def test_a_failing_script_fails_with_the_servers_error_and_is_not_retried_past_attempts(two):
    job = make_job(two[:1], script="PRINT 'before'\nGO\nRAISERROR('disk is full', 16, 1)")
    run = actions.run_now(job, acting_user=None)
    run_all()
    run.refresh_from_db()
    assert run.status == "failed"
    ex = run.executions.get()
    assert ex.status == "failed"
    assert "disk is full" in ex.error_message
    assert "before" in ex.output
    assert ex.attempt == 1


def test_retries_with_backoff_then_fail(two):
    job = make_job(
        two[:1],
        script="RAISERROR('busy', 16, 1)",
        retry_attempts=2,
        retry_backoff="fixed",
        retry_delay_seconds=30,
        retry_max_delay_seconds=30,
    )
    run = actions.run_now(job, acting_user=None)
    now = timezone.now()
    run_all(now=now)
    ex = run.executions.get()
    assert (ex.status, ex.attempt) == ("queued", 2)
    assert ex.not_before == pytest.approx(
        now + dt.timedelta(seconds=30), abs=dt.timedelta(seconds=2)
    )
    assert run_all(now=now + dt.timedelta(seconds=10)) == []  # back-off not over
    run_all(now=now + dt.timedelta(seconds=31))
    run_all(now=now + dt.timedelta(seconds=120))
    ex.refresh_from_db()
    run.refresh_from_db()
    assert (ex.status, ex.attempt, run.status) == ("failed", 3, "failed")


def test_errors_that_cannot_succeed_are_not_retried(fleet):
    bad = fleet("SQLPROD03", password="wrong")
    job = make_job([bad], retry_attempts=3)
    run = actions.run_now(job, acting_user=None)
    run_all()
    ex = run.executions.get()
    assert (ex.status, ex.error_kind, ex.attempt) == ("failed", "login_failed", 1)


def test_exponential_backoff_doubles_with_jitter_and_is_capped(two):
    import random

    job = Job(retry_backoff="exponential", retry_delay_seconds=10, retry_max_delay_seconds=60)
    rng = random.Random(1)
    delays = [engine.backoff(job, n, rng) for n in (1, 2, 3, 4, 5)]
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20 and 20 <= delays[2] <= 40
    assert all(30 <= d <= 60 for d in delays[3:])


def test_timeout_cancels_the_statement_on_the_server(two, sqlsim):
    job = make_job(two[:1], script="PRINT 'start'\nGO\nWAITFOR DELAY '00:00:30'")
    Job.objects.filter(pk=job.pk).update(timeout_seconds=2)
    before = sqlsim.stats("SQLPROD01")["attentions"]
    run = actions.run_now(job, acting_user=None)
    started = time.monotonic()
    run_all()
    assert time.monotonic() - started < 8
    ex = run.executions.get()
    assert ex.status == "timed_out", ex.error_message
    assert "start" in ex.output
    run.refresh_from_db()
    assert run.status == "timed_out"
    assert sqlsim.stats("SQLPROD01")["attentions"] > before


def test_cancel_stops_the_running_statement(two, sqlsim, tenant_alpha):
    job = make_job(two[:1], script="WAITFOR DELAY '00:00:30'")
    run = actions.run_now(job, acting_user=None)
    claimed = engine.step("w1", 5)
    result: list[str] = []

    def worker():
        with tenancy.use_tenant(tenant_alpha):
            result.append(engine.execute(claimed[0].execution_id, "w1"))
        connections.close_all()

    t = threading.Thread(target=worker)
    started = time.monotonic()
    t.start()
    time.sleep(1)
    actions.cancel_run(run, acting_user=None)
    t.join(15)
    assert result == ["cancelled"]
    assert time.monotonic() - started < 6
    assert JobExecution.objects.get().status == "cancelled"


# -- recovery, dependencies, events, targets ------------------------------------------------------
def test_an_execution_whose_worker_died_is_interrupted_then_retried(two):
    job = make_job(
        two[:1],
        retry_attempts=1,
        retry_backoff="fixed",
        retry_delay_seconds=1,
        retry_max_delay_seconds=1,
    )
    run = actions.run_now(job, acting_user=None)
    claimed = engine.step("dead-worker", 5)
    assert len(claimed) == 1
    assert engine.begin(claimed[0].execution_id, "dead-worker")  # started, then died
    later = timezone.now() + dt.timedelta(seconds=engine.CLAIM_SECONDS + 1)
    assert engine.recover(later) == 1
    ex = run.executions.get()
    assert (ex.status, ex.attempt, ex.error_kind) == ("queued", 2, "interrupted")
    run_all(now=later + dt.timedelta(seconds=2))
    run.refresh_from_db()
    assert run.status == "succeeded"


def test_an_interrupted_execution_without_retries_fails_its_run(two):
    job = make_job(two[:1])
    run = actions.run_now(job, acting_user=None)
    claimed = engine.step("dead-worker", 5)
    engine.begin(claimed[0].execution_id, "dead-worker")
    engine.recover(timezone.now() + dt.timedelta(seconds=engine.CLAIM_SECONDS + 1))
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.executions.get().status == "interrupted"


def test_dependencies_follow_their_trigger_rules(two):
    a = make_job(two[:1], name="A", script="RAISERROR('no', 16, 1)")
    b = make_job(two[:1], name="B")
    c = make_job(two[:1], name="C")
    actions.set_dependencies(b, [(a.pk, "on_success")], acting_user=None)
    actions.set_dependencies(c, [(a.pk, "on_failure")], acting_user=None)
    actions.run_now(a, acting_user=None)
    run_all()
    b_run = JobRun.objects.get(job=b)
    assert b_run.status == "skipped"
    assert b_run.reason == "A failed; this job runs when it succeeds."
    c_run = JobRun.objects.get(job=c)
    assert (c_run.status, c_run.trigger) == ("queued", "dependency")
    run_all()
    c_run.refresh_from_db()
    assert c_run.status == "succeeded"


def test_event_jobs_run_when_their_event_happens(two):
    job = make_job(two[:1], schedule_type="event", schedule_config={"event": "job_failed"})
    failing = make_job(two[:1], name="fails", script="RAISERROR('x', 16, 1)")
    actions.run_now(failing, acting_user=None)
    run_all()
    assert JobRun.objects.get(job=job).trigger == "event"


def test_group_targets_are_resolved_at_each_run(fleet):
    from servers.actions import add_to_group, create_group

    first = fleet("SQLPROD01")
    group = create_group("Prod")
    add_to_group(group, [first])
    job = actions.create_job(
        {
            "name": "g",
            "job_type": "custom_script",
            "configuration": {"script": "SELECT 1"},
            "schedule_type": "cron",
            "schedule_config": {"expression": "0 2 * * *"},
            "target_type": "group",
            "group": group,
        },
        acting_user=None,
    )
    actions.run_now(job, acting_user=None)
    run_all()
    add_to_group(group, [fleet("SQLPROD02")])
    second = actions.run_now(job, acting_user=None)
    run_all()
    assert sorted(second.executions.values_list("server_name", flat=True)) == [
        "SQLPROD01",
        "SQLPROD02",
    ]


def test_next_due_says_when_the_tenant_has_scheduler_work(two):
    assert engine.next_due() is None
    job = make_job(two)
    assert engine.next_due() == job.next_run_at
    actions.run_now(job, acting_user=None)
    assert engine.next_due() <= timezone.now()


# -- the wizard's test run ------------------------------------------------------------------------
def test_a_test_run_runs_the_script_once_and_is_logged_without_a_run(two):
    data = {"name": "Try", "configuration": {"script": "PRINT 'tried'\nGO\nSELECT 1"}}
    outcome = actions.test_script(data, two[0], acting_user=None, seconds=10)
    assert outcome.status == "succeeded" and "tried" in outcome.output
    assert ActivityLog.objects.filter(action="job.test_run", entity_name="SQLPROD01").count() == 1
    assert not JobRun.objects.exists() and not JobExecution.objects.exists()


def test_a_test_run_shows_the_servers_error(two):
    data = {"configuration": {"script": "THROW 51000, 'No share.', 1;"}}
    outcome = actions.test_script(data, two[0], acting_user=None, seconds=10)
    assert outcome.status == "failed" and "No share. (error 51000)" in outcome.error_message


def test_a_test_run_past_its_limit_is_cancelled_on_the_server(two, sqlsim):
    before = sqlsim.stats("SQLPROD01")["attentions"]
    data = {"configuration": {"script": "WAITFOR DELAY '00:00:30';"}}
    started = time.monotonic()
    outcome = actions.test_script(data, two[0], acting_user=None, seconds=2)
    assert outcome.status == "timed_out"
    assert time.monotonic() - started < 10
    assert sqlsim.stats("SQLPROD01")["attentions"] > before


def test_a_test_run_refuses_a_bad_configuration(two):
    with pytest.raises(ActionError) as err:
        actions.test_script({"configuration": {"script": ""}}, two[0], acting_user=None, seconds=5)
    assert "configuration.script" in err.value.errors
    assert not ActivityLog.objects.filter(action="job.test_run").exists()

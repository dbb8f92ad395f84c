"""Jobs pages through Django's test client: what each role sees and may do, the form and its
schedule preview, the list's filters. The run itself is held (no dispatch) unless a test asks."""

import pytest

from core.models import ActivityLog
from scheduler import actions
from scheduler.models import Job, JobRun
from servers import actions as server_actions

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


@pytest.fixture
def servers():
    return [
        server_actions.create_server(
            {
                "name": f"SQL{i}",
                "host": f"sql{i}.corp",
                "port": 1433,
                "auth_type": "sql",
                "username": "dbtools",
                "password": "x",
            }
        )
        for i in range(2)
    ]


@pytest.fixture
def job(servers):
    return actions.create_job(
        {
            "name": "Nightly check",
            "job_type": "custom_script",
            "configuration": {"script": "PRINT 'hi'"},
            "schedule_type": "cron",
            "schedule_config": {"expression": "0 2 * * *"},
            "timezone": "Europe/Berlin",
            "server_ids": [s.pk for s in servers],
        },
        acting_user=None,
    )


def as_role(client, make_user, tenant, role):
    client.force_login(make_user(f"u-{role}", tenant, role))
    return client


def form_data(servers, **extra):
    data = {
        "name": "Weekly integrity",
        "job_type": "custom_script",
        "script": "DBCC CHECKDB WITH NO_INFOMSGS",
        "database": "master",
        "target_type": "servers",
        "servers": [str(s.pk) for s in servers],
        "schedule_type": "cron",
        "expression": "0 3 * * 0",
        "timezone": "Europe/Berlin",
        "timeout_seconds": "1800",
        "retry_attempts": "2",
        "retry_backoff": "exponential",
        "retry_delay_seconds": "60",
        "retry_max_delay_seconds": "3600",
        "priority": "5",
        "overlap_policy": "skip",
        "misfire_policy": "run_once",
        "is_enabled": "on",
    }
    return {**data, **extra}


def test_list_shows_schedule_in_words_targets_and_next_run(client, make_user, tenant_alpha, job):
    c = as_role(client, make_user, tenant_alpha, "viewer")
    r = c.get("/jobs/")
    assert r.status_code == 200
    body = r.content.decode()
    assert "Nightly check" in body and "At 02:00, every day (Europe/Berlin)" in body
    assert "SQL0, SQL1" in body and "never run" in body and "Enabled" in body
    # A viewer sees no actions.
    assert "Run now" not in body and "New job" not in body


def test_list_filters_and_last_run_status(client, make_user, tenant_alpha, job, servers):
    other = actions.create_job(
        {
            "name": "Collect",
            "job_type": "data_collection",
            "schedule_type": "interval",
            "schedule_config": {"interval_seconds": 600},
            "server_ids": [servers[0].pk],
        },
        acting_user=None,
    )
    JobRun.objects.create(
        job=other, trigger="schedule", status="failed", scheduled_for=job.created_at
    )
    c = as_role(client, make_user, tenant_alpha, "viewer")
    body = c.get("/jobs/?job_type=custom_script").content.decode()
    assert "Nightly check" in body and ">Collect<" not in body
    failed = c.get("/jobs/?state=failed").content.decode()
    assert ">Collect<" in failed and "Nightly check" not in failed
    assert 'data-last-status="failed"' in failed and "Failed" in failed
    partial = c.get("/jobs/?state=failed", HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="job-rows"')


def test_operator_runs_now_and_viewer_may_not(client, make_user, tenant_alpha, job):
    viewer = as_role(client, make_user, tenant_alpha, "viewer")
    assert viewer.post(f"/jobs/{job.pk}/run").status_code == 403
    op = as_role(client, make_user, tenant_alpha, "operator")
    r = op.post(f"/jobs/{job.pk}/run")
    run = JobRun.objects.get(job=job)
    assert r.status_code == 302 and r["Location"] == f"/jobs/{job.pk}/runs/{run.pk}/"
    page = op.get(r["Location"]).content.decode()
    assert "data-live-url" in page and "Cancel run" in page and "Queued" in page
    # Operators do not edit.
    assert op.get(f"/jobs/{job.pk}/edit").status_code == 403
    r = op.post(f"/jobs/{job.pk}/runs/{run.pk}/cancel")
    run.refresh_from_db()
    assert run.status == "cancelled"
    finished = op.get(f"/jobs/{job.pk}/runs/{run.pk}/").content.decode()
    assert "data-live-url" not in finished and "Cancelled" in finished


def test_enable_and_disable(client, make_user, tenant_alpha, job):
    op = as_role(client, make_user, tenant_alpha, "operator")
    op.post(f"/jobs/{job.pk}/enabled", {"enabled": "0"})
    job.refresh_from_db()
    assert not job.is_enabled and job.next_run_at is None
    assert "Disabled: nothing is scheduled." in op.get(f"/jobs/{job.pk}/").content.decode()
    r = op.post(f"/jobs/{job.pk}/enabled", {"enabled": "1", "next": "/jobs/?state=enabled"})
    assert r["Location"] == "/jobs/?state=enabled"
    job.refresh_from_db()
    assert job.is_enabled and job.next_run_at is not None
    # Never off to another site.
    r = op.post(f"/jobs/{job.pk}/enabled", {"enabled": "1", "next": "https://evil.example/jobs/"})
    assert r["Location"] == f"/jobs/{job.pk}/"


def test_admin_creates_a_job_with_the_form(client, make_user, tenant_alpha, servers):
    admin = as_role(client, make_user, tenant_alpha, "admin")
    page = admin.get("/jobs/new").content.decode()
    assert "Next 5 runs" in page
    r = admin.post("/jobs/new", form_data(servers, go="save", step="5"))
    job = Job.objects.get(name="Weekly integrity")
    assert r.status_code == 302 and r["Location"] == f"/jobs/{job.pk}/"
    assert job.schedule_config == {"expression": "0 3 * * 0"}
    assert job.configuration == {"script": "DBCC CHECKDB WITH NO_INFOMSGS", "database": "master"}
    assert set(job.servers.values_list("pk", flat=True)) == {s.pk for s in servers}
    assert (job.retry_attempts, job.priority, job.timezone) == (2, 5, "Europe/Berlin")
    assert ActivityLog.objects.filter(action="job.created").exists()
    detail = admin.get(r["Location"]).content.decode()
    assert "At 03:00, only on Sunday (Europe/Berlin)" in detail


def test_form_errors_come_back_on_their_fields(client, make_user, tenant_alpha, servers):
    admin = as_role(client, make_user, tenant_alpha, "admin")
    r = admin.post(
        "/jobs/new", form_data(servers, expression="61 2 * * *", script="", go="save", step="5")
    )
    assert r.status_code == 400
    body = r.content.decode()
    # Back on the first step with an error (the script's), and only its errors shown.
    assert '<input type="hidden" name="step" value="2">' in body
    assert "This field may not be blank." in body
    assert not Job.objects.exists()
    r = admin.post("/jobs/new", form_data(servers, timezone="Mars/Olympus", go="save", step="5"))
    assert r.status_code == 400 and "An IANA time zone" in r.content.decode()
    assert '<input type="hidden" name="step" value="3">' in r.content.decode()


def test_admin_edits_and_deletes(client, make_user, tenant_alpha, job):
    admin = as_role(client, make_user, tenant_alpha, "admin")
    page = admin.get(f"/jobs/{job.pk}/edit").content.decode()
    assert 'value="Nightly check"' in page and "PRINT &#x27;hi&#x27;" in page
    data = form_data(
        list(job.servers.all()),
        name="Nightly check",
        schedule_type="interval",
        interval_seconds="900",
        go="save",
    )
    r = admin.post(f"/jobs/{job.pk}/edit", data)
    assert r.status_code == 302
    job.refresh_from_db()
    assert job.schedule_config == {"interval_seconds": 900}
    admin.post(f"/jobs/{job.pk}/delete")
    job.refresh_from_db()
    assert job.deleted_at is not None
    assert admin.get(f"/jobs/{job.pk}/").status_code == 404


def test_schedule_preview_words_next_runs_and_dst_notes(client, make_user, tenant_alpha):
    c = as_role(client, make_user, tenant_alpha, "viewer")
    r = c.get(
        "/jobs/schedule-preview",
        {"schedule_type": "cron", "expression": "30 2 * * *", "timezone": "Europe/Berlin"},
    )
    body = r.content.decode()
    assert r.status_code == 200 and "At 02:30, every day (Europe/Berlin)" in body
    assert body.count("<li>") == 5 and "CET" in body
    bad = c.get(
        "/jobs/schedule-preview", {"schedule_type": "cron", "expression": "nope", "timezone": "UTC"}
    ).content.decode()
    assert 'role="alert"' in bad
    every = c.get(
        "/jobs/schedule-preview",
        {"schedule_type": "interval", "interval_seconds": "900", "timezone": "UTC"},
    )
    assert "Every 15 minutes" in every.content.decode()


def step_shown(response) -> int:
    body = response.content.decode()
    marker = '<input type="hidden" name="step" value="'
    return int(body.split(marker, 1)[1].split('"', 1)[0])


def test_next_checks_the_step_it_leaves_and_not_the_ones_after(
    client, make_user, tenant_alpha, servers
):
    admin = as_role(client, make_user, tenant_alpha, "admin")
    data = {**form_data(servers, script=""), "servers": []}
    r = admin.post("/jobs/new", {**data, "step": "1", "go": "next"})
    assert r.status_code == 200 and step_shown(r) == 2
    body = r.content.decode()
    assert "may not be blank" not in body and "Choose at least one server" not in body
    r = admin.post("/jobs/new", {**data, "step": "2", "go": "next"})
    assert r.status_code == 400 and step_shown(r) == 2
    body = r.content.decode()
    assert "This field may not be blank." in body and "Choose at least one server." in body
    r = admin.post("/jobs/new", {**data, "name": "", "step": "2", "go": "next"})
    assert step_shown(r) == 1 and "This field is required." in r.content.decode()
    assert not Job.objects.exists()


def test_back_keeps_what_was_typed_without_errors(client, make_user, tenant_alpha, servers):
    admin = as_role(client, make_user, tenant_alpha, "admin")
    data = form_data(servers, script="", name="Keep me")
    r = admin.post("/jobs/new", {**data, "step": "3", "go": "back"})
    assert r.status_code == 200 and step_shown(r) == 2
    body = r.content.decode()
    assert 'value="Keep me"' in body and "may not be blank" not in body


def test_review_lists_the_targets_and_offers_a_test_run(client, make_user, tenant_alpha, servers):
    admin = as_role(client, make_user, tenant_alpha, "admin")
    r = admin.post("/jobs/new", {**form_data(servers), "step": "4", "go": "next"})
    assert r.status_code == 200 and step_shown(r) == 5
    body = r.content.decode()
    assert "SQL0, SQL1" in body and "At 03:00, only on Sunday (Europe/Berlin)" in body
    assert 'name="test_server"' in body and "Create job" in body
    assert not Job.objects.exists()  # nothing saved before the last step


def test_a_test_run_needs_a_server_and_is_for_admins(client, make_user, tenant_alpha, servers):
    op = as_role(client, make_user, tenant_alpha, "operator")
    assert op.post("/jobs/test-run", form_data(servers)).status_code == 403
    admin = as_role(client, make_user, tenant_alpha, "admin")
    r = admin.post("/jobs/test-run", form_data(servers))
    assert "Choose a server to test on." in r.content.decode()
    assert admin.get("/jobs/test-run").status_code == 405


def test_a_policy_job_picks_an_active_policy(client, make_user, tenant_alpha, servers):
    from policies import actions as policy_actions

    policy = policy_actions.create_policy(
        {
            "name": "Nightly CHECKDB",
            "policy_type": "integrity_check",
            "status": "active",
            "configuration": {},
        },
        acting_user=None,
    )
    admin = as_role(client, make_user, tenant_alpha, "admin")
    page = admin.get("/jobs/new").content.decode()
    assert "Nightly CHECKDB v1 (integrity check)" in page
    data = form_data(servers, job_type="policy_execution", script="")
    r = admin.post("/jobs/new", {**data, "step": "2", "go": "next"})
    assert step_shown(r) == 2 and "Choose a policy." in r.content.decode()
    data["policy"] = f"{policy.pk}:integrity_check"
    r = admin.post("/jobs/new", {**data, "step": "5", "go": "save"})
    assert r.status_code == 302
    job = Job.objects.get(name="Weekly integrity")
    assert job.configuration == {
        "policy_id": policy.pk,
        "policy_version": 1,
        "task": "integrity_check",
    }
    edit = admin.get(f"/jobs/{job.pk}/edit").content.decode()
    assert f'value="{policy.pk}:integrity_check" selected' in edit
    # A new version of the policy: saving the job's other fields keeps the version it runs.
    policy_actions.update_policy(
        policy, {"configuration": {"physical_only": True}}, acting_user=None
    )
    r = admin.post(f"/jobs/{job.pk}/edit", {**data, "priority": "9", "step": "5", "go": "save"})
    assert r.status_code == 302
    job.refresh_from_db()
    assert (job.priority, job.configuration["policy_version"]) == (9, 1)


def test_job_page_timeline_has_past_and_planned_runs_by_day(client, make_user, tenant_alpha, job):
    run = actions.run_now(job, acting_user=None)
    c = as_role(client, make_user, tenant_alpha, "viewer")
    body = c.get(f"/jobs/{job.pk}/").content.decode()
    timeline = body.split('id="job-timeline"', 1)[1].split("</section>", 1)[0]
    assert timeline.count('class="tl-day') == 7
    assert f'href="/jobs/{job.pk}/runs/{run.pk}/"' in timeline  # today's run, queued
    assert timeline.count('data-status="planned"') >= 6  # 02:00 Berlin on the coming days
    assert "02:00" in timeline and "(Europe/Berlin)" in timeline
    earlier = c.get(f"/jobs/{job.pk}/", {"from": "2020-01-01"}).content.decode()
    part = earlier.split('id="job-timeline"', 1)[1].split("</section>", 1)[0]
    assert "Wed 1 Jan" in part and 'data-status="planned"' not in part


def test_fleet_timeline_sums_up_busy_days_and_filters(
    client, make_user, tenant_alpha, job, servers
):
    actions.create_job(
        {
            "name": "Every quarter hour",
            "job_type": "custom_script",
            "configuration": {"script": "SELECT 1"},
            "schedule_type": "interval",
            "schedule_config": {"interval_seconds": 900},
            "server_ids": [servers[0].pk],
        },
        acting_user=None,
    )
    c = as_role(client, make_user, tenant_alpha, "viewer")
    body = c.get("/jobs/timeline").content.decode()
    assert "Nightly check" in body and "Every quarter hour" in body
    assert "96 planned" in body  # a full day every 15 minutes, summed up
    only = c.get("/jobs/timeline", {"q": "quarter"}).content.decode()
    assert "Nightly check" not in only and "Every quarter hour" in only


def test_an_executions_details_as_a_page_and_as_a_dialog_part(client, make_user, tenant_alpha, job):
    from scheduler import engine

    run = actions.run_now(job, acting_user=None)
    engine.start_runs()
    ex = run.executions.order_by("server_name").first()
    ex.status, ex.error_kind, ex.error_message = "failed", "login_failed", "Login failed for x."
    ex.result, ex.output = {"error_number": 18456}, "PRINT before"
    ex.save()
    c = as_role(client, make_user, tenant_alpha, "viewer")
    url = f"/jobs/{job.pk}/runs/{run.pk}/executions/{ex.pk}/"
    page = c.get(url).content.decode()
    assert "<html" in page and "Login failed for x." in page
    assert "not retried" in page and "&quot;error_number&quot;: 18456" in page
    part = c.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in part and 'id="execution-status"' in part
    detail = c.get(f"/jobs/{job.pk}/").content.decode()
    assert f'data-execution-dialog="{ex.pk}"' in detail
    assert c.get(f"/jobs/{job.pk}/runs/{run.pk}/executions/999999/").status_code == 404


def dep_data(rows):
    data = {"dep-TOTAL_FORMS": str(len(rows)), "dep-INITIAL_FORMS": "0", "go": "save"}
    for i, (upstream, rule) in enumerate(rows):
        data[f"dep-{i}-upstream"] = str(upstream) if upstream else ""
        data[f"dep-{i}-trigger_rule"] = rule
    return data


def test_dependencies_are_edited_on_the_page_and_a_cycle_is_refused(
    client, make_user, tenant_alpha, job, servers
):
    other = actions.create_job(
        {
            "name": "Archive",
            "job_type": "custom_script",
            "configuration": {"script": "SELECT 1"},
            "schedule_type": "cron",
            "schedule_config": {"expression": "0 4 * * *"},
            "server_ids": [servers[0].pk],
        },
        acting_user=None,
    )
    admin = as_role(client, make_user, tenant_alpha, "admin")
    page = admin.get(f"/jobs/{other.pk}/dependencies").content.decode()
    assert "Nightly check" in page and 'name="dep-1-upstream"' in page  # blank rows to fill
    r = admin.post(
        f"/jobs/{other.pk}/dependencies", dep_data([(job.pk, "on_failure"), (None, "on_success")])
    )
    assert r.status_code == 302
    assert list(other.upstream_links.values_list("upstream_id", "trigger_rule")) == [
        (job.pk, "on_failure")
    ]
    assert ActivityLog.objects.filter(action="job.dependencies_set").exists()
    detail = admin.get(f"/jobs/{job.pk}/").content.decode()
    assert "Archive" in detail and "when it fails" in detail
    # Nightly check after Archive would close the circle: refused, the reason shown, no change.
    r = admin.post(f"/jobs/{job.pk}/dependencies", dep_data([(other.pk, "on_success")]))
    assert r.status_code == 400
    body = r.content.decode()
    assert "This would make a cycle: Nightly check → Archive → Nightly check." in body
    assert not job.upstream_links.exists()
    # Adding a row keeps the rows as chosen and shows no error.
    r = admin.post(
        f"/jobs/{job.pk}/dependencies", {**dep_data([(other.pk, "on_success")]), "go": "add"}
    )
    body = r.content.decode()
    assert 'name="dep-1-upstream"' in body and "cycle" not in body


def test_only_admins_edit_dependencies(client, make_user, tenant_alpha, job):
    op = as_role(client, make_user, tenant_alpha, "operator")
    assert op.get(f"/jobs/{job.pk}/dependencies").status_code == 403
    assert op.post(f"/jobs/{job.pk}/dependencies", dep_data([])).status_code == 403


def test_any_in_the_filter_bar_is_no_filter_on_the_list_and_the_timeline(
    client, make_user, tenant_alpha, job
):
    c = as_role(client, make_user, tenant_alpha, "viewer")
    listing = c.get("/jobs/", {"q": "nightly", "job_type": "", "state": ""}).content.decode()
    assert "Nightly check" in listing
    body = c.get(
        "/jobs/timeline",
        {"from": "2026-12-03", "q": "nightly", "job_type": "", "state": ""},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert "Nightly check" in body


def test_fleet_timeline_costs_the_same_queries_for_many_jobs(
    client, make_user, tenant_alpha, servers
):
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from dbtools import tenancy

    def add(n):
        for _ in range(n):
            job = actions.create_job(
                {
                    "name": f"job {Job.objects.count():03d}",
                    "job_type": "custom_script",
                    "configuration": {"script": "SELECT 1"},
                    "schedule_type": "cron",
                    "schedule_config": {"expression": "0 2 * * *"},
                    "server_ids": [s.pk for s in servers],
                },
                acting_user=None,
            )
            actions.run_now(job, acting_user=None)

    c = as_role(client, make_user, tenant_alpha, "viewer")
    alias = tenancy.current().alias

    def count():
        with CaptureQueriesContext(connections[alias]) as queries:
            assert c.get("/jobs/timeline").status_code == 200
        return len(queries)

    add(2)
    few = count()
    add(20)
    assert count() == few  # not one query per job (25 a page)

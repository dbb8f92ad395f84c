"""Jobs pages in real Chromium: create a custom-script job with the form and its live schedule
preview, run it now on sqlsim over TDS and watch the run page follow it until it succeeds, see a
failing script's error, and the same by keyboard alone.

A worker thread stands in for the interactive cluster: tasks are synchronous in tests, so "run
now" would otherwise finish inside the request and there would be nothing running to watch."""

import re
import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect

from dbtools import tasks, tenancy
from scheduler import actions
from scheduler.models import Job
from servers import actions as server_actions
from sqlsim.instance import InstanceConfig
from tenants.models import Membership

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("dispatching"),
]
SLOW = 30_000


@pytest.fixture
def worker(monkeypatch):
    """Queued visits run in a thread of their own, like a cluster worker."""
    threads: list[threading.Thread] = []

    def enqueue(func, *args, **options):
        def work():
            try:
                tasks.enqueue(func, *args, **options)
            finally:
                connections.close_all()

        t = threading.Thread(target=work, daemon=True)
        threads.append(t)
        t.start()

    monkeypatch.setattr("scheduler.actions.enqueue", enqueue)
    yield threads
    for t in threads:
        t.join(30)


@pytest.fixture
def fleet(sqlsim_factory, tenant_alpha):
    sim = sqlsim_factory([InstanceConfig(name=n, port=0) for n in ("SQLJOB01", "SQLJOB02")])
    servers = []
    with tenancy.use_tenant(tenant_alpha):
        for name in ("SQLJOB01", "SQLJOB02"):
            host, port = sim.address(name)
            servers.append(
                server_actions.create_server(
                    {
                        "name": name,
                        "host": host,
                        "port": port,
                        "auth_type": "sql",
                        "username": sim.login,
                        "password": sim.password,
                    }
                )
            )
    return servers


def user(login, tenant, role):
    name = f"{role}-user"
    u = get_user_model().objects.create_user(name, password="Pw-12345-pw")
    Membership.objects.create(user=u, tenant=tenant, role=role)
    return login(name, "Pw-12345-pw")


def make_job(tenant, servers, script, name="Slow check"):
    with tenancy.use_tenant(tenant):
        return actions.create_job(
            {
                "name": name,
                "job_type": "custom_script",
                "configuration": {"script": script},
                "schedule_type": "cron",
                "schedule_config": {"expression": "0 2 * * *"},
                "server_ids": [s.pk for s in servers],
            },
            acting_user=None,
        )


def tab_to(page, name: str, limit: int = 80) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        label = page.evaluate(
            "() => { const el = document.activeElement; return (el.getAttribute('aria-label') || "
            "(el.labels && el.labels.length ? el.labels[0].textContent : '') || "
            "el.textContent || '').trim(); }"
        )
        if label == name:
            return
    raise AssertionError(f"{name!r} is not reachable by Tab")


def test_create_with_the_wizard_test_run_then_run_now_and_watch_it_succeed(
    page, login, tenant_alpha, fleet, worker
):
    servers = fleet
    page.set_default_timeout(SLOW)
    user(login, tenant_alpha, "admin")
    page.goto("/jobs/")
    expect(page.get_by_role("heading", name="No jobs yet")).to_be_visible()
    page.get_by_role("link", name="New job").first.click()
    steps = page.get_by_role("list", name="Steps")
    expect(steps.locator("[aria-current=step]")).to_contain_text("Type")
    expect(page.get_by_label("Custom T-SQL script")).to_be_checked()
    page.get_by_label("Name").fill("Slow check")
    page.get_by_role("button", name="Next").click()

    expect(steps.locator("[aria-current=step]")).to_contain_text("Configuration")
    expect(page.get_by_label("Policy", exact=True)).to_be_hidden()  # only for policy jobs
    page.get_by_label("T-SQL script", exact=True).fill(
        "PRINT 'checking';\nGO\nWAITFOR DELAY '00:00:05';\nPRINT 'all good';"
    )
    page.get_by_role("button", name="Next").click()
    # Nothing chosen to run on: the step stays, with the reason on its field.
    expect(steps.locator("[aria-current=step]")).to_contain_text("Configuration")
    expect(page.locator(".field-servers")).to_contain_text("Choose at least one server.")
    page.get_by_label("Servers").select_option([str(s.pk) for s in servers])
    page.get_by_role("button", name="Next").click()

    expect(steps.locator("[aria-current=step]")).to_contain_text("Schedule")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_role("button", name="Every Sunday at 03:00").click()
    expect(page.get_by_label("Cron expression")).to_have_value("0 3 * * 0")
    preview = page.locator("#schedule-preview")
    expect(preview).to_contain_text("At 03:00, only on Sunday (Europe/Berlin)")
    expect(preview.locator("li")).to_have_count(5)
    expect(preview.locator("li").first).to_contain_text(re.compile(r"Sun .* 03:00 CET"))
    # A local time that does not exist in spring says so in the preview.
    page.get_by_label("Cron expression").fill("30 2 28 3 *")
    expect(preview.locator("li").first).to_contain_text("CEST")
    expect(preview.locator("li").first).to_contain_text("does not exist on 2027-03-28")
    page.get_by_role("button", name="Every Sunday at 03:00").click()
    # The interval fields are hidden for a cron job, and come back when asked for.
    expect(page.get_by_label("Every (seconds)")).to_be_hidden()
    page.get_by_label("Schedule", exact=True).select_option("interval")
    expect(page.get_by_label("Every (seconds)")).to_be_visible()
    page.get_by_label("Every (seconds)").fill("900")
    expect(preview).to_contain_text("Every 15 minutes")
    page.get_by_label("Schedule", exact=True).select_option("cron")
    page.get_by_role("button", name="Next").click()

    expect(steps.locator("[aria-current=step]")).to_contain_text("Options")
    page.get_by_role("button", name="Next").click()
    expect(steps.locator("[aria-current=step]")).to_contain_text("Review")
    review = page.locator("#review")
    expect(review).to_contain_text("SQLJOB01, SQLJOB02")
    expect(review).to_contain_text("At 03:00, only on Sunday (Europe/Berlin)")
    # Back and Next keep what was typed.
    page.get_by_role("button", name="Back").click()
    page.get_by_role("button", name="Back").click()
    expect(page.get_by_label("Cron expression")).to_have_value("0 3 * * 0")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Berlin")
    page.get_by_role("button", name="Review").click()

    # A test run before saving: once, on the chosen server.
    page.get_by_label("Server to test on").select_option(str(servers[1].pk))
    page.get_by_role("button", name="Test run").click()
    expect(page.locator("#test-run-status")).to_have_text("Succeeded", timeout=SLOW)
    expect(page.locator("#test-run-result")).to_contain_text("on SQLJOB02")
    expect(page.get_by_label("Messages from the test run")).to_contain_text("all good")
    page.get_by_role("button", name="Create job").click()

    expect(page.get_by_role("heading", name="Slow check")).to_be_visible()
    expect(page.locator("#next-runs li")).to_have_count(5)
    runs_seen: list[str] = []
    page.on(
        "request",
        lambda r: runs_seen.append(r.url) if re.search(r"/runs/\d+/$", r.url) else None,
    )
    page.get_by_role("button", name="Run now").click()
    status = page.locator("#run-status")
    expect(status).to_have_text(re.compile("Queued|Running"))
    expect(page.get_by_role("button", name="Cancel run")).to_be_visible()
    expect(status).to_have_text("Running", timeout=SLOW)
    # No reload: the page follows the run every 2 s until it ends, then stops.
    expect(status).to_have_text("Succeeded", timeout=60_000)
    assert len(runs_seen) >= 3, runs_seen  # the first load and at least two refreshes
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    rows = page.locator("#executions tbody tr")
    expect(rows).to_have_count(2)
    for name in ("SQLJOB01", "SQLJOB02"):
        expect(rows.filter(has_text=name)).to_contain_text("Succeeded")
    output = page.get_by_label("Messages from SQLJOB01")
    expect(output).to_contain_text("checking")
    expect(output).to_contain_text("all good")
    settled = len(runs_seen)
    page.wait_for_timeout(5000)
    assert len(runs_seen) == settled  # a finished run is not polled
    # The list shows the outcome with its icon and words.
    page.get_by_role("link", name="Jobs").first.click()
    expect(page.locator("[data-last-status]")).to_have_text("Succeeded")


def test_a_failing_script_shows_the_servers_error(page, login, tenant_alpha, fleet, worker):
    servers = fleet
    page.set_default_timeout(SLOW)
    job = make_job(
        tenant_alpha,
        servers[:1],
        "PRINT 'archiving';\nTHROW 51000, 'The archive share is full.', 1;",
        name="Archive",
    )
    user(login, tenant_alpha, "operator")
    page.goto(f"/jobs/{job.pk}/")
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)  # operators do not edit
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#run-status")).to_have_text("Failed", timeout=60_000)
    row = page.locator("#executions tbody tr")
    expect(row).to_contain_text("Failed")
    expect(row).to_contain_text("The archive share is full.")
    expect(row).to_contain_text("(error 51000)")
    expect(page.get_by_label("Messages from SQLJOB01")).to_contain_text("archiving")
    # The execution's details open in a dialog, by keyboard too, and close back to the link.
    link = page.locator("#executions [data-execution-dialog]")
    link.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#execution-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#execution-status")).to_have_text("Failed")
    expect(dialog.locator("#execution-error-kind")).to_contain_text("Error from the server")
    expect(dialog.locator("#execution-error")).to_contain_text("The archive share is full.")
    expect(dialog.locator("#execution-attempt")).to_contain_text("1 of 1")
    expect(dialog.get_by_label("Messages from SQLJOB01")).to_contain_text("archiving")
    expect(dialog.locator("#execution-result")).to_contain_text('"error_number": 51000')
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(link).to_be_focused()
    page.get_by_role("link", name="Archive").click()
    expect(page.locator("#job-runs [data-status]").first).to_have_text("Failed")
    # The job's history names the server of each run; its details open from there as well.
    page.locator("#job-runs [data-execution-dialog]").first.click()
    expect(dialog.locator("#execution-error")).to_contain_text("The archive share is full.")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    # The timeline shows the failed run today, with its status in words for screen readers.
    expect(page.locator("#job-timeline .tl-today [data-status=failed]")).to_contain_text("Failed")


def test_keyboard_only_run_now_and_cancel(page, login, tenant_alpha, fleet, worker):
    servers = fleet
    page.set_default_timeout(SLOW)
    job = make_job(tenant_alpha, servers[:1], "WAITFOR DELAY '00:00:30';", name="Long wait")
    user(login, tenant_alpha, "operator")
    page.goto("/jobs/")

    tab_to(page, "Run Long wait now")
    page.keyboard.press("Enter")
    expect(page.locator("#run-status")).to_have_text("Running", timeout=SLOW)
    tab_to(page, "Cancel run")
    page.keyboard.press("Enter")
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    # The confirmation opens on its safe choice; the keyboard moves to the other one.
    page.keyboard.press("Tab")
    expect(page.locator("#confirm-ok")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#run-status")).to_have_text("Cancelled", timeout=SLOW)
    expect(page.locator("#executions tbody tr")).to_contain_text("Cancelled", timeout=SLOW)
    with tenancy.use_tenant(tenant_alpha):
        assert job.runs.get().status == "cancelled"


def test_keyboard_only_wizard_creates_a_job(page, login, tenant_alpha, fleet):
    page.set_default_timeout(SLOW)
    user(login, tenant_alpha, "admin")
    page.goto("/jobs/new")
    tab_to(page, "Custom T-SQL script")
    tab_to(page, "Name")
    page.keyboard.type("Keyboard job")
    page.keyboard.press("Enter")  # Enter in a field means Next
    steps = page.get_by_role("list", name="Steps")
    expect(steps.locator("[aria-current=step]")).to_contain_text("Configuration")
    # The keyboard lands on the step's first field.
    expect(page.get_by_label("T-SQL script", exact=True)).to_be_focused()
    page.keyboard.type("PRINT 'typed';")
    page.keyboard.press("Tab")  # database
    page.keyboard.press("Tab")  # run on
    page.keyboard.press("Tab")  # servers
    expect(page.get_by_label("Servers")).to_be_focused()
    page.keyboard.press("ArrowDown")
    tab_to(page, "Next")
    page.keyboard.press("Enter")
    expect(steps.locator("[aria-current=step]")).to_contain_text("Schedule")
    expect(page.get_by_label("Schedule", exact=True)).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # in the time zone field
    expect(steps.locator("[aria-current=step]")).to_contain_text("Options")
    page.keyboard.press("Enter")  # in the time limit field
    expect(steps.locator("[aria-current=step]")).to_contain_text("Review")
    tab_to(page, "Create job")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Keyboard job")).to_be_visible()
    with tenancy.use_tenant(tenant_alpha):
        job = Job.objects.get(name="Keyboard job")
        assert job.configuration["script"] == "PRINT 'typed';"
        assert job.servers.count() == 1


def test_dependencies_by_keyboard_and_a_cycle_shows_its_reason(page, login, tenant_alpha, fleet):
    page.set_default_timeout(SLOW)
    first = make_job(tenant_alpha, fleet[:1], "PRINT 'a'", name="A backup")
    second = make_job(tenant_alpha, fleet[:1], "PRINT 'b'", name="B checkdb")
    user(login, tenant_alpha, "admin")
    page.goto(f"/jobs/{second.pk}/")
    tab_to(page, "Edit dependencies")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Dependencies of B checkdb")).to_be_visible()
    tab_to(page, "Runs after (row 1)")
    page.keyboard.press("ArrowDown")  # the first job offered: A backup
    expect(page.get_by_label("Runs after (row 1)")).to_have_value(str(first.pk))
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")  # when it fails
    expect(page.get_by_label("When (row 1)")).to_have_value("on_failure")
    tab_to(page, "Save dependencies")
    page.keyboard.press("Enter")
    deps = page.locator("section[aria-labelledby=deps-h]")
    expect(deps).to_contain_text("Runs after")
    expect(deps).to_contain_text("A backup")
    expect(deps).to_contain_text("when it fails")
    # A after B would be a cycle: the page says so and nothing changes.
    page.goto(f"/jobs/{first.pk}/dependencies")
    page.get_by_label("Runs after (row 1)").select_option(str(second.pk))
    page.get_by_role("button", name="Save dependencies").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "This would make a cycle: A backup → B checkdb → A backup."
    )
    with tenancy.use_tenant(tenant_alpha):
        assert not first.upstream_links.exists()


def test_fleet_timeline_by_keyboard_weeks_and_filter(page, login, tenant_alpha, fleet):
    page.set_default_timeout(SLOW)
    make_job(tenant_alpha, fleet[:1], "PRINT 'a'", name="Nightly backup")
    with tenancy.use_tenant(tenant_alpha):
        actions.create_job(
            {
                "name": "Quarter-hourly log",
                "job_type": "custom_script",
                "configuration": {"script": "SELECT 1"},
                "schedule_type": "interval",
                "schedule_config": {"interval_seconds": 900},
                "server_ids": [fleet[1].pk],
            },
            acting_user=None,
        )
    user(login, tenant_alpha, "viewer")
    page.goto("/jobs/")
    tab_to(page, "Timeline")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Jobs timeline")).to_be_visible()
    rows = page.locator("#timeline-body tbody tr")
    expect(rows).to_have_count(2)
    nightly = rows.filter(has_text="Nightly backup")
    # A planned run a day at 02:00 UTC, each with its status in words for screen readers.
    today_too = timezone.now().hour < 2  # has 02:00 today still to come?
    expect(nightly.locator("[data-status=planned]")).to_have_count(7 if today_too else 6)
    expect(nightly.locator("[data-status=planned]").first).to_contain_text("02:00 Planned")
    expect(rows.filter(has_text="Quarter-hourly log")).to_contain_text("96 planned")
    first_day = page.locator("#timeline-body thead th").nth(1)
    before = first_day.inner_text()
    tab_to(page, "Later week")
    page.keyboard.press("Enter")
    expect(page.locator("#timeline-body thead th").nth(1)).not_to_have_text(before)
    expect(page.get_by_role("link", name="This week")).to_be_visible()
    page.get_by_label("Search jobs").fill("quarter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Quarter-hourly log")
    assert "from=" in page.url  # the week stays while filtering

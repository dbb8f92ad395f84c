"""The screens that tie alerts, policies and jobs together, walked in real Chromium against
sqlsim: a CPU spike shows on the dashboard's recent alerts (live, over several refresh cycles)
and on the server page, where it is acknowledged from the keyboard; a backup that fails on a
full disk shows on the dashboard's compliance figure and failed jobs, on the group page and on
the server page; the group page's charts switch range and aggregate; every part has its empty
state."""

import datetime as dt
import re
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect

from alerts.models import AlertRule
from core import settings_store
from dbtools import tenancy
from engine.models import CollectorSlot
from monitoring.tests.test_browser import collect
from policies import actions as policy_actions
from policies import facts, standing
from scheduler import actions as job_actions
from scheduler import engine
from scheduler.models import Job, JobRun
from servers import actions, deployment
from sqlsim.instance import InstanceConfig
from tenants.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]

REFRESH = 5  # the tenant's dashboard_refresh_seconds: the lowest it allows
CYCLE_WAIT = (REFRESH + 8) * 1000  # one interval plus a slow request on shared cores
NAMES = ("SQLSCR01", "SQLSCR02")


@pytest.fixture
def sim(sqlsim_factory):
    # Instances of this module's own: the tests move their clocks, which no reset undoes.
    return sqlsim_factory(
        [InstanceConfig(name=n, port=0, version=2019, databases=6) for n in NAMES]
    )


@pytest.fixture
def fleet(tenant_alpha, sim, settings):
    """Two monitored servers in group Production, with a backup policy deployed to it and a
    CPU rule that fires on the first high sample."""
    settings.DBTOOLS_COLLECTOR_TIMEOUT = 3
    with tenancy.use_tenant(tenant_alpha):
        settings_store.update({"dashboard_refresh_seconds": REFRESH})
        AlertRule.objects.exclude(metric="server_offline").delete()
        AlertRule.objects.create(
            name="CPU spike",
            metric="cpu_percent",
            operator="gt",
            threshold=90,
            severity="critical",
            aggregation="max",
            window_minutes=2,
        )
        group = actions.create_group("Production")
        servers = []
        for name in NAMES:
            host, port = sim.address(name)
            server = actions.create_server(
                {
                    "name": name,
                    "host": host,
                    "port": port,
                    "auth_type": "sql",
                    "username": sim.login,
                    "password": sim.password,
                }
            )
            assert deployment.deploy(server)["monitoring_status"] == "monitored"
            servers.append(server)
        actions.add_to_group(group, servers)
        policy = policy_actions.create_policy(
            {
                "name": "Prod backups",
                "policy_type": "backup",
                "status": "active",
                "configuration": {"destination_path": "D:\\Backup"},
            },
            acting_user=None,
        )
        policy_actions.deploy(policy, [group], acting_user=None)
    for name in NAMES:
        sim.clear_cpu(name)
        sim.advance_clock(name, 120)
    collect(tenant_alpha)
    return SimpleNamespace(group=group, servers=servers, policy=policy)


@pytest.fixture
def ops(page, login, tenant_alpha):
    user = get_user_model().objects.create_user("ops", password="Ops-pass-12345")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="operator")
    return login("ops", "Ops-pass-12345")


def spike(sim, tenant, name="SQLSCR01"):
    sim.spike_cpu(name, 99)
    sim.advance_clock(name, 120)  # a new ring-buffer record with the spike
    collect(tenant)


def fail_backup(sim, tenant, name="SQLSCR01"):
    """A week without backups on `name`, whose disk is now full; the full backup job runs (and
    fails there), then the compliance facts are read and the fleet figure computed, as the
    workers and the routine schedules would."""
    sim.steer(name, backup_failure="disk_full", age_history_hours=200)
    with tenancy.use_tenant(tenant):
        job = Job.objects.get(configuration__task="full")
        job_actions.run_now(job, acting_user=None)
        for _ in range(6):
            claimed = engine.step("w1", 10)
            for c in claimed:
                engine.execute(c.execution_id, "w1")
            if not claimed and not JobRun.objects.filter(status__in=["queued", "running"]).exists():
                break
        facts.collect()
        standing.refresh_snapshot()
    connections.close_all()


def _is_live(request, path):
    h = request.headers
    return (
        request.method == "GET"
        and h.get("hx-request") == "true"
        and h.get("hx-boosted") is None
        and urlsplit(request.url).path == path
    )


def watch_cycles(page, n):
    """n consecutive live refreshes of the dashboard, each with a new stamp, no reload."""
    for _ in range(n):
        before = page.locator("#last-updated time").get_attribute("datetime")
        with page.expect_response(lambda r: _is_live(r.request, "/") and r.ok, timeout=CYCLE_WAIT):
            pass
        expect(page.locator("#last-updated time")).not_to_have_attribute("datetime", before)
        assert page.evaluate("window.__stayed") is True, "the page was reloaded"


def tab_to(page, locator, limit=120):
    """Press Tab until `locator` has the focus: proves it is reachable from the keyboard."""
    handle = locator.element_handle()
    for _ in range(limit):
        if page.evaluate("(el) => document.activeElement === el", handle):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{locator} not reachable with Tab")


def test_dashboard_panels_follow_a_spike_and_a_failed_backup_live(fleet, ops, sim, tenant_alpha):
    page = ops
    alerts = page.locator("#panel-alerts")
    compliance = page.locator("#panel-compliance")
    jobs = page.locator("#panel-jobs")
    platform = page.locator("#panel-platform")
    # Empty states, next to the status cards.
    expect(alerts).to_contain_text("No alerts firing")
    expect(compliance).to_contain_text("Nothing measured yet")
    expect(jobs).to_contain_text("No job failed in the last 24 hours")
    expect(platform.locator("[data-check='collection']")).to_contain_text("On time")
    # No worker runs in the test: the collector slots are down (collect() stands in for them).
    expect(platform.locator("[data-check='workers']")).to_contain_text("workers down")
    expect(platform.locator("[data-check='backup']")).to_contain_text("No backup of this tenant")
    page.evaluate("window.__stayed = true")
    watch_cycles(page, 2)

    spike(sim, tenant_alpha)
    row = alerts.locator("li[data-alert-status='firing']")
    expect(row).to_contain_text("SQLSCR01", timeout=CYCLE_WAIT)
    expect(row).to_contain_text("CPU spike")
    expect(row.locator("[data-severity='critical']")).to_contain_text("Critical")  # icon + word
    expect(alerts.locator("[data-firing]")).to_contain_text("1 firing")

    fail_backup(sim, tenant_alpha)
    figure = compliance.locator("#compliance-figure")
    expect(figure).to_contain_text("failing", timeout=CYCLE_WAIT)
    assert int(figure.get_attribute("data-failing")) >= 1
    expect(jobs.locator("li[data-run]").first).to_contain_text("Prod backups")
    expect(jobs.locator("li[data-run] [data-status='failed']").first).to_contain_text("Failed")
    watch_cycles(page, 2)  # and it stays
    assert page.evaluate("window.__stayed") is True

    # A worker starts: its slot beats with its counts, and the platform panel says so.
    CollectorSlot.objects.filter(slot=0).update(
        owner="node-1",
        heartbeat_at=timezone.now() + dt.timedelta(minutes=5),
        stats={"collected": 200, "late": 10, "recent_max_late_s": 2.5},
    )
    workers = platform.locator("[data-check='workers']")
    expect(workers).to_contain_text("1 of 1 slot running", timeout=CYCLE_WAIT)
    expect(workers).to_contain_text("200 collected, 5.0 % late")

    # The figure leads to the failing databases; an alert row to its alert, by keyboard.
    figure.click()
    expect(page).to_have_url(re.compile(r"/policies/compliance\?compliance=non_compliant$"))
    expect(page.locator("tr[data-server='SQLSCR01']").first).to_contain_text("Failing")
    page.goto("/")
    tab_to(page, alerts.get_by_role("link", name="CPU spike"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/alerts/\d+/$"))


def test_server_page_shows_its_alerts_policies_and_jobs(fleet, ops, sim, tenant_alpha):
    spike(sim, tenant_alpha)
    fail_backup(sim, tenant_alpha)
    page = ops
    server = fleet.servers[0]
    page.goto(f"/servers/{server.pk}/")
    expect(page.locator("#header-alerts")).to_contain_text("1 alert firing")
    expect(page.locator("#header-maintenance")).to_contain_text("No maintenance running")

    section = page.locator("#server-alerts")
    expect(section.locator("tr[data-alert]")).to_contain_text("CPU spike")
    expect(section.locator("[data-severity='critical']")).to_contain_text("Critical")
    # Acknowledged from the keyboard, without leaving the server page.
    tab_to(page, section.get_by_label("Comment for CPU spike"))
    page.keyboard.type("looking at it")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/servers/{server.pk}/$"))
    expect(section.locator("tr[data-alert]")).to_contain_text("Acknowledged by ops")

    policies = page.locator("#server-policies")
    deployed = policies.locator("[data-policy='Prod backups']")
    expect(deployed).to_contain_text("through Production")
    expect(deployed.locator("h3 [data-compliance]")).to_have_attribute(
        "data-compliance", "non_compliant"
    )
    expect(deployed.locator("tr[data-server='SQLSCR01']").first).to_contain_text("Failing")
    expect(deployed.locator("tr[data-server='SQLSCR02']")).to_have_count(0)  # this server only

    jobs = page.locator("#server-jobs")
    full = jobs.locator("tr", has_text="full backup")
    expect(full.locator("[data-last-status]")).to_contain_text("Failed")
    expect(full).to_contain_text("Group Production")
    full.get_by_role("button", name=re.compile("Run .* now")).click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+/runs/\d+/$"))
    expect(page.get_by_text("started.")).to_be_visible()


def test_server_page_sections_say_when_there_is_nothing(fleet, ops, tenant_alpha):
    with tenancy.use_tenant(tenant_alpha):
        lone = actions.create_server(
            {
                "name": "LONELY01",
                "host": "lonely.example",
                "port": 1433,
                "auth_type": "sql",
                "username": "dbtools",
                "password": "x",
            }
        )
    page = ops
    page.goto(f"/servers/{lone.pk}/")
    expect(page.locator("#header-alerts")).to_contain_text("No alerts")
    expect(page.locator("#server-alerts")).to_contain_text("No alerts firing on LONELY01")
    expect(page.locator("#server-policies")).to_contain_text("No policy deployed")
    expect(page.locator("#server-jobs")).to_contain_text("No job targets LONELY01")


def test_group_page_metrics_members_policies_jobs_and_alerts(fleet, ops, sim, tenant_alpha):
    for name in NAMES:
        sim.advance_clock(name, 60)
    collect(tenant_alpha)
    spike(sim, tenant_alpha)
    fail_backup(sim, tenant_alpha)
    page = ops
    page.goto(f"/groups/{fleet.group.pk}/")
    members = page.locator("#group-members")
    expect(members.locator("tr", has_text="SQLSCR01").locator("[data-health]")).to_have_attribute(
        "data-health", "critical"
    )
    metrics = page.locator("#group-metrics")
    expect(metrics.locator("figure[data-chart] canvas")).to_have_count(4)
    expect(metrics.get_by_role("link", name="Average of members")).to_have_attribute(
        "aria-current", "true"
    )
    # Worst member, then 6 h, from the keyboard.
    with page.expect_response(lambda r: "agg=max" in r.url):
        tab_to(page, metrics.get_by_role("link", name="Worst member"))
        page.keyboard.press("Enter")
    expect(metrics.get_by_role("link", name="Worst member")).to_have_attribute(
        "aria-current", "true"
    )
    with page.expect_response(lambda r: "range=6h" in r.url):
        tab_to(page, metrics.get_by_role("link", name="6h", exact=True))
        page.keyboard.press("Enter")
    expect(metrics.get_by_role("link", name="6h", exact=True)).to_have_attribute(
        "aria-current", "true"
    )
    expect(metrics.get_by_role("link", name="Worst member")).to_have_attribute(
        "aria-current", "true"
    )
    expect(metrics.locator("figure[data-chart='group-series-cpu'] canvas")).to_have_count(1)

    alerts = page.locator("#group-alerts")
    expect(alerts.locator("li[data-alert]")).to_contain_text("SQLSCR01")
    policies = page.locator("#group-policies [data-policy='Prod backups']")
    expect(policies.locator("h3 [data-compliance]")).to_have_attribute(
        "data-compliance", "non_compliant"
    )
    expect(policies.locator("tr[data-server='SQLSCR01']").first).to_contain_text("Failing")
    jobs = page.locator("#group-jobs")
    expect(
        jobs.locator("tr", has_text="full backup").locator("[data-last-status]")
    ).to_contain_text("Failed")


def test_group_page_sections_say_when_there_is_nothing(ops, tenant_alpha):
    with tenancy.use_tenant(tenant_alpha):
        group = actions.create_group("Empty")
    page = ops
    page.goto(f"/groups/{group.pk}/")
    expect(page.locator("#group-metrics")).to_contain_text("No data for this range")
    expect(page.locator("#group-alerts")).to_contain_text("No alerts firing")
    expect(page.locator("#group-policies")).to_contain_text("No policy deployed to this group")
    expect(page.locator("#group-jobs")).to_contain_text("No job targets this group")


# -- the server list's row menu and bulk actions, the server page's inline editing -------------
def focused_text(page):
    return page.evaluate("document.activeElement.textContent.trim()")


def test_row_menu_with_the_mouse(fleet, ops, tenant_alpha):
    page = ops
    page.goto("/servers/")
    row = page.locator("tr", has=page.get_by_role("link", name="SQLSCR02", exact=True))
    button = row.get_by_role("button", name="Actions for SQLSCR02")
    expect(button).to_have_attribute("aria-expanded", "false")
    button.click()
    menu = row.get_by_role("menu")
    expect(menu).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    box = menu.bounding_box()  # whole on screen, not clipped by the table's scroll box
    assert box["y"] >= 0 and box["y"] + box["height"] <= 800, box
    bottom = [box["x"] + 20, box["y"] + box["height"] - 8]  # the last item is what shows there
    assert page.evaluate(
        "([x, y]) => !!document.elementFromPoint(x, y).closest('[role=menu]')", bottom
    )
    names = [i.strip() for i in menu.get_by_role("menuitem").all_inner_texts()]
    assert names == [
        "Open",
        "Test connection",
        "Deploy monitoring",
        "Run a job…",
        "Add to group…",
        "Add label…",
        "Delete",
    ], names
    page.locator("h1").click()  # a click elsewhere closes it
    expect(menu).to_be_hidden()

    # Add label: the row is selected and the bulk bar's label field takes over.
    button.click()
    menu.get_by_role("menuitem", name="Add label…").click()
    expect(row.get_by_label("Select SQLSCR02")).to_be_checked()
    expect(page.locator("#bulk-label")).to_be_focused()
    page.locator("#bulk-label").fill("reporting")
    page.get_by_role("button", name="Add label").click()
    expect(page.get_by_text("Label “reporting” added to 1 server(s).")).to_be_visible()
    expect(row.get_by_role("link", name="reporting")).to_be_visible()

    # Test connection: the server's page with the result.
    row.get_by_role("button", name="Actions for SQLSCR02").click()
    row.get_by_role("menuitem", name="Test connection").click()
    expect(page).to_have_url(re.compile(rf"/servers/{fleet.servers[1].pk}/$"))
    expect(page.locator("#toasts")).to_contain_text("Connected to")

    # Delete asks first, naming the server.
    page.goto("/servers/")
    row.get_by_role("button", name="Actions for SQLSCR02").click()
    row.get_by_role("menuitem", name="Delete").click()
    expect(page.locator("#confirm-title")).to_have_text("Delete server SQLSCR02?")
    page.get_by_role("button", name="Delete SQLSCR02").click()
    expect(page.get_by_text("Server SQLSCR02 deleted.")).to_be_visible()
    expect(page.get_by_role("link", name="SQLSCR02", exact=True)).to_have_count(0)


def test_row_menu_with_the_keyboard_runs_a_job_on_that_server(fleet, ops, tenant_alpha):
    page = ops
    page.goto("/servers/")
    row = page.locator("tr", has=page.get_by_role("link", name="SQLSCR01", exact=True))
    button = row.get_by_role("button", name="Actions for SQLSCR01")
    menu = row.get_by_role("menu")
    tab_to(page, button)
    page.keyboard.press("Enter")
    expect(menu).to_be_visible()
    assert focused_text(page) == "Open"
    page.keyboard.press("ArrowDown")
    assert focused_text(page) == "Test connection"
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")  # wraps to the last item
    assert focused_text(page) == "Delete"
    page.keyboard.press("Home")
    assert focused_text(page) == "Open"
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(button).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("ArrowUp")  # opens on the last item
    expect(menu).to_be_visible()
    assert focused_text(page) == "Delete"
    page.keyboard.press("Escape")

    # Run a job on this server only: the menu selects the row, the bulk bar finishes it.
    page.keyboard.press("Enter")
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    assert focused_text(page) == "Run a job…"
    page.keyboard.press("Enter")
    expect(row.get_by_label("Select SQLSCR01")).to_be_checked()
    expect(page.locator("#bulk-job")).to_be_focused()
    with tenancy.use_tenant(tenant_alpha):
        full = Job.objects.get(configuration__task="full")
    # The jobs in name order: differential, full, log; arrow keys move a closed select.
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#bulk-job")).to_have_value(str(full.pk))
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Run job")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/jobs/{full.pk}/runs/\d+/$"))
    expect(page.get_by_text(f"{full.name} started on 1 server.")).to_be_visible()
    with tenancy.use_tenant(tenant_alpha):
        run = JobRun.objects.filter(job=full).latest("pk")
        assert run.only_servers == [fleet.servers[0].pk]
        engine.start_runs()
        assert list(run.executions.values_list("server_name", flat=True)) == ["SQLSCR01"]


def test_bulk_deploy_policy_to_the_groups_of_the_selected_servers(fleet, ops, tenant_alpha):
    with tenancy.use_tenant(tenant_alpha):
        policy_actions.create_policy(
            {
                "name": "Nightly CHECKDB",
                "policy_type": "integrity_check",
                "status": "active",
                "configuration": {"databases": "USER_DATABASES"},
            },
            acting_user=None,
        )
    page = ops
    page.goto("/servers/")
    page.get_by_label("Select SQLSCR01").check()
    page.get_by_label("Policy to deploy to the groups of the selected servers").select_option(
        label="Nightly CHECKDB"
    )
    page.get_by_role("button", name="Deploy to their groups").click()
    expect(page.get_by_text("Nightly CHECKDB v1 deployed to Production.")).to_be_visible()
    page.goto(f"/groups/{fleet.group.pk}/")
    expect(page.locator("#group-policies [data-policy='Nightly CHECKDB']")).to_be_visible()


def test_labels_and_groups_edited_inline_on_the_server_page(fleet, ops, tenant_alpha):
    with tenancy.use_tenant(tenant_alpha):
        actions.create_group("Reporting")
    page = ops
    server = fleet.servers[0]
    page.goto(f"/servers/{server.pk}/")
    page.evaluate("window.__stayed = true")
    tab_to(page, page.get_by_label("Add labels"))
    page.keyboard.type("tier1, emea")
    page.keyboard.press("Enter")
    labels = page.locator("#labels-card")
    expect(labels.get_by_role("link", name="tier1")).to_be_visible()
    expect(labels.get_by_role("link", name="emea")).to_be_visible()
    tab_to(page, page.get_by_role("button", name="Remove label emea"))
    page.keyboard.press("Enter")
    expect(labels.get_by_role("link", name="emea")).to_have_count(0)
    groups = page.locator("#groups-card")
    groups.get_by_label("Add to group").select_option(label="Reporting")
    groups.get_by_role("button", name="Add").click()
    expect(groups.get_by_role("link", name="Reporting")).to_be_visible()
    groups.get_by_role("button", name="Remove from Production").click()
    expect(groups.get_by_role("link", name="Production")).to_have_count(0)
    assert page.evaluate("window.__stayed") is True, "the page was reloaded"
    expect(page).to_have_url(re.compile(rf"/servers/{server.pk}/$"))

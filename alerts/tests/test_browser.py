"""The Alerts page in real Chromium, fed by the collector over TDS from sqlsim: a CPU spike
appears without a reload and stays over several refresh cycles, is acknowledged with the
keyboard only, and the rules page previews a draft."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from alerts.models import AlertRule
from core import settings_store
from dbtools import tenancy
from monitoring.tests.test_browser import collect
from servers import actions, deployment
from sqlsim.instance import InstanceConfig
from tenants.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]

REFRESH = 5  # seconds between live refreshes: the lowest the tenant setting allows
CYCLE_WAIT = 15_000  # a refresh plus generous slack on shared cores


@pytest.fixture
def sim(sqlsim_factory):
    return sqlsim_factory([InstanceConfig(name="SQLALRT01", port=0, version=2019)])


@pytest.fixture
def fleet(tenant_alpha, sim, settings):
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
        host, port = sim.address("SQLALRT01")
        server = actions.create_server(
            {
                "name": "SQLALRT01",
                "host": host,
                "port": port,
                "auth_type": "sql",
                "username": sim.login,
                "password": sim.password,
            }
        )
        assert deployment.deploy(server)["monitoring_status"] == "monitored"
    collect(tenant_alpha)
    return server


@pytest.fixture
def operator_page(page, login, tenant_alpha):
    user = get_user_model().objects.create_user("ops", password="Ops-pass-12345")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="operator")
    return login("ops", "Ops-pass-12345")


def test_a_spike_appears_live_and_is_acknowledged_by_keyboard(
    fleet, operator_page, sim, tenant_alpha
):
    page = operator_page
    page.goto("/alerts/")
    rows = page.locator("#alert-rows")
    expect(rows).to_contain_text("No alerts firing")
    expect(page.locator("#alerts-badge")).to_have_attribute("data-count", "0")
    expect(page.locator("#alerts-badge")).to_be_hidden()
    page.evaluate("window.__stayed = true")

    sim.spike_cpu("SQLALRT01", 99)
    sim.advance_clock("SQLALRT01", 180)
    collect(tenant_alpha)  # the collector's batch is evaluated: the alert fires

    row = page.locator("tr[data-alert]").filter(has_text="SQLALRT01")
    expect(row).to_have_count(1, timeout=CYCLE_WAIT)
    severity = row.locator("[data-severity]")
    expect(severity).to_have_attribute("data-severity", "critical")
    expect(severity).to_contain_text("Critical")
    expect(severity.locator("svg")).to_have_count(1)  # never colour alone
    expect(row).to_contain_text("CPU spike")
    expect(page.locator("#alert-counts")).to_contain_text("1 critical")
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    badge = page.locator("#alerts-badge")  # on the Alerts menu item, live on every page
    expect(badge).to_have_attribute("data-count", "1", timeout=CYCLE_WAIT)
    expect(badge).to_contain_text("worst critical")
    # Watched over several refresh cycles: each one swaps the rows in again, the alert stays,
    # and the page itself never reloads.
    for _ in range(3):
        with page.expect_response(lambda r: "/alerts/" in r.url, timeout=CYCLE_WAIT):
            pass
        expect(row).to_have_count(1)
    assert page.evaluate("window.__stayed") is True

    # Keyboard only: into the comment, type, Tab to the button, Enter.
    comment = row.get_by_label(re.compile("Comment for CPU spike on SQLALRT01"))
    comment.focus()
    page.keyboard.type("looking at it")
    # A refresh while typing would lose the text: the live loop holds while the field has focus.
    page.wait_for_timeout(REFRESH * 1000 + 500)
    expect(comment).to_have_value("looking at it")
    page.keyboard.press("Tab")
    expect(row.get_by_role("button", name="Acknowledge CPU spike on SQLALRT01")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("tr[data-alert]").filter(has_text="SQLALRT01")).to_contain_text(
        "Acknowledged by ops: “looking at it”"
    )
    expect(page.locator(".toast, [role=status]").filter(has_text="acknowledged")).to_have_count(1)


def test_rules_page_preview_of_a_draft(fleet, page, login, sim, tenant_alpha):
    user = get_user_model().objects.create_user("adm", password="Adm-pass-12345")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="admin")
    login("adm", "Adm-pass-12345")
    page.goto("/alerts/rules")
    expect(page.get_by_role("row").filter(has_text="CPU spike")).to_contain_text("Critical")
    page.get_by_role("link", name="Create rule").click()
    page.get_by_role("link", name="Connection spike").click()
    expect(page.get_by_label("Name")).to_have_value("Connection spike")
    page.get_by_label("Threshold", exact=True).fill("1")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#rule-preview")
    expect(preview).to_contain_text("SQLALRT01")
    expect(preview).to_contain_text("Yes")
    # ...and the last day replayed (the server was collected moments ago: no alarm then).
    expect(page.locator("#rule-backtest")).to_contain_text("server")
    page.get_by_label("Threshold", exact=True).fill("-1")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator(".field.has-error")).to_contain_text("never negative")
    page.get_by_label("Threshold", exact=True).fill("5000")
    page.get_by_role("button", name="Save rule").click()
    expect(page).to_have_url(re.compile(r"/alerts/rules$"))
    expect(page.get_by_role("row").filter(has_text="Connection spike")).to_contain_text(
        "connection_count"
    )


def test_a_weekly_maintenance_window_is_made_from_the_keyboard(operator_page, tenant_alpha):
    """Weekends 02:00-05:00 Paris time on one server: the form's weekday boxes and time zone,
    operated by keyboard, and the list shows the window as a DBA reads it."""
    with tenancy.use_tenant(tenant_alpha):
        actions.create_server(
            {"name": "SQLMAINT01", "host": "127.0.0.1", "port": 1533, "auth_type": "sql"}
        )
    page = operator_page
    page.goto("/alerts/silences")
    page.get_by_label("Server").select_option(label="SQLMAINT01")
    page.get_by_label("Repeats").select_option("weekly")
    for day in ("Sat", "Sun"):
        box = page.get_by_label(day, exact=True)
        box.focus()
        page.keyboard.press("Space")
        expect(box).to_be_checked()
    page.get_by_label("Time zone").select_option("Europe/Paris")
    page.get_by_label("Starts at").fill("2026-12-05T02:00")
    page.get_by_label("Ends at").fill("2026-12-05T05:00")
    page.get_by_label("Comment").fill("weekend index maintenance")
    page.get_by_role("button", name="Create silence").focus()
    page.keyboard.press("Enter")
    row = page.get_by_role("row").filter(has_text="weekend index maintenance")
    expect(row).to_contain_text("weekly Sat, Sun 02:00-05:00 Europe/Paris")


def test_alerts_held_by_dbtools_maintenance_say_so_on_the_alert_and_server_pages(
    fleet, operator_page, sim, tenant_alpha
):
    """An IndexOptimize job of a deployed policy runs on the server while its CPU spikes: the
    quiet CPU rule's alert reads "suppressed: IndexOptimize running since ..." on the Alerts
    page, the server page and the alert itself, reached from the keyboard."""
    from policies import actions as policy_actions
    from scheduler import engine
    from scheduler.models import Job, JobExecution

    with tenancy.use_tenant(tenant_alpha):
        AlertRule.objects.filter(name="CPU spike").update(quiet_during_maintenance=True)
        group = actions.create_group("Prod")
        actions.add_to_group(group, [fleet])
        policy = policy_actions.create_policy(
            {"name": "Nightly index", "policy_type": "index_maintenance", "status": "active"},
            acting_user=None,
        )
        policy_actions.deploy(policy, [group], acting_user=None)
        # Queued as the dispatcher would (run now would also start a worker in these sync
        # tests, which would finish the work before the page is looked at).
        engine.queue_run(Job.objects.get(job_type="policy_execution"), "manual")
        (claimed,) = engine.step("w1", 10)
        assert engine.begin(claimed.execution_id, "w1")
        since = JobExecution.objects.get(pk=claimed.execution_id).started_at.strftime("%H:%M")
    sim.spike_cpu("SQLALRT01", 99)
    sim.advance_clock("SQLALRT01", 180)
    collect(tenant_alpha)
    text = f"Suppressed: IndexOptimize running since {since} UTC"

    page = operator_page
    page.goto("/alerts/")
    row = page.locator("tr[data-alert]").filter(has_text="SQLALRT01")
    expect(row).to_contain_text(text)
    expect(row.locator("[data-suppressed] svg")).to_have_count(1)  # icon and words

    row.get_by_role("link", name="SQLALRT01").focus()
    page.keyboard.press("Enter")
    card = page.locator("#server-alerts")
    expect(card.locator("[data-maintenance]")).to_contain_text(
        f"DbTools maintenance running: IndexOptimize since {since} UTC"
    )
    expect(card.locator("[data-alert]").first).to_contain_text(text)

    card.get_by_role("link", name="CPU spike").focus()
    page.keyboard.press("Enter")
    expect(page.locator("dd[data-suppressed]")).to_contain_text(text)
    expect(page.locator("dd[data-suppressed]")).to_contain_text("nobody is told")


def test_an_email_contact_point_is_added_and_tested_from_the_keyboard(
    page, login, tenant_alpha, settings, mailoutbox
):
    """With SMTP settings given (Django's locmem mailer here): the form by keyboard, the list
    says where it sends, and Send test lands one email and a Delivered line in the log."""
    settings.DBTOOLS_EMAIL_ENABLED = True
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    user = get_user_model().objects.create_user("adm", password="Adm-pass-12345")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="admin")
    login("adm", "Adm-pass-12345")
    page.goto("/alerts/contact-points")
    page.get_by_label("Name").focus()
    page.keyboard.type("DBA team")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Kind")).to_be_focused()
    page.get_by_label("Kind").select_option("email")
    page.get_by_label("Email to").focus()
    page.keyboard.type("dba@example.com, oncall@example.com")
    page.get_by_role("button", name="Add contact point").focus()
    page.keyboard.press("Enter")
    row = page.get_by_role("row").filter(has_text="DBA team")
    expect(row).to_contain_text("Email dba@example.com, oncall@example.com")
    row.get_by_role("button", name="Send a test to DBA team").focus()
    page.keyboard.press("Enter")
    # The delivery log's row: event Test, status with its icon and word.
    log = page.get_by_role("row").filter(has_text="Delivered").filter(has_text="DBA team")
    expect(log).to_have_count(1)
    expect(log).to_contain_text("Test")
    assert [m.subject for m in mailoutbox] == ["[DbTools alpha] TEST: test of DBA team"]
    assert mailoutbox[0].to == ["dba@example.com", "oncall@example.com"]

"""Health on every page that lists servers, kept live by the same loop as the dashboard, and
"DbTools did not collect" told apart from "the instance is down"."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dbtools import tenancy
from monitoring.models import CollectorState
from monitoring.tests.test_browser import collect, fleet, logged_in, sqlsim  # noqa: F401
from servers import actions
from tenants.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]

CYCLE_WAIT = 12_000  # a 5 s refresh (tenant setting) plus slack on shared cores


def spike(sim, tenant, name, cpu=99):
    sim.spike_cpu(name, cpu)
    sim.advance_clock(name, 120)  # a new ring-buffer record with the spike
    collect(tenant)


def test_health_everywhere_and_live(fleet, logged_in, sqlsim, tenant_alpha):  # noqa: F811
    with tenancy.use_tenant(tenant_alpha):
        group = actions.create_group("Production")
        actions.add_to_group(group, fleet)
    page = logged_in
    page.goto("/servers/")
    page.evaluate("window.__stayed = true")
    row1 = page.get_by_role("row").filter(has=page.get_by_role("link", name="SQLPROD01"))
    health1 = row1.locator("[data-health]")
    expect(health1).to_have_attribute("data-health", re.compile("healthy|warning"))
    expect(health1).to_contain_text(re.compile("Healthy|Warning"))
    expect(health1.locator("svg")).to_have_count(1)  # never colour alone

    # Live on the server list: the spike appears without a reload.
    spike(sqlsim, tenant_alpha, "SQLPROD01")
    expect(health1).to_have_attribute("data-health", "critical", timeout=CYCLE_WAIT)
    expect(health1).to_contain_text("Critical")
    expect(health1).to_contain_text(re.compile(r"CPU (9\d|100)%"))
    assert page.evaluate("window.__stayed") is True

    # Sortable: the worst first, and focus stays on the header used.
    page.locator("#sort-health").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"ordering=health"))
    expect(page.locator("tbody tr").first).to_contain_text("SQLPROD01")
    expect(page.locator("#sort-health")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"ordering=-health"))
    expect(page.locator("tbody tr").first).to_contain_text("SQLPROD02")
    expect(page.locator("#sort-health")).to_be_focused()

    # Filterable, and "Any health" means any: no error banner.
    page.get_by_label("Health").select_option("critical")
    expect(page.get_by_role("link", name="SQLPROD02")).to_have_count(0)
    expect(page.get_by_role("link", name="SQLPROD01")).to_be_visible()
    page.get_by_label("Health").select_option("")
    expect(page.get_by_role("link", name="SQLPROD02")).to_be_visible()
    expect(page.locator("#server-rows .form-error")).to_have_count(0)

    # The server page: header badge and Health card, live.
    page.get_by_role("link", name="SQLPROD02").click()
    expect(page.get_by_role("heading", name="SQLPROD02")).to_be_visible()
    page.evaluate("window.__stayed = true")
    badge = page.locator("#header-health [data-health]")
    expect(badge).to_have_attribute("data-health", re.compile("healthy|warning"))
    spike(sqlsim, tenant_alpha, "SQLPROD02")
    expect(badge).to_have_attribute("data-health", "critical", timeout=CYCLE_WAIT)
    expect(badge).to_contain_text("Critical")
    expect(page.locator("#health-card")).to_contain_text(re.compile(r"(9\d|100)%"))
    assert page.evaluate("window.__stayed") is True

    # The group page: members' health, live; stale and offline look different.
    page.goto(f"/groups/{group.pk}/")
    page.evaluate("window.__stayed = true")
    members = page.locator("#group-members")
    m1 = members.get_by_role("row").filter(has=page.get_by_role("link", name="SQLPROD01"))
    m2 = members.get_by_role("row").filter(has=page.get_by_role("link", name="SQLPROD02"))
    expect(m1.locator("[data-health]")).to_have_attribute("data-health", "critical")
    now = timezone.now()
    with tenancy.use_tenant(tenant_alpha):
        # SQLPROD01: DbTools stopped collecting 6 minutes ago (workers down).
        CollectorState.objects.filter(server=fleet[0]).update(
            next_due_at=now - dt.timedelta(minutes=5),
            last_attempt_at=now - dt.timedelta(minutes=6),
            last_success_at=now - dt.timedelta(minutes=6),
        )
        # SQLPROD02: collected on time, but the instance has not answered for 10 minutes.
        CollectorState.objects.filter(server=fleet[1]).update(
            next_due_at=now + dt.timedelta(minutes=1),
            last_attempt_at=now,
            last_success_at=now - dt.timedelta(minutes=10),
            last_error="unreachable: no answer",
        )
    stale = m1.locator("[data-health]")
    offline = m2.locator("[data-health]")
    expect(stale).to_have_attribute("data-health", "stale", timeout=CYCLE_WAIT)
    expect(stale).to_contain_text("Not collected for 6 min")
    expect(offline).to_have_attribute("data-health", "offline", timeout=CYCLE_WAIT)
    expect(offline).to_contain_text("Offline")
    assert page.evaluate("window.__stayed") is True
    color = "el => getComputedStyle(el).color"
    offline_color, stale_color = offline.evaluate(color), stale.evaluate(color)
    assert offline_color == "rgb(255, 123, 114)", offline_color  # red family, not grey
    assert stale_color != offline_color
    assert offline.locator("use").get_attribute("href").endswith("#server-off")
    assert stale.locator("use").get_attribute("href").endswith("#clock-alert")

    # The platform banner: for tenant admins (and superusers), on every page.
    expect(page.locator("#collection-banner")).to_have_count(0)  # an operator does not see it
    Membership.objects.filter(user__username="ops").update(role="admin")
    for url in ("/", "/servers/", f"/groups/{group.pk}/", "/activity/"):
        page.goto(url)
        expect(page.locator("#collection-banner")).to_contain_text(
            "Collection is behind: 1 server late"
        )
    # ...and what the collector's workers are doing about it.
    expect(page.locator("#collection-banner")).to_contain_text(
        re.compile(r"Collector slots running: \d of \d|No collector (slot|worker)")
    )
    page.goto("/")
    tile = page.locator(f'a.tile[data-server="{fleet[0].pk}"]')
    expect(tile).to_have_attribute("data-status", "stale")
    expect(tile).to_contain_text("Not collected for 6 min")
    expect(page.locator(f'a.tile[data-server="{fleet[1].pk}"]')).to_contain_text("Offline")

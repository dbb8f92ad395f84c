"""Dashboard and metrics tab in real Chromium, fed by the collector over real TDS from sqlsim."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from core import settings_store
from dbtools import tenancy
from engine import due
from monitoring import collector
from monitoring.models import CollectorState
from servers import actions, deployment
from sqlsim.instance import InstanceConfig
from tenants.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]


def collect(tenant):
    with tenancy.use_tenant(tenant):
        CollectorState.objects.update(next_due_at=timezone.now())
        due.mark(tenant.pk)
        return collector.run_slot(0, 0.5, owner="test")


@pytest.fixture
def sqlsim(sqlsim_factory):
    """Instances of this module's own: the tests move their clocks, which no reset undoes."""
    names = ("SQLPROD01", "SQLPROD02")
    return sqlsim_factory([InstanceConfig(name=n, port=0, version=2019) for n in names])


@pytest.fixture
def fleet(tenant_alpha, sqlsim, settings):
    settings.DBTOOLS_COLLECTOR_TIMEOUT = 3
    with tenancy.use_tenant(tenant_alpha):
        settings_store.update({"dashboard_refresh_seconds": 5})
        servers = []
        for name in ("SQLPROD01", "SQLPROD02"):
            host, port = sqlsim.address(name)
            server = actions.create_server(
                {
                    "name": name,
                    "host": host,
                    "port": port,
                    "auth_type": "sql",
                    "username": sqlsim.login,
                    "password": sqlsim.password,
                }
            )
            assert deployment.deploy(server)["monitoring_status"] == "monitored"
            servers.append(server)
    for name in ("SQLPROD01", "SQLPROD02"):
        sqlsim.clear_cpu(name)
        # A fresh ring-buffer record: a spike an earlier test left must not be the newest one.
        sqlsim.advance_clock(name, 120)
    collect(tenant_alpha)
    return servers


@pytest.fixture
def logged_in(page, login, tenant_alpha):
    user = get_user_model().objects.create_user("ops", password="Ops-pass-12345")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="operator")
    return login("ops", "Ops-pass-12345")


def test_dashboard_turns_critical_within_one_poll(fleet, logged_in, sqlsim, tenant_alpha):
    page = logged_in
    tile = page.locator(f'a.tile[data-server="{fleet[0].pk}"]')
    expect(tile).to_have_attribute("data-status", re.compile("healthy|warning"))
    expect(page.locator(".stat-label", has_text="Critical").locator("..")).to_contain_text("0")

    sqlsim.spike_cpu("SQLPROD01", 99)
    sqlsim.advance_clock("SQLPROD01", 120)  # a new ring-buffer record with the spike
    collect(tenant_alpha)
    # No reload: the page polls every 5 s here (tenant setting), 30 s by default.
    expect(tile).to_have_attribute("data-status", "critical", timeout=12_000)
    expect(tile).to_have_class(re.compile("changed"))
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    page.locator(".stat-label", has_text="Critical").click()
    expect(page).to_have_url(re.compile(r"/servers/\?health=critical"))
    expect(page.get_by_role("link", name="SQLPROD01")).to_be_visible()
    expect(page.get_by_role("link", name="SQLPROD02")).to_have_count(0)


def test_metrics_tab_draws_charts_for_each_range(fleet, logged_in, sqlsim, tenant_alpha):
    sqlsim.advance_clock("SQLPROD01", 60)
    collect(tenant_alpha)
    page = logged_in
    page.goto(f"/servers/{fleet[0].pk}/")
    card = page.locator("#collection-card")
    expect(card).to_contain_text("Last collected")
    card.get_by_label("every").fill("90")
    card.get_by_role("button", name="Save").click()
    expect(card).to_contain_text("Saved; applies from the next cycle.")
    expect(card.get_by_label("every")).to_have_value("90")
    page.wait_for_load_state("networkidle")
    page.get_by_role("link", name="Metrics", exact=True).click()
    expect(page).to_have_url(re.compile(r"/metrics$"))
    expect(page.locator("figure[data-chart] canvas").first).to_be_visible()

    def show(rng):
        # Wait for each swap: a click on the old panel while a swap is in flight is lost with it.
        with page.expect_response(lambda r: r.url.endswith(f"range={rng}")):
            page.get_by_role("link", name=rng, exact=True).click()
        expect(page.get_by_role("link", name=rng, exact=True)).to_have_attribute(
            "aria-current", "true"
        )
        expect(page.locator('figure[data-chart="series-cpu"] canvas')).to_have_count(1)

    for rng in ("1h", "6h", "24h", "7d", "30d", "1h"):
        show(rng)
    page.wait_for_load_state("networkidle")
    box = page.locator('figure[data-chart="series-cpu"] .u-over')
    box.hover()
    expect(page.locator('figure[data-chart="series-cpu"] .chart-tip')).to_be_visible()
    expect(page.locator('figure[data-chart="series-cpu"] .chart-tip')).to_contain_text("SQL Server")

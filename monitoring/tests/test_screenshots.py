"""Screenshots of the main pages as a DBA sees them (into test-results/, not committed)."""

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dbtools import tenancy
from monitoring.models import CollectorState
from monitoring.tests.test_browser import collect, fleet, logged_in, sqlsim  # noqa: F401
from servers import actions

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]

OUT = Path(__file__).resolve().parents[2] / "test-results"


def test_screenshots(fleet, logged_in, sqlsim, tenant_alpha):  # noqa: F811
    OUT.mkdir(exist_ok=True)
    with tenancy.use_tenant(tenant_alpha):
        group = actions.create_group("Production")
        actions.add_to_group(group, fleet)
        actions.assign_labels(fleet, ["prod", "tier-1"])
    sqlsim.spike_cpu("SQLPROD01", 99)
    sqlsim.advance_clock("SQLPROD01", 120)
    collect(tenant_alpha)
    with tenancy.use_tenant(tenant_alpha):
        now = timezone.now()
        CollectorState.objects.filter(server=fleet[1]).update(
            next_due_at=now - dt.timedelta(minutes=5), last_attempt_at=now - dt.timedelta(minutes=6)
        )
    page = logged_in
    page.set_viewport_size({"width": 1440, "height": 900})
    shots = {
        "dashboard": "/",
        "server-list": "/servers/",
        "server-page": f"/servers/{fleet[0].pk}/",
        "wizard": "/servers/add",
    }
    for name, url in shots.items():
        page.goto(url)
        expect(page.locator("main h1")).to_be_visible()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
        assert (OUT / f"{name}.png").stat().st_size > 10_000

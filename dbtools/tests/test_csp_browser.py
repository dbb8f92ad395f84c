"""Every main page works under the Content-Security-Policy: Chromium reports no violation."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from dbtools import tenancy
from engine import due
from monitoring import collector
from monitoring.models import CollectorState
from servers import actions, deployment

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]

PAGES = [
    "/",
    "/servers/",
    "/servers/{pk}/",
    "/servers/{pk}/metrics",
    "/groups/",
    "/activity/",
    "/users/",
    "/settings/",
    "/policies/",
    "/admin/",
    "/admin/tenants/tenant/",
    "/admin/tenants/tenant/add/",
    "/api/docs/",
]


@pytest.fixture
def server(tenant_alpha, sqlsim, settings):
    settings.DBTOOLS_COLLECTOR_TIMEOUT = 3
    with tenancy.use_tenant(tenant_alpha):
        host, port = sqlsim.address("SQLPROD02")
        server = actions.create_server(
            {
                "name": "SQLPROD02",
                "host": host,
                "port": port,
                "auth_type": "sql",
                "username": sqlsim.login,
                "password": sqlsim.password,
            }
        )
        assert deployment.deploy(server)["monitoring_status"] == "monitored"
        for _ in range(2):
            CollectorState.objects.update(next_due_at=timezone.now())
            due.mark(tenant_alpha.pk)
            collector.run_slot(0, 0.5, owner="test")
    return server


def test_main_pages_raise_no_csp_violation(page, login, server):
    violations = []
    page.on(
        "console",
        lambda m: (
            violations.append(f"{page.url}: {m.text}")
            if "Content Security Policy" in m.text or "Content-Security-Policy" in m.text
            else None
        ),
    )
    errors = []
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    get_user_model().objects.create_superuser("root", "root@example.com", "Root-pass-123")
    login("root", "Root-pass-123")
    for path in PAGES:
        page.goto(path.format(pk=server.pk))
        page.wait_for_load_state("networkidle")
    # Live parts too: a chart's tooltip and an HTMX swap.
    page.goto(f"/servers/{server.pk}/metrics")
    page.locator('figure[data-chart="series-cpu"] .u-over').hover()
    expect(page.locator('figure[data-chart="series-cpu"] .chart-tip')).to_be_visible()
    assert violations == []
    assert errors == []

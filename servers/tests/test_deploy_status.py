"""Deploy says what it is doing: queued (waiting for a worker) or running, since when, and why
it failed; a task handed out twice runs once."""

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from dbtools.tenancy import use_tenant
from servers import deployment
from servers.models import Server
from tenants.models import Membership


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, databases="__all__")
def test_deploy_shows_queued_running_and_the_error(page, login, tenant_alpha):
    user = get_user_model().objects.create_user("dep", password="Dep-pass-12345")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="operator")
    now = timezone.now()
    with use_tenant(tenant_alpha):
        server = Server.objects.create(
            name="SQLDEP01",
            host="h",
            username="u",
            monitoring_status="deploying",
            deploy_requested_at=now - dt.timedelta(minutes=3),
        )
    login("dep", "Dep-pass-12345")
    page.goto(f"/servers/{server.pk}/")
    status = page.locator("#deploy-status")
    expect(status).to_contain_text("Queued, waiting for a worker")
    expect(status).to_contain_text("3\xa0minutes")
    page.evaluate("window.__stayed = true")

    with use_tenant(tenant_alpha):  # a worker picks it up
        Server.objects.filter(pk=server.pk).update(deploy_started_at=timezone.now())
    expect(status).to_contain_text(re.compile(r"Deploying\s+since"), timeout=6000)

    with use_tenant(tenant_alpha):
        Server.objects.filter(pk=server.pk).update(
            monitoring_status="failed", deployment_error="Login failed for user 'dbtools'."
        )
    expect(status).to_contain_text("Deployment failed", timeout=6000)
    expect(page.locator("#deploy-error")).to_have_text("Login failed for user 'dbtools'.")
    expect(page.get_by_role("button", name="Retry deploy")).to_be_visible()
    assert page.evaluate("window.__stayed") is True


@pytest.mark.django_db(databases="__all__")
def test_deploy_task_runs_once(tenant_alpha):
    with use_tenant(tenant_alpha):
        server = Server.objects.create(
            name="SQLDEP02",
            host="h",
            username="u",
            monitoring_status="deploying",
            deploy_requested_at=timezone.now(),
            deploy_started_at=timezone.now(),
        )
    # Already claimed by another worker: nothing is done again (no connection attempted).
    status = deployment.deploy_task("alpha", server.pk)
    assert status["monitoring_status"] == "deploying"
    assert status["phase"] == "running"

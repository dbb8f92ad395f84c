"""Onboarding as a wizard: connection → test → groups and labels → monitoring → the server's
page. A duplicate name is caught at the test step; a failed save keeps every field."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from dbtools.tenancy import use_tenant
from servers import actions
from servers.models import Server
from tenants.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]


def test_onboarding_wizard(page, login, tenant_alpha, sqlsim):
    user = get_user_model().objects.create_user("wiz", password="Wiz-pass-12345")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="operator")
    with use_tenant(tenant_alpha):
        actions.create_group("Production")
        actions.create_label("prod")
        actions.create_server(
            {
                "name": "SQLDUP",
                "host": "dup.corp",
                "port": 1433,
                "auth_type": "sql",
                "username": "u",
                "password": "p",
            }
        )
    login("wiz", "Wiz-pass-12345")
    page.goto("/servers/add")
    steps = page.get_by_role("list", name="Steps")
    expect(steps.locator('[aria-current="step"]')).to_contain_text("Connection")
    host, port = sqlsim.address("SQLPROD02")
    page.get_by_label("Display name").fill("sqldup")  # taken (names are case-insensitive)
    page.get_by_label("Host").fill(host)
    page.get_by_label("Port").fill(str(port))
    page.get_by_label("Username").fill(sqlsim.login)
    page.get_by_label("Password").fill(sqlsim.password)
    nxt = page.get_by_role("button", name="Next")
    nxt.click()
    expect(steps.locator('[aria-current="step"]')).to_contain_text("Test")
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("already used by another server")).to_be_visible()
    expect(nxt).to_be_disabled()  # the duplicate name stops the wizard here
    page.get_by_role("button", name="Back").click()
    expect(page.locator("#id_name-errors")).to_contain_text("already exists")
    page.get_by_label("Display name").fill("Prod 02")
    nxt.click()
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("Connection OK")).to_be_visible()
    nxt.click()

    # Groups and labels; the label field completes the label being typed.
    expect(steps.locator('[aria-current="step"]')).to_contain_text("Groups and labels")
    page.get_by_label("Production").check()
    labels = page.get_by_label("Labels")
    labels.press_sequentially("tier-1, pr")
    option = page.locator("#wizard-labels option").first
    expect(option).to_have_attribute("value", "tier-1, prod")
    labels.fill("tier-1, prod")
    nxt.click()

    # Monitoring: on by default.
    expect(steps.locator('[aria-current="step"]')).to_contain_text("Monitoring")
    deploy = page.get_by_label("Deploy the monitoring objects and start collection")
    expect(deploy).to_be_checked()

    # The instance goes away before the save: nothing saved, every field still filled in.
    sqlsim.stop_instance("SQLPROD02")
    page.get_by_role("button", name="Add server").click()
    expect(page.locator("#save-errors")).to_contain_text("Unreachable")
    with use_tenant(tenant_alpha):
        assert not Server.objects.filter(name="Prod 02").exists()
    expect(page.get_by_label("Password")).to_have_value(sqlsim.password)
    expect(labels).to_have_value("tier-1, prod")
    expect(page.get_by_label("Production")).to_be_checked()
    sqlsim.start_instance("SQLPROD02")
    page.get_by_role("button", name="Add server").click()

    # Done: the new server's page, in its groups, labelled, monitoring deployed.
    expect(page).to_have_url(re.compile(r"/servers/\d+/$"))
    expect(page.get_by_role("heading", name="Prod 02")).to_be_visible()
    expect(page.get_by_text("Server Prod 02 added.")).to_be_visible()
    expect(page.locator("#groups-card").get_by_role("link", name="Production")).to_be_visible()
    expect(page.locator("#labels-card").get_by_role("link", name="tier-1")).to_be_visible()
    expect(page.locator("#labels-card").get_by_role("link", name="prod")).to_be_visible()
    expect(page.locator("#monitoring-card")).to_contain_text("Monitored")

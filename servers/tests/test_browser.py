"""Onboarding and organising servers, clicked through in real Chromium against sqlsim."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from dbtools.tenancy import use_tenant
from servers import actions
from tenants.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]


@pytest.fixture
def operator_page(page, login, tenant_alpha):
    user = get_user_model().objects.create_user("otto", password="Otto-pass-123")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="operator")
    login("otto", "Otto-pass-123")
    return page


def test_onboard_group_label_filter_and_deploy(operator_page, tenant_alpha, sqlsim):
    page = operator_page
    with use_tenant(tenant_alpha):  # a server that will not carry the label
        actions.create_server(
            {
                "name": "SQLOTHER01",
                "host": "other.corp",
                "port": 1433,
                "auth_type": "sql",
                "username": "u",
                "password": "p",
            }
        )

    # Groups page: create the group the server will join.
    page.get_by_role("link", name="Groups").click()
    page.get_by_label("Name").fill("Production")
    page.get_by_label("Description").fill("Customer-facing OLTP")
    page.get_by_role("button", name="Create group").click()
    expect(page.get_by_role("heading", name="Production")).to_be_visible()

    # Wizard: past the test step only once a test passes for the current values.
    page.get_by_role("link", name="Servers").click()
    page.get_by_role("link", name="Add server").click()
    host, port = sqlsim.address("SQLPROD01")
    page.get_by_label("Display name").fill("Prod 01")
    page.get_by_label("Host").fill(host)
    expect(page.get_by_label("Port")).to_have_value("1433")
    page.get_by_label("Port").fill(str(port))
    page.get_by_label("Username").fill(sqlsim.login)
    page.get_by_label("Password").fill(sqlsim.password)
    nxt = page.get_by_role("button", name="Next")
    nxt.click()
    expect(nxt).to_be_disabled()
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("Connection OK")).to_be_visible()
    expect(page.get_by_text("SQL Server 2019 RTM")).to_be_visible()
    expect(nxt).to_be_enabled()
    page.get_by_role("button", name="Back").click()
    page.get_by_label("Port").fill("1")  # a change after the test asks for a new one
    nxt.click()
    expect(nxt).to_be_disabled()
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("Unreachable")).to_be_visible()
    expect(nxt).to_be_disabled()
    page.get_by_role("button", name="Back").click()
    page.get_by_label("Port").fill(str(port))
    nxt.click()
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("Connection OK")).to_be_visible()
    nxt.click()  # groups and labels: none here
    nxt.click()  # monitoring: deployed later from the server page
    page.get_by_label("Deploy the monitoring objects and start collection").uncheck()
    page.get_by_role("button", name="Add server").click()

    expect(page).to_have_url(re.compile(r"/servers/\d+/$"))  # done: the new server's page
    expect(page.get_by_text("Server Prod 01 added.")).to_be_visible()
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Servers").click()
    row = page.get_by_role("row", name=re.compile("Prod 01"))
    expect(row).to_contain_text("Online")
    expect(row).to_contain_text("2019")

    # Detail page: join the group and add a label (both through HTMX).
    page.get_by_role("link", name="Prod 01").click()
    expect(page.get_by_role("heading", name="Prod 01")).to_be_visible()
    page.get_by_label("Add to group").select_option(label="Production")
    page.locator("#groups-card").get_by_role("button", name="Add").click()
    expect(page.locator("#groups-card").get_by_role("link", name="Production")).to_be_visible()
    page.get_by_label("Add labels").fill("prod, tier-1")
    page.locator("#labels-card").get_by_role("button", name="Add").click()
    expect(page.locator("#labels-card").get_by_role("link", name="tier-1")).to_be_visible()
    expect(page.get_by_role("cell", name="server.labels_added")).to_be_visible()

    # The list filtered by label: by clicking a chip, then by typing.
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Servers").click()
    expect(page.get_by_role("link", name="SQLOTHER01")).to_be_visible()
    page.get_by_role("row", name=re.compile("Prod 01")).get_by_role(
        "link", name="prod", exact=True
    ).click()
    expect(page).to_have_url(re.compile(r"label=prod"))
    expect(page.get_by_role("link", name="Prod 01")).to_be_visible()
    expect(page.get_by_role("link", name="SQLOTHER01")).to_have_count(0)
    page.get_by_label("Labels").fill("")
    expect(page.get_by_role("link", name="SQLOTHER01")).to_be_visible()
    page.get_by_label("Labels").fill("tier-1")
    expect(page.get_by_role("link", name="SQLOTHER01")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"label=tier-1"))
    page.get_by_label("Search servers").fill("production")
    expect(page.get_by_role("link", name="Prod 01")).to_be_visible()

    # Deploy the monitoring objects (a worker task; synchronous in tests).
    page.get_by_role("link", name="Prod 01").click()
    card = page.locator("#monitoring-card")
    expect(card).to_contain_text("Not deployed")
    card.get_by_role("button", name="Deploy").click()
    expect(card).not_to_contain_text("Not deployed")
    expect(card).to_contain_text("Monitored")


def test_bulk_add_to_group_and_delete(operator_page, tenant_alpha):
    page = operator_page
    with use_tenant(tenant_alpha):
        for name in ("SQLA01", "SQLB01", "SQLC01"):
            fields = {
                "name": name,
                "host": f"{name.lower()}.corp",
                "port": 1433,
                "auth_type": "sql",
                "username": "u",
                "password": "p",
            }
            actions.create_server(fields)
        actions.create_group("Batch")
    page.goto("/servers/")
    bar = page.locator("form[data-bulk]")
    expect(bar.get_by_role("button", name="Add to group")).to_be_disabled()
    page.get_by_label("Select SQLA01").check()
    page.get_by_label("Select SQLB01").check()
    expect(bar).to_contain_text("2 servers selected")
    bar.get_by_label("Group for the selected servers").select_option(label="Batch")
    bar.get_by_role("button", name="Add to group").click()
    expect(page.get_by_text("2 server(s) added to Batch.")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("SQLA01"))).to_contain_text("Batch")

    page.get_by_label("Select SQLC01").check()
    bar.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete 1 server?")
    expect(dialog).to_contain_text("SQLC01")  # it names what it deletes
    bg = dialog.get_by_role("button", name="Delete servers").evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    assert bg == "rgb(182, 35, 36)", bg  # a destructive (red) button
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("link", name="SQLC01")).to_be_visible()  # nothing deleted
    bar.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Delete servers").click()
    expect(page.get_by_text("1 server(s) deleted.")).to_be_visible()
    expect(page.get_by_role("link", name="SQLC01")).to_have_count(0)


def test_viewer_sees_no_server_actions(page, login, tenant_alpha):
    user = get_user_model().objects.create_user("vic", password="Viewer-pass-123")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="viewer")
    with use_tenant(tenant_alpha):
        actions.create_server(
            {
                "name": "SQLA01",
                "host": "a.corp",
                "port": 1433,
                "auth_type": "sql",
                "username": "u",
                "password": "p",
            }
        )
    login("vic", "Viewer-pass-123")
    page.goto("/servers/")
    expect(page.get_by_role("link", name="SQLA01")).to_be_visible()
    expect(page.get_by_role("link", name="Add server")).to_have_count(0)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    page.get_by_role("link", name="SQLA01").click()
    expect(page.get_by_role("heading", name="SQLA01")).to_be_visible()
    for name in ("Test connection", "Edit", "Delete", "Deploy"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)


def test_too_many_connection_tests_are_explained(
    operator_page, tenant_alpha, sqlsim, settings, hold_target_slots
):
    """With every slot of the process taken, Test connection says why and nothing is tested."""
    page = operator_page
    settings.DBTOOLS_TARGET_REQUESTS_PER_PROCESS = 1
    page.goto("/servers/add")
    host, port = sqlsim.address("SQLPROD01")
    page.get_by_label("Display name").fill("Prod 01")
    page.get_by_label("Host").fill(host)
    page.get_by_label("Port").fill(str(port))
    page.get_by_label("Username").fill(sqlsim.login)
    page.get_by_label("Password").fill(sqlsim.password)
    nxt = page.get_by_role("button", name="Next")
    nxt.click()  # to the wizard's test step
    release = hold_target_slots(None, 1)
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("Too many connection tests")).to_be_visible()
    busy = "1 connection test already running; try again in a few seconds."
    expect(page.get_by_text(busy)).to_be_visible()
    expect(nxt).to_be_disabled()
    release()
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("Connection OK")).to_be_visible()
    expect(nxt).to_be_enabled()

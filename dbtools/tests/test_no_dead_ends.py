"""No dead ends: every path a DBA takes ends on a page of the app, with its navigation."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from playwright.sync_api import expect

from dbtools import views
from dbtools.tenancy import use_tenant
from servers.models import Server
from tenants.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]


@pytest.fixture
def two_tenants_page(page, login, tenant_alpha, tenant_beta):
    user = get_user_model().objects.create_user("dba", password="Dba-pass-12345")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="operator")
    Membership.objects.create(user=user, tenant=tenant_beta, role="operator")
    with use_tenant(tenant_alpha):
        servers = [
            Server.objects.create(name=n, host="h", username="u")
            for n in ("SQLA01", "SQLA02", "OTHER01")
        ]
    with use_tenant(tenant_beta):
        Server.objects.create(name="SQLB01", host="h", username="u")
    login("dba", "Dba-pass-12345")
    page.goto("/")
    if page.locator("#tenant-picker").input_value() != "alpha":
        page.locator("#tenant-picker").select_option("alpha")
        page.locator("#tenant-switch").click()
    expect(page.locator("#tenant-picker")).to_have_value("alpha")
    return page, servers


def test_filters_bulk_errors_and_tenant_switch(two_tenants_page):
    page, servers = two_tenants_page
    # Empty filter values mean "any": no red banner.
    page.goto("/servers/?q=&status=&health=&monitoring_status=&group=")
    expect(page.get_by_role("link", name="OTHER01")).to_be_visible()
    expect(page.locator(".form-error")).to_have_count(0)

    # A refused bulk action keeps the list and its filters; the next one returns there too.
    page.get_by_label("Search servers").fill("SQLA")
    expect(page).to_have_url(re.compile(r"q=SQLA"))
    expect(page.get_by_role("link", name="OTHER01")).to_have_count(0)
    page.get_by_label("Select SQLA01").check()
    page.get_by_role("button", name="Add to group").click()  # no group chosen
    expect(page.locator(".bulk-errors")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/servers/\?q=SQLA(&|$)"))
    expect(page.get_by_label("Search servers")).to_have_value("SQLA")
    # ...and keeps refreshing the list, not the action's address.
    expect(page.locator("#server-rows")).to_have_attribute(
        "data-live-url", re.compile(r"^/servers/\?q=SQLA")
    )
    expect(page.get_by_role("link", name="OTHER01")).to_have_count(0)
    page.get_by_label("Select SQLA01").check()
    page.get_by_label("Label for the selected servers").fill("night")
    page.get_by_role("button", name="Add label").click()
    expect(page.locator("#toasts")).to_contain_text("added to 1 server")
    expect(page).to_have_url(re.compile(r"/servers/\?q=SQLA(&|$)"))
    expect(page.get_by_role("link", name="OTHER01")).to_have_count(0)

    # Switching tenant on a server page: the new tenant's server list, inside the shell.
    page.goto(f"/servers/{servers[0].pk}/")
    picker = page.locator("#tenant-picker")
    picker.focus()
    page.keyboard.press("ArrowDown")  # moving through the list switches nothing
    page.wait_for_timeout(500)
    expect(page).to_have_url(re.compile(rf"/servers/{servers[0].pk}/$"))
    picker.select_option("beta")
    page.locator("#tenant-switch").click()
    expect(page).to_have_url(re.compile(r"/servers/$"))
    expect(page.get_by_role("link", name="SQLB01")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()

    # A missing page is a page of the app: navigation, tenant selector, a way back.
    response = page.goto(f"/servers/{servers[2].pk}/")  # only alpha has a third server
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.locator("#tenant-picker")).to_be_visible()
    page.get_by_role("link", name="Go to the dashboard").click()
    expect(page).to_have_url(re.compile(r"/$"))


@pytest.mark.parametrize(
    ("handler", "status"),
    [(views.bad_request, 400), (views.permission_denied, 403), (views.page_not_found, 404)],
)
def test_error_pages_use_the_shell(handler, status, admin_user):
    request = RequestFactory().get("/nowhere/")
    request.user = admin_user
    response = handler(request, Exception("x"))
    html = response.content.decode()
    assert response.status_code == status
    assert 'aria-label="Main"' in html and "Go to the dashboard" in html


def test_server_error_page_uses_the_shell(admin_user):
    request = RequestFactory().get("/nowhere/")
    request.user = admin_user
    response = views.server_error(request)
    assert response.status_code == 500
    assert 'aria-label="Main"' in response.content.decode()

"""Keyboard and layout: hidden navigation is out of the tab order; long names stay in place."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tenants.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]


def test_collapsed_sidebar_is_out_of_the_tab_order(page, login, tenant_alpha):
    user = get_user_model().objects.create_user("kb", password="Kb-pass-12345")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="viewer")
    page.set_viewport_size({"width": 1024, "height": 768})
    login("kb", "Kb-pass-12345")
    page.goto("/activity/")
    in_sidebar = "() => !!document.activeElement.closest('#sidebar')"
    for _ in range(15):
        page.keyboard.press("Tab")
        assert not page.evaluate(in_sidebar), "an invisible navigation link took the focus"
    page.locator("#main").focus()  # the focused skip link would cover the menu button
    page.get_by_role("button", name="Menu").click()
    sidebar = page.get_by_role("navigation", name="Main")
    expect(sidebar.get_by_role("link", name="Servers")).to_be_visible()
    sidebar.get_by_role("link", name="Dashboard").focus()
    assert page.evaluate(in_sidebar)


def test_long_tenant_name_keeps_the_header_on_screen(page, login, tenant_alpha):
    tenant_alpha.name = "A" * 199
    tenant_alpha.save(update_fields=["name"])
    user = get_user_model().objects.create_user("kb", password="Kb-pass-12345")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="viewer")
    login("kb", "Kb-pass-12345")
    page.goto("/servers/")
    width = page.evaluate("document.querySelector('.topbar').scrollWidth")
    assert width <= 1280, width
    expect(page.get_by_role("button", name="Log out")).to_be_in_viewport()


def test_range_switch_keeps_focus(page, login, tenant_alpha):
    from dbtools.tenancy import use_tenant
    from servers.models import Server

    with use_tenant(tenant_alpha):
        server = Server.objects.create(name="SQLKB01", host="h", username="u")
    user = get_user_model().objects.create_user("kb", password="Kb-pass-12345")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="viewer")
    login("kb", "Kb-pass-12345")
    page.goto(f"/servers/{server.pk}/metrics")
    page.get_by_role("link", name="6h", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="6h", exact=True)).to_have_attribute(
        "aria-current", "true"
    )
    expect(page.get_by_role("link", name="6h", exact=True)).to_be_focused()
    page.keyboard.press("Tab")  # the keyboard carries on from where it was
    expect(page.get_by_role("link", name="24h", exact=True)).to_be_focused()


def test_long_server_name_truncated_and_whole_on_focus(page, login, tenant_alpha):
    from dbtools.tenancy import use_tenant
    from servers.models import Server

    long_name = "SQL-" + "VERYLONGNAME" * 10
    with use_tenant(tenant_alpha):
        Server.objects.create(name=long_name, host="h", username="u")
    user = get_user_model().objects.create_user("kb", password="Kb-pass-12345")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="viewer")
    login("kb", "Kb-pass-12345")
    page.goto("/servers/")
    link = page.get_by_role("link", name=long_name)
    expect(link).to_have_attribute("title", long_name)  # the full name on hover
    assert link.bounding_box()["width"] <= 330
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    link.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # focus by keyboard: the whole name shows
    assert page.evaluate(
        "(n) => { const a = document.activeElement; return a.textContent === n "
        "&& a.scrollWidth <= a.clientWidth + 1; }",
        long_name,
    )

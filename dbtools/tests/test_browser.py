"""The app shell, tenant management and roles, clicked through in real Chromium."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tenants.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]


def test_create_tenant_in_admin_then_select_it(page, login, tenant_alpha, scratch_tenants):
    scratch_tenants("omega-corp")
    get_user_model().objects.create_superuser("root", "root@example.com", "Root-pass-123")
    login("root", "Root-pass-123")
    expect(page.get_by_role("heading", name="Welcome to Alpha Corp")).to_be_visible()

    page.get_by_role("link", name="Tenants").click()
    expect(page.get_by_role("cell", name="Alpha Corp")).to_be_visible()
    page.get_by_role("link", name=re.compile("Add tenant", re.I)).click()
    page.wait_for_load_state()
    page.get_by_label("Name").fill("Omega Corp")
    expect(page.get_by_label("Slug")).to_have_value("omega-corp")
    page.get_by_role("button", name="Create tenant").click()
    expect(page.get_by_text("Tenant “Omega Corp” created")).to_be_visible()

    page.get_by_role("link", name="Back to the app").click()
    page.get_by_label("Tenant").select_option(label="Omega Corp")
    page.get_by_role("button", name="Switch").click()  # a choice is confirmed, not automatic
    expect(page.get_by_role("heading", name="Welcome to Omega Corp")).to_be_visible()
    expect(page).to_have_title(re.compile("Omega Corp"))


def test_bad_slug_is_refused_in_admin(page, login):
    get_user_model().objects.create_superuser("root", "root@example.com", "Root-pass-123")
    login("root", "Root-pass-123")
    page.goto("/admin/tenants/tenant/add/")
    page.get_by_label("Name").fill("Bad")
    page.get_by_label("Slug").fill("Bad_Slug")
    page.get_by_role("button", name="Create tenant").click()
    expect(page.get_by_text("lowercase letters, digits and hyphens").first).to_be_visible()


def test_viewer_sees_no_edit_actions(page, login, tenant_alpha):
    user = get_user_model().objects.create_user("vic", password="Viewer-pass-123")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="viewer")
    login("vic", "Viewer-pass-123")
    expect(page.get_by_role("heading", name="Welcome to Alpha Corp")).to_be_visible()
    expect(page.get_by_role("link", name="Add server")).to_have_count(0)
    expect(page.get_by_role("link", name="Tenants")).to_have_count(0)
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("cell", name="vic")).to_be_visible()
    expect(page.get_by_role("button", name="Add user")).to_have_count(0)
    expect(page.get_by_role("button", name="Remove")).to_have_count(0)
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("button", name="Save settings")).to_have_count(0)
    expect(page.get_by_role("note")).to_contain_text("Read only")  # values, not dead inputs
    expect(page.get_by_role("spinbutton")).to_have_count(0)


def test_admin_adds_user_and_sees_it_in_activity(page, login, tenant_alpha):
    user = get_user_model().objects.create_user("ada", password="Admin-pass-123")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="admin")
    login("ada", "Admin-pass-123")
    page.get_by_role("link", name="Users").click()
    page.get_by_label("Username").fill("otto")
    page.get_by_label("Password").fill("Otto-pass-12345")
    page.get_by_label("Role", exact=True).select_option("operator")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_text("otto added.")).to_be_visible()
    expect(page.get_by_role("cell", name="otto", exact=True)).to_be_visible()

    page.get_by_role("link", name="Activity").click()
    expect(page.get_by_role("cell", name="user: otto")).to_be_visible()
    page.get_by_label("Search").fill("no-such-thing")
    expect(page.get_by_text("No activity matches.")).to_be_visible()
    page.get_by_label("Search").fill("otto")
    expect(page.get_by_role("cell", name="user: otto")).to_be_visible()


def test_keyboard_skip_link_and_focus(page, login, tenant_alpha):
    get_user_model().objects.create_superuser("root", "root@example.com", "Root-pass-123")
    login("root", "Root-pass-123")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

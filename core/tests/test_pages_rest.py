"""Activity filters, settings for viewers, the admin tenant list and the first landing."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from dbtools.tenancy import use_tenant
from servers import actions
from servers.models import Server
from tenants.models import Membership, Tenant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]


def test_activity_filters_in_the_url_with_links(page, login, tenant_alpha):
    ann = get_user_model().objects.create_user("ann", password="Ann-pass-12345")
    Membership.objects.create(user=ann, tenant=tenant_alpha, role="operator")
    bob = get_user_model().objects.create_user("bob", password="Bob-pass-12345")
    Membership.objects.create(user=bob, tenant=tenant_alpha, role="operator")
    with use_tenant(tenant_alpha):
        fields = {
            "name": "SQLACT01",
            "host": "a.corp",
            "port": 1433,
            "auth_type": "sql",
            "username": "u",
            "password": "p",
        }
        s = actions.create_server(fields, acting_user=ann)
        actions.assign_labels([s], ["prod"], acting_user=ann)
        actions.create_group("Nightly", "", acting_user=bob)
    login("ann", "Ann-pass-12345")
    page.goto("/activity/")
    action = page.get_by_label("Action")
    expect(action.locator("option", has_text="Server: labels added")).to_have_count(1)
    action.select_option(label="Server: labels added")
    expect(page).to_have_url(re.compile(r"action=server.labels_added"))
    rows = page.locator("#activity-rows tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Server: labels added")
    action.select_option("")
    page.get_by_label("User").select_option(label="bob")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Group: created")
    page.get_by_label("User").select_option("")
    page.get_by_label("Entity type").select_option("server")
    expect(rows).to_have_count(2)
    page.get_by_label("From").fill("2999-01-01")
    page.get_by_label("From").dispatch_event("change")
    expect(page.get_by_text("No activity matches.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"date_from=2999-01-01"))
    page.reload()  # the filters live in the URL
    expect(page.get_by_label("Entity type")).to_have_value("server")
    expect(page.get_by_label("From")).to_have_value("2999-01-01")
    page.get_by_label("From").fill("")
    page.get_by_label("From").dispatch_event("change")
    page.locator("#activity-rows").get_by_role("link", name="SQLACT01").first.click()
    expect(page).to_have_url(re.compile(rf"/servers/{s.pk}/$"))


def test_settings_are_visibly_read_only_for_a_viewer(page, login, tenant_alpha):
    vic = get_user_model().objects.create_user("vic", password="Vic-pass-12345")
    Membership.objects.create(user=vic, tenant=tenant_alpha, role="viewer")
    login("vic", "Vic-pass-12345")
    page.goto("/settings/")
    expect(page.get_by_role("note")).to_contain_text("Read only")
    expect(page.get_by_role("spinbutton")).to_have_count(0)
    expect(page.get_by_role("textbox")).to_have_count(0)
    expect(page.locator("#settings-readonly")).to_contain_text("Metrics retention (days)")
    expect(page.get_by_role("button", name="Save settings")).to_have_count(0)


def test_admin_hides_deleted_tenants_by_default(page, login, tenant_alpha):
    Tenant.objects.create(
        slug="gone", name="Gone Corp", status="deleted", db_name="gone_db", db_user="gone_db"
    )
    get_user_model().objects.create_superuser("root", "r@example.com", "Root-pass-123")
    login("root", "Root-pass-123")
    page.goto("/admin/tenants/tenant/")
    expect(page.get_by_role("link", name="Alpha Corp")).to_be_visible()
    expect(page.get_by_text("Gone Corp")).to_have_count(0)
    page.get_by_role("link", name="All, deleted too").click()
    expect(page.get_by_text("Gone Corp")).to_be_visible()


def test_first_landing_is_the_last_chosen_else_the_busiest(page, login, tenant_alpha, tenant_beta):
    user = get_user_model().objects.create_user("lan", password="Lan-pass-12345")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="viewer")
    Membership.objects.create(user=user, tenant=tenant_beta, role="viewer")
    with use_tenant(tenant_beta):
        for i in range(3):
            Server.objects.create(name=f"SQLB{i}", host="h", username="u")
    login("lan", "Lan-pass-12345")
    expect(page.get_by_label("Tenant")).to_have_value("beta")  # most servers, not "Alpha"
    page.get_by_label("Tenant").select_option("alpha")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_label("Tenant")).to_have_value("alpha")
    page.get_by_role("button", name="Log out").click()
    login("lan", "Lan-pass-12345")
    expect(page.get_by_label("Tenant")).to_have_value("alpha")  # the one last chosen


def test_activity_csv_export_downloads_the_filtered_set_from_the_keyboard(
    page, login, tenant_alpha
):
    ann = get_user_model().objects.create_user("ann", password="Ann-pass-12345")
    Membership.objects.create(user=ann, tenant=tenant_alpha, role="operator")
    bob = get_user_model().objects.create_user("bob", password="Bob-pass-12345")
    Membership.objects.create(user=bob, tenant=tenant_alpha, role="operator")
    with use_tenant(tenant_alpha):
        actions.create_group("Nightly", "", acting_user=bob)
        actions.create_group("Weekly", "", acting_user=ann)
    login("ann", "Ann-pass-12345")
    page.goto("/activity/")
    page.get_by_label("User").select_option(label="bob")
    expect(page.locator("#activity-rows tbody tr")).to_have_count(1)
    export = page.get_by_role("link", name="Export CSV")
    expect(export).to_have_attribute("href", re.compile(r"user_id=\d"))  # follows the filters
    export.focus()
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    with open(info.value.path(), encoding="utf-8-sig") as f:
        lines = f.read().splitlines()
    assert len(lines) == 2, lines  # the header and bob's one entry
    assert "group.created" in lines[1] and "bob" in lines[1] and "Nightly" in lines[1]
    assert not any("Weekly" in line for line in lines)

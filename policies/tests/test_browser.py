"""Policies clicked through in real Chromium against sqlsim: the wizard, deploying to a group,
running the backup now, the group turning compliant, and a full disk turning a server failing
with the reason. A second flow does it with the keyboard alone."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from playwright.sync_api import expect

from dbtools.tenancy import use_tenant
from policies import facts
from scheduler import engine
from scheduler.models import JobRun
from servers import actions as server_actions
from tenants.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]


@pytest.fixture
def fleet(sqlsim_factory):
    from sqlsim import InstanceConfig

    return sqlsim_factory(
        [
            InstanceConfig(name="SQLPOL01", port=0, databases=6),
            InstanceConfig(name="SQLPOL02", port=0, databases=5),
        ]
    )


@pytest.fixture
def operator_page(page, login, tenant_alpha):
    user = get_user_model().objects.create_user("olga", password="Olga-pass-123")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="operator")
    login("olga", "Olga-pass-123")
    return page


@pytest.fixture
def production(fleet, tenant_alpha):
    with use_tenant(tenant_alpha):
        group = server_actions.create_group("Production")
        servers = []
        for name in ("SQLPOL01", "SQLPOL02"):
            host, port = fleet.address(name)
            servers.append(
                server_actions.create_server(
                    {
                        "name": name,
                        "host": host,
                        "port": port,
                        "auth_type": "sql",
                        "username": fleet.login,
                        "password": fleet.password,
                    },
                    acting_user=None,
                )
            )
        server_actions.add_to_group(group, servers)
    return group


def work(tenant):
    """What the scheduler's workers and the facts tick would do, here in the test."""
    with use_tenant(tenant):
        for _ in range(6):
            claimed = engine.step("w1", 10)
            for c in claimed:
                engine.execute(c.execution_id, "w1")
            if not claimed and not JobRun.objects.filter(status__in=["queued", "running"]).exists():
                break
        facts.collect()
    connections.close_all()


def test_create_deploy_run_and_see_compliance_turn(operator_page, production, fleet, tenant_alpha):
    page = operator_page
    csp = []
    page.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else 0)
    page.get_by_role("link", name="Policies", exact=True).click()
    page.get_by_role("link", name="Create policy").click()
    page.get_by_role("listitem").filter(has_text="Backup").first.click()
    expect(page.get_by_role("heading", name="New backup policy")).to_be_visible()
    expect(page.get_by_text("Default: 168", exact=False)).to_be_visible()
    page.get_by_label("Name").fill("Prod backups")
    page.get_by_label("Destination path").fill("relative\\path")
    page.get_by_label("Schedule log backups").uncheck()
    page.get_by_role("button", name="Save & activate").click()
    expect(page.get_by_text("Not a directory path")).to_be_visible()  # inline, on its field
    page.get_by_label("Destination path").fill("D:\\Backup")
    page.get_by_role("button", name="Save & activate").click()
    expect(page).to_have_url(re.compile(r"/policies/\d+/$"))
    expect(page.get_by_text("Policy Prod backups created (active).")).to_be_visible()
    expect(page.locator("pre.sql")).to_contain_text("BACKUP DATABASE")

    expect(page.locator("#deploy-picker")).to_have_attribute("open", "")  # nothing deployed yet
    page.get_by_label("Production").check()
    page.get_by_role("button", name="Deploy v1").click()
    expect(page.get_by_text("Prod backups v1 deployed to Production.")).to_be_visible()
    row = page.locator("#deployed-to tr[data-group='Production']")
    expect(row).to_contain_text("(latest)")

    # Before any backup: the facts say no full backup anywhere.
    work(tenant_alpha)
    page.reload()
    compliance = page.locator("#compliance")
    expect(compliance.locator("[data-compliance='non_compliant']").first).to_be_visible()
    expect(compliance).to_contain_text("no full backup recorded")

    page.get_by_role(
        "button", name=re.compile("Run Prod backups – full backup on Production now")
    ).click()
    expect(page.get_by_text("run queued")).to_be_visible()
    work(tenant_alpha)
    page.reload()
    history = page.locator("#executions")
    for name in ("SQLPOL01", "SQLPOL02"):
        expect(history.locator(f"tr[data-execution-server='{name}']")).to_contain_text("Succeeded")
    expect(row.locator("[data-compliance]")).to_have_attribute("data-compliance", "compliant")
    expect(compliance.locator("[data-compliance='non_compliant']")).to_have_count(0)

    # A week without backups on one server, whose disk is now full.
    fleet.steer("SQLPOL01", backup_failure="disk_full", age_history_hours=200)
    page.get_by_role("button", name=re.compile("full backup on Production now")).click()
    work(tenant_alpha)
    page.reload()
    expect(history.locator("tr[data-execution-server='SQLPOL01']").first).to_contain_text(
        "There is not enough space on the disk"
    )
    expect(row.locator("[data-compliance]")).to_have_attribute("data-compliance", "non_compliant")
    failing = compliance.locator("tr[data-server='SQLPOL01']").first
    expect(failing).to_contain_text("Failing")
    expect(failing).to_contain_text("no full backup for 8 days")
    expect(compliance.locator("tr[data-server='SQLPOL02']").first).to_contain_text("Compliant")
    page.goto("/policies/compliance?compliance=non_compliant")
    expect(page.locator("tr[data-server='SQLPOL01']").first).to_contain_text("Failing")
    expect(page.locator("tr[data-server='SQLPOL02']")).to_have_count(0)
    assert csp == []


def tab_to(page, locator, limit=80):
    """Press Tab until `locator` has the focus: proves it is reachable from the keyboard."""
    handle = locator.element_handle()
    for _ in range(limit):
        if page.evaluate("(el) => document.activeElement === el", handle):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{locator} not reachable with Tab")


def test_keyboard_only_create_and_deploy(operator_page, production):
    page = operator_page
    page.goto("/policies/")
    tab_to(page, page.get_by_role("link", name="Create policy"))
    page.keyboard.press("Enter")
    card = page.locator("a[data-type='integrity_check']")
    expect(card).to_be_visible()
    tab_to(page, card)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="New integrity check policy")).to_be_visible()
    tab_to(page, page.get_by_label("Name"))
    page.keyboard.type("Weekly CHECKDB")
    tab_to(page, page.get_by_label("Physical only (PHYSICAL_ONLY)"))
    page.keyboard.press("Space")
    tab_to(page, page.get_by_role("button", name="Save & activate"))
    page.keyboard.press("Enter")
    expect(page.get_by_text("Policy Weekly CHECKDB created (active).")).to_be_visible()
    expect(page.locator("pre.sql")).to_contain_text("PHYSICAL_ONLY")
    summary = page.get_by_text("Deploy to groups…")
    if page.locator("#deploy-picker[open]").count() == 0:
        tab_to(page, summary)
        page.keyboard.press("Enter")
    tab_to(page, page.get_by_label("Production"))
    page.keyboard.press("Space")
    tab_to(page, page.get_by_role("button", name="Deploy v1"))
    page.keyboard.press("Enter")
    expect(page.get_by_text("Weekly CHECKDB v1 deployed to Production.")).to_be_visible()
    expect(page.locator("#deployed-to tr[data-group='Production']")).to_be_visible()

"""The server page's blocking, space, SQL Agent and availability group cards in real Chromium, fed
by the collector over real TDS from sqlsim instances steered into trouble."""

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from dbtools import tenancy
from monitoring import collector
from servers import actions, deployment
from sqlsim.instance import InstanceConfig
from tenants.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]
OUT = Path(__file__).resolve().parents[2] / "test-results"  # not committed


@pytest.fixture
def fleet(sqlsim_factory):
    return sqlsim_factory(
        [
            InstanceConfig(name="SQLTROUBLE01", port=0, version=2022),
            InstanceConfig(name="SQLCALM01", port=0, version=2019),
        ]
    )


def add(fleet, name):
    host, port = fleet.address(name)
    server = actions.create_server(
        {
            "name": name,
            "host": host,
            "port": port,
            "auth_type": "sql",
            "username": fleet.login,
            "password": fleet.password,
        }
    )
    assert deployment.deploy(server)["monitoring_status"] == "monitored"
    return server


@pytest.fixture
def servers(fleet, tenant_alpha, settings):
    settings.DBTOOLS_COLLECTOR_TIMEOUT = 3
    fleet.steer(
        "SQLTROUBLE01",
        blocking={
            "head": 73,
            "login": "CORP\\etl",
            "host": "ETL01",
            "program": "Nightly load",
            "blocked": 6,
            "wait_seconds": 184,
            "wait_resource": "OBJECT: 7:245575913:0",
        },
        volumes={"D:\\": {"free_percent": 3.5}},
        log_used={"AppDB": {"percent": 97, "reuse_wait": "LOG_BACKUP"}},
        job_failures={"job": "DatabaseBackup - USER_DATABASES - LOG", "count": 2},
        agent_running=False,
        availability_group={
            "name": "AGSALES",
            "replicas": ["SQLTROUBLE01", "SQLDR01"],
            "databases": ["AppDB"],
            "lagging": {"replica": "SQLDR01", "suspended": True, "redo_queue_kb": 812000},
        },
    )
    with tenancy.use_tenant(tenant_alpha):
        trouble, calm = add(fleet, "SQLTROUBLE01"), add(fleet, "SQLCALM01")
        results = collector.collect_now()
        assert all(r.computed is not None for r in results), results
        fleet.advance_clock("SQLTROUBLE01", 60)  # a second sample: rates and charts
        collector.collect_now()
    return trouble, calm


@pytest.fixture
def logged_in(page, login, tenant_alpha):
    user = get_user_model().objects.create_user("ops", password="Ops-pass-12345")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="operator")
    return login("ops", "Ops-pass-12345")


def test_server_page_shows_blocking_space_jobs_and_ag_state(servers, logged_in):
    trouble, calm = servers
    page = logged_in
    page.goto(f"/servers/{trouble.pk}/")

    blocking = page.locator("#blocking-card")
    expect(blocking).to_contain_text("1 head blocker")
    row = blocking.get_by_role("row", name=re.compile("73"))
    for text in ("CORP\\etl", "ETL01", "Nightly load", "6", "184 s", "OBJECT: 7:245575913:0"):
        expect(row).to_contain_text(text)
    # The usual culprit: a head that sleeps holding a transaction.
    expect(row).to_contain_text("sleeping, 1 open transaction")

    space = page.locator("#space-card")
    data = space.locator('tr[data-volume="D:\\\\"]')
    expect(data).to_contain_text("3.5 % free")
    expect(data).to_contain_text("Almost full")  # the words, not only a red bar
    expect(data.get_by_role("meter")).to_have_attribute("value", "3.5")
    expect(space.locator('tr[data-volume="C:\\\\"]')).to_contain_text("OK")
    expect(space.locator('tr[data-database="AppDB"]')).to_contain_text("97 %")
    expect(space.locator('tr[data-database="AppDB"]')).to_contain_text("LOG_BACKUP")

    agent = page.locator("#agent-card")
    expect(agent).to_contain_text("1 failed")
    # Agent stopped: said with an icon and words, the jobs still listed.
    expect(agent.locator('[data-status="agent-stopped"]')).to_contain_text("Agent stopped")
    expect(agent).to_contain_text("SQL Server Agent is not running")
    expect(agent.get_by_role("row", name=re.compile("USER_DATABASES - LOG"))).to_be_visible()

    ag = page.locator("#ag-card")
    behind = ag.get_by_role("row", name=re.compile("SQLDR01"))
    expect(behind).to_contain_text("Not synchronizing, not healthy")
    expect(behind).to_contain_text(re.compile(r"793\.0\sMB"))  # 812,000 KB

    OUT.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.screenshot(path=OUT / "server-dba.png", full_page=True)

    # From the keyboard: the Metrics tab, then the space chart of the same figures.
    page.get_by_role("link", name="Metrics", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/metrics$"))
    expect(page.locator('figure[data-chart="series-space"] canvas')).to_be_visible()

    # A calm instance: no blocking, no failures, HADR off.
    page.goto(f"/servers/{calm.pk}/")
    expect(page.locator("#blocking-card")).to_contain_text("No blocking")
    expect(page.locator("#agent-card")).to_contain_text("No failures")
    expect(page.locator("#ag-card")).to_contain_text("HADR is off on this instance.")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_be_visible()

"""The Alerts pages through Django's test client: lists, roles, acknowledge, rules form with
field errors and preview, silences and contact points; each write leaves one activity entry."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from alerts.models import Alert, AlertRule, ContactPoint, Silence
from alerts.tests.test_evaluator import check, rule, sample
from core.models import ActivityLog

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


def as_role(client, make_user, tenant, role):
    client.force_login(make_user(f"u-{role}", tenant, role))
    return client


@pytest.fixture
def firing(servers):
    AlertRule.objects.all().delete()
    rule()
    t = timezone.now()
    check(servers[0], 97, t)
    check(servers[1], 40, t)
    return Alert.objects.get()


def test_active_list_shows_severity_in_words_and_icon(client, make_user, tenant_alpha, firing):
    c = as_role(client, make_user, tenant_alpha, "viewer")
    html = c.get("/alerts/").content.decode()
    assert 'data-severity="critical"' in html and ">Critical<" in html
    assert "SQL0" in html and "cpu" in html and "97" in html
    assert "Acknowledge selected" not in html  # viewers only see
    assert f"/alerts/{firing.pk}/acknowledge" not in html
    partial = c.get("/alerts/", headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith('<div id="alert-rows"')
    assert "data-alert=" not in c.get("/alerts/?severity=warning").content.decode()
    assert c.get("/alerts/history").status_code == 200
    assert c.get(f"/alerts/{firing.pk}/").status_code == 200
    assert c.post(f"/alerts/{firing.pk}/acknowledge").status_code == 403
    badge = c.get("/alerts/badge").content.decode()
    assert 'data-count="1"' in badge and "worst critical" in badge
    assert 'hx-get="/alerts/badge"' in html  # the menu item loads it


def test_operator_acknowledges_inline_with_a_comment(client, make_user, tenant_alpha, firing):
    c = as_role(client, make_user, tenant_alpha, "operator")
    assert "Acknowledge" in c.get("/alerts/").content.decode()
    r = c.post(f"/alerts/{firing.pk}/acknowledge", {"comment": "on it", "next": "/alerts/"})
    assert r.status_code == 302
    firing.refresh_from_db()
    assert firing.acknowledged_by == "u-operator" and firing.ack_comment == "on it"
    assert ActivityLog.objects.filter(action="alert.acknowledged").count() == 1
    assert "Acknowledged by u-operator" in c.get("/alerts/").content.decode()
    # Not allowed to change rules.
    assert c.post("/alerts/rules/new", {"name": "x"}).status_code == 403


def test_rules_page_create_with_field_errors_then_saved(client, make_user, tenant_alpha):
    c = as_role(client, make_user, tenant_alpha, "admin")
    assert "High CPU" in c.get("/alerts/rules").content.decode()
    page = c.get("/alerts/rules/new?template=Connection%20spike").content.decode()
    assert 'value="Connection spike"' in page
    body = {
        "name": "Blocked",
        "metric": "connection_count",
        "operator": "gt",
        "threshold": "-5",
        "severity": "warning",
        "aggregation": "last",
        "window_minutes": "5",
        "pending_checks": "1",
        "resolve_checks": "2",
        "scope": "all",
        "enabled": "on",
    }
    r = c.post("/alerts/rules/new", body)
    assert r.status_code == 400 and "never negative" in r.content.decode()
    assert not AlertRule.objects.filter(name="Blocked").exists()
    r = c.post("/alerts/rules/new", {**body, "threshold": "300"})
    assert r.status_code == 302
    made = AlertRule.objects.get(name="Blocked")
    assert (
        ActivityLog.objects.filter(action="alert_rule.created", entity_id=str(made.pk)).count() == 1
    )
    c.post(f"/alerts/rules/{made.pk}/toggle")
    made.refresh_from_db()
    assert made.enabled is False


def test_rule_preview_on_the_form(client, make_user, tenant_alpha, servers):
    c = as_role(client, make_user, tenant_alpha, "viewer")
    sample(servers[0], "cpu_percent", 95, timezone.now())
    body = {
        "name": "p",
        "metric": "cpu_percent",
        "operator": "gt",
        "threshold": "90",
        "severity": "warning",
        "aggregation": "last",
        "window_minutes": "5",
        "pending_checks": "1",
        "resolve_checks": "2",
        "scope": "all",
    }
    html = c.post("/alerts/rules/preview", body, headers={"HX-Request": "true"}).content.decode()
    assert "SQL0" in html and "Yes" in html
    assert not AlertRule.objects.filter(name="p").exists()


def test_silences_and_contact_points_pages(client, make_user, tenant_alpha, servers):
    c = as_role(client, make_user, tenant_alpha, "admin")
    end = (timezone.now() + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    r = c.post("/alerts/silences/create", {"ends_at": end})
    assert r.status_code == 400 and "at least one" in r.content.decode()
    r = c.post(
        "/alerts/silences/create", {"server": servers[0].pk, "ends_at": end, "comment": "patch"}
    )
    assert r.status_code == 302 and Silence.objects.count() == 1
    assert "patch" in c.get("/alerts/silences").content.decode()
    r = c.post(
        "/alerts/contact-points/create",
        {
            "name": "hook",
            "url": "not a url",
            "payload_format": "json",
            "min_severity": "warning",
            "timeout_seconds": "5",
            "repeat_interval_minutes": "60",
            "repeat_cap": "6",
        },
    )
    assert r.status_code == 400
    r = c.post(
        "/alerts/contact-points/create",
        {
            "name": "hook",
            "url": "http://127.0.0.1:9/h",
            "secret": "x",
            "payload_format": "json",
            "min_severity": "warning",
            "timeout_seconds": "5",
            "repeat_interval_minutes": "60",
            "repeat_cap": "6",
            "enabled": "on",
        },
    )
    assert r.status_code == 302 and ContactPoint.objects.get().secret_encrypted
    assert "hook" in c.get("/alerts/contact-points").content.decode()


def test_history_pages_past_50_keep_their_filters(client, make_user, tenant_alpha, servers):
    AlertRule.objects.all().delete()
    made = rule()
    now = timezone.now()
    Alert.objects.bulk_create(
        Alert(
            rule=made,
            server=servers[0],
            severity="critical",
            status="resolved",
            threshold=90,
            triggered_at=now - dt.timedelta(minutes=i),
            resolved_at=now,
        )
        for i in range(51)
    )
    c = as_role(client, make_user, tenant_alpha, "viewer")
    html = c.get("/alerts/history", {"severity": "critical"}).content.decode()
    assert html.count("data-alert=") == 50
    assert "?severity=critical&amp;page=2" in html
    second = c.get("/alerts/history", {"severity": "critical", "page": 2}).content.decode()
    assert second.count("data-alert=") == 1


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_an_empty_table_row_spans_the_columns_the_role_sees(client, make_user, tenant_alpha, role):
    AlertRule.objects.all().delete()
    ContactPoint.objects.all().delete()
    Silence.objects.all().delete()
    c = as_role(client, make_user, tenant_alpha, role)
    for url in ("/alerts/rules", "/alerts/silences", "/alerts/contact-points"):
        html = c.get(url).content.decode()
        tables = re.findall(r"<table.*?</table>", html, re.S)
        assert tables, url
        for table in tables:
            heads = len(re.findall(r"<th scope=\"col\"", table))
            spans = re.findall(r'colspan="(\d+)" class="empty-row"', table)
            assert spans == [str(heads)], (url, role)

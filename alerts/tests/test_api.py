"""Alerting through the REST API: rules with field errors, roles, alerts with filters,
acknowledgement, silences, contact points and the delivery log; one activity entry per write."""

import datetime as dt

import pytest
from django.utils import timezone

from alerts.models import Alert, AlertRule, ContactPoint, Silence
from alerts.tests.test_evaluator import check, rule
from core.models import ActivityLog

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


@pytest.fixture
def admin(make_user, tenant_alpha):
    return make_user("ada", tenant_alpha, "admin")


@pytest.fixture
def as_admin(api, admin, tenant_alpha):
    return api(admin, tenant_alpha)


@pytest.fixture
def as_operator(api, make_user, tenant_alpha):
    return api(make_user("otto", tenant_alpha, "operator"), tenant_alpha)


@pytest.fixture
def as_viewer(api, make_user, tenant_alpha):
    return api(make_user("vic", tenant_alpha, "viewer"), tenant_alpha)


RULE = {
    "name": "Blocking",
    "metric": "connection_count",
    "operator": "gt",
    "threshold": 500,
    "severity": "warning",
}


def entries(action):
    return list(ActivityLog.objects.filter(action=action).values_list("user_name", flat=True))


def test_admin_creates_updates_and_deletes_a_rule(as_admin):
    r = as_admin.post("/api/alert-rules", RULE, format="json")
    assert r.status_code == 201, r.json()
    rid = r.json()["id"]
    assert r.json()["condition"] == "connection_count > 500"
    assert entries("alert_rule.created") == ["ada"]
    r = as_admin.put(f"/api/alert-rules/{rid}", {**RULE, "threshold": 800}, format="json")
    assert r.status_code == 200 and r.json()["threshold"] == 800
    assert entries("alert_rule.updated") == ["ada"]
    assert as_admin.post(f"/api/alert-rules/{rid}/disable").json()["enabled"] is False
    assert entries("alert_rule.disabled") == ["ada"]
    assert as_admin.delete(f"/api/alert-rules/{rid}").status_code == 204
    assert entries("alert_rule.deleted") == ["ada"]
    assert not AlertRule.objects.filter(pk=rid).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"threshold": "high"}, "threshold"),
        ({"threshold": -1}, "threshold"),
        ({"metric": "cpu_percent", "threshold": 101}, "threshold"),
        ({"metric": "nope"}, "metric"),
        ({"operator": "between"}, "operator"),
        ({"recovery_threshold": 900}, "recovery_threshold"),
        ({"scope": "group"}, "group"),
        ({"scope": "server", "server": 999999}, "server"),
        ({"window_minutes": 0}, "window_minutes"),
        ({"pending_checks": 61}, "pending_checks"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_rule_is_a_field_error(as_admin, change, field):
    r = as_admin.post("/api/alert-rules", {**RULE, **change}, format="json")
    assert r.status_code == 400, r.json()
    assert field in r.json(), r.json()
    assert not AlertRule.objects.filter(name="Blocking").exists()


def test_zero_is_a_valid_threshold_at_the_limit(as_admin):
    r = as_admin.post("/api/alert-rules", {**RULE, "threshold": 0}, format="json")
    assert r.status_code == 201
    r = as_admin.post(
        "/api/alert-rules",
        {**RULE, "name": "full", "metric": "cpu_percent", "threshold": 100},
        format="json",
    )
    assert r.status_code == 201


def test_a_duplicate_rule_name_is_refused_whatever_its_case(as_admin):
    as_admin.post("/api/alert-rules", RULE, format="json")
    r = as_admin.post("/api/alert-rules", {**RULE, "name": "BLOCKING"}, format="json")
    assert r.status_code == 400 and "name" in r.json()


def test_roles(as_viewer, as_operator, as_admin, servers):
    assert as_viewer.get("/api/alert-rules").status_code == 200
    assert as_viewer.post("/api/alert-rules", RULE, format="json").status_code == 403
    assert as_operator.post("/api/alert-rules", RULE, format="json").status_code == 403
    body = {"name": "hook", "url": "http://127.0.0.1:9/x"}
    assert as_operator.post("/api/contact-points", body, format="json").status_code == 403
    silence = {"server": servers[0].pk, "ends_at": (timezone.now() + dt.timedelta(hours=1))}
    assert as_viewer.post("/api/alert-silences", silence, format="json").status_code == 403
    assert as_operator.post("/api/alert-silences", silence, format="json").status_code == 201


def test_alert_list_filters_and_acknowledge_with_comment(as_operator, as_viewer, servers):
    AlertRule.objects.all().delete()
    rule()
    t = timezone.now()
    check(servers[0], 95, t)
    check(servers[1], 99, t)
    alerts = as_viewer.get("/api/alerts", {"state": "active"}).json()["results"]
    assert len(alerts) == 2
    only = as_viewer.get("/api/alerts", {"server": servers[1].pk}).json()["results"]
    assert [a["server"]["name"] for a in only] == ["SQL1"]
    assert as_viewer.get("/api/alerts", {"severity": "info"}).json()["results"] == []
    assert as_viewer.get("/api/alerts", {"state": "bogus"}).status_code == 400
    aid = only[0]["id"]
    assert as_viewer.post(f"/api/alerts/{aid}/acknowledge").status_code == 403
    r = as_operator.post(f"/api/alerts/{aid}/acknowledge", {"comment": "looking"}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["acknowledged_by"] == "otto" and r.json()["ack_comment"] == "looking"
    assert entries("alert.acknowledged") == ["otto"]
    acked = as_viewer.get("/api/alerts", {"state": "acknowledged"}).json()["results"]
    assert [a["id"] for a in acked] == [aid]
    r = as_operator.post(
        "/api/alerts/acknowledge", {"ids": [a["id"] for a in alerts]}, format="json"
    )
    assert r.status_code == 200 and len(r.json()) == 1  # the other one was already done
    assert Alert.objects.filter(acknowledged_at__isnull=True).count() == 0
    r = as_operator.post("/api/alerts/acknowledge", {"ids": [999999]}, format="json")
    assert r.status_code == 400 and "ids" in r.json()


def test_silences_need_a_matcher_and_an_end_after_the_start(as_operator, servers):
    end = timezone.now() + dt.timedelta(hours=1)
    r = as_operator.post("/api/alert-silences", {"ends_at": end}, format="json")
    assert r.status_code == 400 and "rule" in r.json()
    past = timezone.now() - dt.timedelta(hours=1)
    r = as_operator.post(
        "/api/alert-silences", {"server": servers[0].pk, "ends_at": past}, format="json"
    )
    assert r.status_code == 400 and "ends_at" in r.json()
    r = as_operator.post(
        "/api/alert-silences",
        {"server": servers[0].pk, "ends_at": end, "comment": "patching"},
        format="json",
    )
    assert r.status_code == 201 and r.json()["active"] is True
    sid = r.json()["id"]
    r = as_operator.post(f"/api/alert-silences/{sid}/end")
    assert r.json()["active"] is False
    assert Silence.objects.filter(pk=sid).exists()  # kept as history
    assert entries("silence.created") == ["otto"] and entries("silence.ended") == ["otto"]


def test_a_recurring_maintenance_window_through_the_api(as_operator, servers):
    body = {
        "server": servers[0].pk,
        "repeat": "weekly",
        "weekdays": [6, 7],
        "time_zone": "Europe/Paris",
        "starts_at": "2026-01-03T02:00:00+01:00",
        "ends_at": "2026-01-03T05:00:00+01:00",
        "comment": "weekend index maintenance",
    }
    r = as_operator.post("/api/alert-silences", body, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["schedule"].startswith("weekly Sat, Sun 02:00-05:00 Europe/Paris")
    r = as_operator.post(
        "/api/alert-silences", {**body, "time_zone": "Paris", "weekdays": [9]}, format="json"
    )
    assert r.status_code == 400 and {"time_zone", "weekdays"} <= set(r.json())
    assert Silence.objects.count() == 1


def test_contact_point_secret_is_write_only_and_url_checked(as_admin, as_viewer):
    r = as_admin.post("/api/contact-points", {"name": "hook", "url": "ftp://x/y"}, format="json")
    assert r.status_code == 400 and "url" in r.json()
    r = as_admin.post(
        "/api/contact-points",
        {"name": "hook", "url": "http://127.0.0.1:9/x", "secret": "abc", "timeout_seconds": 31},
        format="json",
    )
    assert r.status_code == 400 and "timeout_seconds" in r.json()
    r = as_admin.post(
        "/api/contact-points",
        {"name": "hook", "url": "http://127.0.0.1:9/x", "secret": "abc"},
        format="json",
    )
    assert r.status_code == 201
    seen = as_viewer.get(f"/api/contact-points/{r.json()['id']}").json()
    assert seen["has_secret"] is True and "secret" not in seen
    assert "abc" not in ContactPoint.objects.get().secret_encrypted
    assert entries("contact_point.created") == ["ada"]


def test_preview_lists_servers_that_would_fire_and_writes_nothing(as_admin, servers):
    from alerts.tests.test_evaluator import sample

    t = timezone.now()
    sample(servers[0], "cpu_percent", 97, t)
    sample(servers[1], "cpu_percent", 40, t)
    before = AlertRule.objects.count()
    body = {"name": "draft", "metric": "cpu_percent", "operator": "gt", "threshold": 90}
    r = as_admin.post("/api/alert-rules/preview", body, format="json")
    assert r.status_code == 200, r.json()
    assert [(row["server_name"], row["breach"]) for row in r.json()] == [
        ("SQL0", True),
        ("SQL1", False),
    ]
    assert AlertRule.objects.count() == before and Alert.objects.count() == 0
    assert AlertRule.objects.filter(enabled=True).count() == before  # nothing switched off

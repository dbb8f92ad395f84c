"""Webhook delivery against a local HTTP receiver started by the test: signature, grouping,
retries with back-off, a failing and a slow receiver, acknowledgement, silences, inhibition and
the repeat cap."""

import datetime as dt
import hashlib
import hmac
import json
import smtplib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from alerts import actions, evaluator, notify
from alerts.models import Alert, AlertRule, ContactPoint, DeliveryAttempt, Notification
from alerts.tests.test_evaluator import collected, rule, sample
from dbtools import tenancy
from dbtools.errors import ActionError

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]
MIN = dt.timedelta(minutes=1)


class Receiver:
    """A webhook receiver on a free port; answers with the queued status codes (then 200)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.codes: list[int] = []
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append({"headers": headers, "body": body})
                time.sleep(outer.delay)
                self.send_response(outer.codes.pop(0) if outer.codes else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def no_default_rules(use_alpha):
    AlertRule.objects.all().delete()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def point(receiver, admin_user):
    return actions.create_contact_point(
        {
            "name": "On-call",
            "url": receiver.url,
            "secret": "s3cret",
            "min_severity": "warning",
            "timeout_seconds": 1,
            "repeat_interval_minutes": 10,
            "repeat_cap": 2,
        },
        acting_user=admin_user,
    )


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Evaluate at `at` and plan notifications, running what commits queue (sync workers)."""

    def go(at):
        alias = tenancy.current().alias
        with django_capture_on_commit_callbacks(using=alias, execute=True):
            evaluator.evaluate(now=at)
            notify.plan(now=at)

    return go


def fire(servers, at, value=99):
    for s in servers:
        sample(s, "cpu_percent", value, at)


def test_a_firing_alert_is_posted_once_signed(servers, point, receiver, run):
    rule()
    t = timezone.now()
    fire(servers[:1], t)
    run(t)
    assert len(receiver.requests) == 1
    req = receiver.requests[0]
    body = json.loads(req["body"])
    assert body["event"] == "firing" and body["alerts"][0]["server"]["name"] == "SQL0"
    assert body["alerts"][0]["value"] == 99 and body["alerts"][0]["threshold"] == 90
    stamp, v1 = req["headers"]["x-dbtools-signature"].split(",")
    at = stamp.removeprefix("t=")
    expected = hmac.new(b"s3cret", f"{at}.".encode() + req["body"], hashlib.sha256).hexdigest()
    assert v1 == f"v1={expected}"
    n = Notification.objects.get()
    assert n.status == "delivered" and n.last_status_code == 200
    assert DeliveryAttempt.objects.get().status_code == 200
    fire(servers[:1], t + MIN)
    run(t + MIN)
    assert len(receiver.requests) == 1  # still firing, no duplicate before the repeat interval


def test_alerts_of_one_evaluation_go_out_as_one_message(servers, point, receiver, run):
    rule()
    t = timezone.now()
    fire(servers, t)
    run(t)
    assert len(receiver.requests) == 1
    names = sorted(a["server"]["name"] for a in receiver.bodies()[0]["alerts"])
    assert names == ["SQL0", "SQL1", "SQL2"]


def test_resolution_is_posted_after_the_firing(servers, point, receiver, run):
    rule()
    t = timezone.now()
    fire(servers[:1], t)
    run(t)
    for i in (1, 2):
        fire(servers[:1], t + i * MIN, value=10)
        run(t + i * MIN)
    assert [b["event"] for b in receiver.bodies()] == ["firing", "resolved"]
    run(t + 3 * MIN)
    assert len(receiver.requests) == 2


def test_a_failing_receiver_is_retried_with_back_off_then_delivered(
    servers,
    point,
    receiver,
    run,
    django_capture_on_commit_callbacks,
):
    rule()
    receiver.codes = [500, 503]
    t = timezone.now()
    fire(servers[:1], t)
    run(t)
    n = Notification.objects.get()
    assert n.status == "pending" and n.attempts == 1 and n.last_status_code == 500
    wait = (n.next_attempt_at - timezone.now()).total_seconds()
    assert 20 < wait <= 30  # the first back-off
    alias = tenancy.current().alias
    with django_capture_on_commit_callbacks(using=alias, execute=True):
        assert notify.retry_due(now=timezone.now()) == 0  # not yet due
    retry_at = n.next_attempt_at
    with django_capture_on_commit_callbacks(using=alias, execute=True):
        Notification.objects.filter(pk=n.pk).update(next_attempt_at=timezone.now())
        notify.retry_due()
    n.refresh_from_db()
    assert n.attempts == 2 and n.last_status_code == 503
    assert (n.next_attempt_at - timezone.now()).total_seconds() > 50  # doubled
    assert retry_at is not None
    with django_capture_on_commit_callbacks(using=alias, execute=True):
        Notification.objects.filter(pk=n.pk).update(next_attempt_at=timezone.now())
        notify.retry_due()
    n.refresh_from_db()
    assert n.status == "delivered" and n.attempts == 3
    codes = list(DeliveryAttempt.objects.values_list("status_code", flat=True))
    assert codes == [500, 503, 200]
    assert len(receiver.requests) == 3


def test_a_receiver_that_never_answers_in_time_fails_after_the_last_attempt(
    servers,
    point,
    receiver,
    run,
    django_capture_on_commit_callbacks,
):
    rule()
    receiver.delay = 1.5  # the contact point waits 1 s
    t = timezone.now()
    fire(servers[:1], t)
    run(t)
    n = Notification.objects.get()
    assert n.status == "pending" and n.last_status_code is None
    assert "timed out" in n.last_error.lower() or "timeout" in n.last_error.lower()
    alias = tenancy.current().alias
    for _ in range(notify.MAX_ATTEMPTS - 1):
        with django_capture_on_commit_callbacks(using=alias, execute=True):
            Notification.objects.filter(pk=n.pk).update(next_attempt_at=timezone.now())
            notify.retry_due()
    n.refresh_from_db()
    assert n.status == "failed" and n.attempts == notify.MAX_ATTEMPTS
    assert DeliveryAttempt.objects.filter(notification=n).count() == notify.MAX_ATTEMPTS
    with django_capture_on_commit_callbacks(using=alias, execute=True):
        assert notify.retry_due(now=timezone.now() + dt.timedelta(days=1)) == 0


def test_repeats_at_the_interval_up_to_the_cap_until_acknowledged(
    servers,
    point,
    receiver,
    run,
    admin_user,
):
    rule()
    t = timezone.now()
    for i in range(0, 60, 5):  # an hour of checks, still firing
        fire(servers[:1], t + i * MIN)
        run(t + i * MIN)
    # First message, then a reminder every 10 minutes, at most 2 of them.
    assert [b["event"] for b in receiver.bodies()] == ["firing", "repeat", "repeat"]

    receiver.requests.clear()
    fire(servers[1:2], t + 60 * MIN)
    run(t + 60 * MIN)
    assert len(receiver.requests) == 1
    actions.acknowledge(Alert.objects.filter(server=servers[1]), "on it", acting_user=admin_user)
    fire(servers[1:2], t + 75 * MIN)
    run(t + 75 * MIN)
    assert len(receiver.requests) == 1  # acknowledged: no reminder


def test_a_silence_stops_notifications_while_open(servers, point, receiver, run, admin_user):
    rule()
    t = timezone.now()
    actions.create_silence(
        {
            "server": servers[0],
            "starts_at": t - MIN,
            "ends_at": t + 10 * MIN,
            "comment": "patching",
        },
        acting_user=admin_user,
    )
    fire(servers[:2], t)
    run(t)
    assert [a["server"]["name"] for a in receiver.bodies()[0]["alerts"]] == ["SQL1"]
    assert Alert.objects.filter(server=servers[0], status="firing").exists()  # recorded
    fire(servers[:1], t + 11 * MIN)
    run(t + 11 * MIN)  # the silence is over: now it is told (and SQL1 is reminded)
    later = {b["event"]: [a["server"]["name"] for a in b["alerts"]] for b in receiver.bodies()[1:]}
    assert later == {"firing": ["SQL0"], "repeat": ["SQL1"]}


def test_below_the_minimum_severity_nothing_is_sent(servers, point, receiver, run):
    rule(severity="info")
    t = timezone.now()
    fire(servers[:1], t)
    run(t)
    assert receiver.requests == []


def test_metric_alerts_of_an_offline_server_are_not_sent(servers, point, receiver, run):
    rule()
    rule(name="offline", metric="server_offline", operator="eq", threshold=1, resolve_checks=1)
    t = timezone.now()
    fire(servers[:1], t)
    evaluator.evaluate(now=t)  # CPU fires; nothing planned yet
    collected(servers[0], t + MIN, ok=False)  # then the server stops answering
    run(t + MIN)
    assert Alert.objects.filter(status="firing").count() == 2  # both recorded
    events = [(b["event"], [a["rule"] for a in b["alerts"]]) for b in receiver.bodies()]
    assert events == [("firing", ["offline"])]


def test_send_test_and_slack_format(
    point, receiver, admin_user, django_capture_on_commit_callbacks
):
    actions.update_contact_point(point, {"payload_format": "slack"}, acting_user=admin_user)
    with django_capture_on_commit_callbacks(using=tenancy.current().alias, execute=True):
        actions.send_test(point, acting_user=admin_user)
    assert "TEST" in receiver.bodies()[0]["text"]
    assert ContactPoint.objects.get().notifications.get().status == "delivered"


def test_a_recurring_maintenance_window_stops_notifications_in_its_hours(
    servers, point, receiver, run, admin_user
):
    """A weekly window in Tokyo time, on today's weekday there, open now: SQL0 is not told."""
    rule()
    t = timezone.now()
    # The weekday of the window's start in Tokyo (the day it belongs to).
    tokyo = (t - 5 * MIN).astimezone(dt.timezone(dt.timedelta(hours=9)))
    actions.create_silence(
        {
            "server": servers[0],
            "repeat": "weekly",
            "weekdays": [tokyo.isoweekday()],
            "time_zone": "Asia/Tokyo",
            "starts_at": t - 7 * 24 * 60 * MIN - 5 * MIN,
            "ends_at": t - 7 * 24 * 60 * MIN + 20 * MIN,
        },
        acting_user=admin_user,
    )
    fire(servers[:2], t)
    run(t)
    assert [a["server"]["name"] for a in receiver.bodies()[0]["alerts"]] == ["SQL1"]
    fire(servers[:1], t + 30 * MIN)
    run(t + 30 * MIN)  # the window closed 10 minutes ago
    assert "SQL0" in [a["server"]["name"] for b in receiver.bodies()[1:] for a in b["alerts"]]


def test_a_contact_point_routed_to_a_group_hears_of_its_servers_only(
    servers, point, receiver, run, admin_user
):
    from servers import actions as server_actions

    team = server_actions.create_group("Payments", acting_user=admin_user)
    server_actions.add_to_group(team, servers[:1], acting_user=admin_user)
    actions.update_contact_point(point, {"group": team}, acting_user=admin_user)
    rule()
    t = timezone.now()
    fire(servers[:2], t)
    run(t)
    assert [a["server"]["name"] for b in receiver.bodies() for a in b["alerts"]] == ["SQL0"]
    # The group goes: the contact point is switched off, not widened to the whole fleet.
    server_actions.delete_group(team, acting_user=admin_user)
    point.refresh_from_db()
    assert (point.group, point.enabled) == (None, False)


def test_planning_runs_only_when_something_could_be_sent(servers, point, receiver, monkeypatch):
    """After each collection batch: a healthy fleet costs one cheap query, not the planning
    query; a firing alert with a contact point is planned and sent."""
    from alerts import tasks

    planned: list[int] = []
    real_plan = notify.plan
    monkeypatch.setattr(notify, "plan", lambda: planned.append(1) or real_plan())
    rule()
    assert notify.pending_work() == (False, False)
    tasks.evaluate_written([s.pk for s in servers])
    assert planned == []
    fire(servers[:1], timezone.now())
    assert tasks.evaluate_written([s.pk for s in servers])["fired"] == 1
    assert planned == [1] and notify.pending_work()[0] is True


# -- email --------------------------------------------------------------------------------------
LOCMEM = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


class RefusingBackend(BaseEmailBackend):
    """An SMTP server that turns every message away."""

    def send_messages(self, messages):
        raise smtplib.SMTPRecipientsRefused({"dba@example.com": (550, b"mailbox unavailable")})


@pytest.fixture
def smtp(settings):
    """SMTP settings given (as DBTOOLS_EMAIL_URL would), delivered to Django's locmem mailer."""
    settings.DBTOOLS_EMAIL_ENABLED = True
    settings.MAILERS = LOCMEM
    return settings


@pytest.fixture
def email_point(smtp, admin_user):
    return actions.create_contact_point(
        {
            "name": "DBA team",
            "kind": "email",
            "email_to": "dba@example.com, oncall@example.com",
            "min_severity": "warning",
        },
        acting_user=admin_user,
    )


def test_an_email_contact_point_gets_one_grouped_message(servers, email_point, run, mailoutbox):
    rule()
    t = timezone.now()
    fire(servers, t)
    run(t)
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["dba@example.com", "oncall@example.com"]
    assert message.subject.startswith("[DbTools alpha] FIRING: cpu on SQL")
    assert message.subject.endswith(" and 2 more")
    assert "3 alerts firing:" in message.body
    for name in ("SQL0", "SQL1", "SQL2"):
        assert f"CRITICAL cpu on {name}: value 99.0, threshold 90.0" in message.body
    n = Notification.objects.get()
    assert n.status == "delivered" and n.last_error == ""
    assert DeliveryAttempt.objects.get().status_code is None


def test_send_test_by_email(
    email_point, admin_user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(using=tenancy.current().alias, execute=True):
        actions.send_test(email_point, acting_user=admin_user)
    assert mailoutbox[0].subject == "[DbTools alpha] TEST: test of DBA team"
    assert email_point.notifications.get().status == "delivered"


def test_a_refused_email_is_kept_with_the_error_and_retried(servers, email_point, run, smtp):
    smtp.MAILERS = {"default": {"BACKEND": f"{__name__}.RefusingBackend"}}
    rule()
    t = timezone.now()
    fire(servers[:1], t)
    run(t)
    n = Notification.objects.get()
    assert n.status == "pending" and n.attempts == 1 and n.next_attempt_at > timezone.now()
    assert "SMTPRecipientsRefused" in n.last_error


def test_email_needs_smtp_settings_and_valid_addresses(admin_user, settings):
    settings.DBTOOLS_EMAIL_ENABLED = False
    with pytest.raises(ActionError) as refused:
        actions.create_contact_point(
            {"name": "DBA", "kind": "email", "email_to": "dba@example.com"},
            acting_user=admin_user,
        )
    assert "DBTOOLS_EMAIL_URL" in refused.value.errors["kind"][0]
    settings.DBTOOLS_EMAIL_ENABLED = True
    with pytest.raises(ActionError) as refused:
        actions.create_contact_point(
            {"name": "DBA", "kind": "email", "email_to": "dba@example.com, not-an-address"},
            acting_user=admin_user,
        )
    assert refused.value.errors["email_to"] == ["Not an email address: not-an-address."]
    with pytest.raises(ActionError) as refused:
        actions.create_contact_point({"name": "Hook", "kind": "webhook"}, acting_user=admin_user)
    assert "url" in refused.value.errors
    assert not ContactPoint.objects.exists()


def test_an_email_point_left_without_smtp_settings_fails_visibly(email_point, admin_user, smtp):
    smtp.DBTOOLS_EMAIL_ENABLED = False  # DBTOOLS_EMAIL_URL removed after the point was made
    notification = actions.send_test(email_point, acting_user=admin_user)
    notify.deliver(notification.pk)
    notification.refresh_from_db()
    assert notification.status == "pending"
    assert notification.last_error == "No SMTP server is configured (DBTOOLS_EMAIL_URL)."

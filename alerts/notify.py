"""Notifications: who is told what, and the delivery by webhook or email.

After each evaluation `plan` decides, in one statement, which alerts each enabled contact point
must hear about: newly firing ones, reminders of alerts still firing (every
`repeat_interval_minutes`, at most `repeat_cap` times), and resolutions of alerts it was told
about. Alerts that are acknowledged, silenced, held behind their server's offline alert, or
suppressed by DbTools' own maintenance on their server (and for a grace period after it) are
left out. The alerts of one contact point and event go out as one message, so a rule firing on
thirty servers in the same evaluation sends one notification, not thirty.

Delivery runs in the interactive cluster once the plan commits. A worker claims a notification
by moving its `next_attempt_at` forward with a conditional UPDATE (a duplicate queue message
finds nothing to do). A failed attempt is retried with exponential back-off (30 s, 1, 2, 4 min
by default, `DBTOOLS_ALERT_RETRY_SECONDS`) up to MAX_ATTEMPTS; `retry_due` queues the retries
that are due and runs after every evaluation. Every attempt is recorded with its status code.

Webhook body (JSON, `payload_format` "json")::

    {"version": 1, "event": "firing" | "repeat" | "resolved" | "test", "tenant": "acme",
     "contact_point": "On-call", "sent_at": "2026-11-26T14:00:00+00:00",
     "alerts": [{"id": 7, "status": "firing", "severity": "critical", "rule": "High CPU",
                 "metric": "cpu_percent", "server": {"id": 3, "name": "SQLPROD01"},
                 "value": 97.5, "threshold": 90.0, "triggered_at": "...", "resolved_at": null,
                 "acknowledged_by": ""}]}

"slack" sends `{"text": "..."}` with one line per alert. With a secret, the header
`X-DbTools-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`
lets the receiver check origin and freshness.

An email contact point gets the same grouped message as plain text (`email_text`: the subject
names the first alert and how many more, one line per alert) through Django's default mailer,
configured by DBTOOLS_EMAIL_URL; an SMTP error is retried like a failed webhook.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import smtplib
import time
import urllib.error
import urllib.request
from collections import defaultdict
from typing import Any

import structlog
from django.conf import settings
from django.core.mail import EmailMessage, MailerDoesNotExist
from django.db import connections, transaction
from django.utils import timezone

from alerts.evaluator import maintenance_grace_minutes
from alerts.models import Alert, ContactPoint, DeliveryAttempt, Notification
from dbtools import crypto, tenancy

log = structlog.get_logger(__name__)
MAX_ATTEMPTS = 5
MAX_BACKOFF_SECONDS = 15 * 60
RESOLVED_LOOKBACK = dt.timedelta(days=1)
USER_AGENT = "DbTools-Alerts/1"

PLAN_SQL = """
WITH cp AS (
    SELECT id, repeat_interval_minutes, repeat_cap, group_id, label_id,
           CASE min_severity WHEN 'info' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END AS min_rank
    FROM alert_contact_points WHERE enabled
), cand AS (
    SELECT a.id, a.status, a.rule_id, a.server_id, a.severity,
           CASE a.severity WHEN 'info' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END AS rank
    FROM alerts a JOIN alert_rules r ON r.id = a.rule_id
    WHERE ((a.status = 'firing' AND a.acknowledged_at IS NULL)
           OR (a.status = 'resolved' AND a.resolved_at > %(resolved_since)s))
      -- held behind the server's offline alert: one fact, one message
      AND NOT (r.metric NOT IN ('server_offline', 'collection_stale_minutes') AND EXISTS (
            SELECT 1 FROM alerts o JOIN alert_rules orr ON orr.id = o.rule_id
            WHERE o.server_id = a.server_id AND o.status = 'firing'
              AND orr.metric = 'server_offline'))
      -- suppressed while DbTools' own maintenance runs there, and for a grace period after it
      AND NOT (a.suppressed_by <> '' AND (a.suppressed_until IS NULL
               OR a.suppressed_until > %(now)s - make_interval(mins => %(grace)s)))
      AND NOT EXISTS (
            SELECT 1 FROM alert_silences s
            WHERE alert_silence_open(s.starts_at, s.ends_at, s.repeat, s.weekdays, s.time_zone,
                                     s.repeat_until, %(now)s)
              AND (s.rule_id IS NULL OR s.rule_id = a.rule_id)
              AND (s.server_id IS NULL OR s.server_id = a.server_id)
              AND (s.severity = '' OR s.severity = a.severity)
              AND (s.group_id IS NULL OR EXISTS (
                    SELECT 1 FROM server_group_members m
                    WHERE m.group_id = s.group_id AND m.server_id = a.server_id))
              AND (s.label_id IS NULL OR EXISTS (
                    SELECT 1 FROM server_labels l
                    WHERE l.label_id = s.label_id AND l.server_id = a.server_id)))
), sent AS (
    SELECT na.alert_id, n.contact_point_id,
           count(*) FILTER (WHERE n.event IN ('firing', 'repeat')) AS times,
           max(n.created_at) FILTER (WHERE n.event IN ('firing', 'repeat')) AS last_at,
           bool_or(n.event = 'resolved') AS resolved_sent
    FROM alert_notifications n
    JOIN alert_notifications_alerts na ON na.notification_id = n.id
    WHERE na.alert_id IN (SELECT id FROM cand)
    GROUP BY na.alert_id, n.contact_point_id
)
SELECT cp.id, c.id,
       CASE WHEN c.status = 'resolved' THEN 'resolved'
            WHEN coalesce(s.times, 0) = 0 THEN 'firing' ELSE 'repeat' END AS event
FROM cand c CROSS JOIN cp
LEFT JOIN sent s ON s.alert_id = c.id AND s.contact_point_id = cp.id
WHERE c.rank >= cp.min_rank
  -- routing: a contact point of one group or label hears of its servers only
  AND (cp.group_id IS NULL OR EXISTS (
        SELECT 1 FROM server_group_members m
        WHERE m.group_id = cp.group_id AND m.server_id = c.server_id))
  AND (cp.label_id IS NULL OR EXISTS (
        SELECT 1 FROM server_labels l WHERE l.label_id = cp.label_id AND l.server_id = c.server_id))
  AND CASE
        WHEN c.status = 'resolved' THEN coalesce(s.times, 0) > 0 AND NOT s.resolved_sent
        WHEN coalesce(s.times, 0) = 0 THEN true
        ELSE s.times < 1 + cp.repeat_cap
             AND s.last_at <= %(now)s - make_interval(mins => cp.repeat_interval_minutes)
      END
ORDER BY cp.id, c.id
"""


# Whether planning or retrying could find anything, in one cheap round trip: after each
# collection batch of each tenant, a healthy fleet (nothing firing, nothing recently resolved,
# nothing waiting for a retry) skips the planning query, which joins eight tables.
PENDING_SQL = """
SELECT EXISTS (SELECT 1 FROM alert_contact_points WHERE enabled)
       AND EXISTS (SELECT 1 FROM alerts
                   WHERE (status = 'firing' AND acknowledged_at IS NULL)
                      OR (status = 'resolved' AND resolved_at > %(resolved_since)s)),
       EXISTS (SELECT 1 FROM alert_notifications
               WHERE status = 'pending' AND next_attempt_at <= %(now)s)
"""


def pending_work(now: dt.datetime | None = None) -> tuple[bool, bool]:
    """(plan could create a notification, a delivery awaits its retry) in the current tenant."""
    now = now or timezone.now()
    with connections[tenancy.current().alias].cursor() as cur:
        cur.execute(PENDING_SQL, {"now": now, "resolved_since": now - RESOLVED_LOOKBACK})
        plan_needed, retry_needed = cur.fetchone()
    return bool(plan_needed), bool(retry_needed)


def plan(now: dt.datetime | None = None) -> int:
    """Create the notifications due now in the current tenant and queue their delivery once
    committed. Returns how many were created."""
    now = now or timezone.now()
    alias = tenancy.current().alias
    with transaction.atomic(using=alias):
        with connections[alias].cursor() as cur:
            # Plans of two evaluations at once would both see an alert as not yet notified.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('alerts.notify'))")
            cur.execute(
                PLAN_SQL,
                {
                    "now": now,
                    "resolved_since": now - RESOLVED_LOOKBACK,
                    "grace": maintenance_grace_minutes(),
                },
            )
            rows = cur.fetchall()
        if not rows:
            return 0
        groups: dict[tuple[int, str], list[int]] = defaultdict(list)
        for point_id, alert_id, event in rows:
            groups[(point_id, event)].append(alert_id)
        points = ContactPoint.objects.in_bulk({p for p, _ in groups})
        alerts = Alert.objects.select_related("rule", "server").in_bulk([r[1] for r in rows])
        created = [
            create(points[p], event, [alerts[i] for i in ids], now)
            for (p, event), ids in groups.items()
        ]
    return len(created)


def create(point: ContactPoint, event: str, alerts: list[Alert], now: dt.datetime) -> Notification:
    """A notification to deliver once the surrounding transaction commits."""
    notification = Notification.objects.create(
        contact_point=point,
        event=event,
        payload=payload(point, event, alerts, now),
        created_at=now,
        next_attempt_at=timezone.now(),  # due at once, on the clock the worker claims by
    )
    if alerts:
        notification.alerts.set(alerts)
    queue_on_commit([notification.pk])
    return notification


def queue_on_commit(ids: list[int]) -> None:
    ctx = tenancy.current()

    def queue() -> None:
        from dbtools.tasks import enqueue

        for pk in ids:
            enqueue(
                "alerts.notify.deliver_task",
                ctx.slug,
                pk,
                kind="interactive",
                task_name=f"notify {ctx.slug}/{pk}",
                group="alerts",
            )

    transaction.on_commit(queue, using=ctx.alias)


def _alert_dict(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "status": alert.status,
        "severity": alert.severity,
        "rule": alert.rule.name,
        "metric": alert.rule.metric,
        "server": {"id": alert.server_id, "name": alert.server.name},
        "value": alert.last_value if alert.last_value is not None else alert.value,
        "threshold": alert.threshold,
        "triggered_at": alert.triggered_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "acknowledged_by": alert.acknowledged_by,
    }


def payload(point: ContactPoint, event: str, alerts: list[Alert], now: dt.datetime) -> dict:
    body = {
        "version": 1,
        "event": event,
        "tenant": tenancy.current().slug,
        "contact_point": point.name,
        "sent_at": now.isoformat(),
        "alerts": [_alert_dict(a) for a in alerts],
    }
    if (
        point.kind == ContactPoint.Kind.WEBHOOK
        and point.payload_format == ContactPoint.Format.SLACK
    ):
        return {"text": slack_text(body)}
    return body


WORDS = {"firing": "FIRING", "repeat": "STILL FIRING", "resolved": "RESOLVED", "test": "TEST"}


def slack_text(body: dict[str, Any]) -> str:
    head = f"[{WORDS.get(body['event'], body['event'])}] DbTools ({body['tenant']})"
    if not body["alerts"]:
        return f"{head}: test message from contact point {body['contact_point']}."
    lines = [
        f"{a['severity'].upper()} {a['rule']} on {a['server']['name']}: value {a['value']}, "
        f"threshold {a['threshold']}"
        for a in body["alerts"]
    ]
    return "\n".join([head, *lines])


def email_text(body: dict[str, Any]) -> tuple[str, str]:
    """(subject, plain-text body) of one notification: the alerts of one evaluation, grouped
    as in the webhook, one line each."""
    event, alerts = body["event"], body["alerts"]
    head = f"[DbTools {body['tenant']}] {WORDS.get(event, event)}"
    if not alerts:
        text = (
            f"Test message from DbTools to contact point {body['contact_point']}: "
            "email delivery works.\n"
        )
        return f"{head}: test of {body['contact_point']}", text
    first = alerts[0]
    subject = f"{head}: {first['rule']} on {first['server']['name']}"
    if len(alerts) > 1:
        subject += f" and {len(alerts) - 1} more"
    state = {"resolved": "resolved", "test": "test"}.get(event, "firing")
    lines = [f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''} {state}:", ""]
    for a in alerts:
        since = a["triggered_at"][:16].replace("T", " ")
        line = (
            f"{a['severity'].upper():<8} {a['rule']} on {a['server']['name']}: "
            f"value {a['value']}, threshold {a['threshold']}, since {since} UTC"
        )
        if a.get("resolved_at"):
            line += f", resolved {a['resolved_at'][:16].replace('T', ' ')} UTC"
        lines.append(line)
    lines += [
        "",
        f"Sent by DbTools (tenant {body['tenant']}, contact point {body['contact_point']}) at "
        f"{body['sent_at'][:19].replace('T', ' ')} UTC.",
        "Acknowledge an alert in DbTools to stop its reminders.",
    ]
    return subject, "\n".join(lines) + "\n"


def send_email(point: ContactPoint, body: dict[str, Any]) -> str:
    """Send one notification by email through Django's default mailer; "" or the error."""
    if not settings.DBTOOLS_EMAIL_ENABLED:
        return "No SMTP server is configured (DBTOOLS_EMAIL_URL)."
    subject, text = email_text(body)
    message = EmailMessage(subject, text, to=point.recipients())
    try:
        message.send()
    except MailerDoesNotExist:
        return "No SMTP server is configured (DBTOOLS_EMAIL_URL)."
    except (smtplib.SMTPException, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"[:1000]
    return ""


def signature(secret: str, body: bytes, at: int) -> str:
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def backoff(attempt: int) -> float:
    base = getattr(settings, "DBTOOLS_ALERT_RETRY_SECONDS", 30)
    return float(min(MAX_BACKOFF_SECONDS, base * 2 ** (attempt - 1)))


def _claim(notification_id: int, now: dt.datetime, hold: float) -> bool:
    return bool(
        Notification.objects.filter(
            pk=notification_id,
            status=Notification.Status.PENDING,
            next_attempt_at__lte=now,
        ).update(next_attempt_at=now + dt.timedelta(seconds=hold))
    )


def post(point: ContactPoint, body: bytes) -> tuple[int | None, str]:
    """POST the body; (status code or None, error text or "")."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if point.secret_encrypted:
        headers["X-DbTools-Signature"] = signature(
            crypto.decrypt(point.secret_encrypted), body, int(time.time())
        )
    if not point.url.lower().startswith(("http://", "https://")):
        return None, "Only http and https addresses can receive webhooks."
    # The scheme is checked just above: never file: or a custom opener.
    request = urllib.request.Request(point.url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=point.timeout_seconds) as response:  # noqa: S310
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code} {exc.reason}"[:1000]
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(reason).__name__}: {reason}"[:1000]


def deliver(notification_id: int, now: dt.datetime | None = None) -> str:
    """One delivery attempt of a notification in the current tenant. Returns its status."""
    now = now or timezone.now()
    found = Notification.objects.select_related("contact_point").filter(pk=notification_id)
    notification = found.first()
    if notification is None:
        return "gone"
    point = notification.contact_point
    if not _claim(notification_id, now, point.timeout_seconds + 30):
        return notification.status
    started = time.monotonic()
    if point.kind == ContactPoint.Kind.EMAIL:
        code, error = None, send_email(point, notification.payload)
        ok = not error
    else:
        code, error = post(point, json.dumps(notification.payload, separators=(",", ":")).encode())
        ok = code is not None and 200 <= code < 300
    elapsed = round((time.monotonic() - started) * 1000, 1)
    attempts = notification.attempts + 1
    done_at = timezone.now()
    if ok:
        status, next_at = Notification.Status.DELIVERED, None
    elif attempts >= MAX_ATTEMPTS:
        status, next_at = Notification.Status.FAILED, None
    else:
        status = Notification.Status.PENDING
        next_at = done_at + dt.timedelta(seconds=backoff(attempts))
    with tenancy.atomic():
        DeliveryAttempt.objects.create(
            notification=notification,
            attempted_at=done_at,
            status_code=code,
            error=error,
            duration_ms=elapsed,
        )
        Notification.objects.filter(pk=notification_id).update(
            status=status,
            attempts=attempts,
            next_attempt_at=next_at,
            last_status_code=code,
            last_error=error,
            delivered_at=done_at if ok else None,
        )
    if not ok:
        log.warning(
            "alerts.delivery_failed",
            notification=notification_id,
            code=code,
            error=error,
            attempts=attempts,
        )
    return status


def retry_due(now: dt.datetime | None = None) -> int:
    """Queue the deliveries whose retry time has come (the worker claims each one)."""
    now = now or timezone.now()
    ids = list(
        Notification.objects.filter(
            status=Notification.Status.PENDING, next_attempt_at__lte=now
        ).values_list("pk", flat=True)[:500]
    )
    if ids:
        with tenancy.atomic():
            queue_on_commit(ids)
    return len(ids)


def deliver_task(tenant_slug: str, notification_id: int) -> str:
    with tenancy.use_tenant_slug(tenant_slug):
        return deliver(notification_id)

"""The Alerts pages: active alerts (live), history, one alert with its notifications, rules,
silences and contact points. Every change goes through `alerts.actions`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from alerts import actions, backtest, evaluator, metrics
from alerts.defaults import TEMPLATES
from alerts.filters import AlertFilter
from alerts.forms import AcknowledgeForm, AlertRuleForm, ContactPointForm, SilenceForm
from alerts.models import (
    Alert,
    AlertRule,
    ContactPoint,
    Notification,
    Severity,
    Silence,
    SilenceOpen,
)
from core import settings_store
from dbtools.decorators import role_required
from dbtools.errors import ActionError
from dbtools.filterbar import Control, filter_bar
from dbtools.pages import query_without, vary_on_htmx, wants_partial
from dbtools.roles import Role, request_has_role
from servers.models import Server

SEVERITY_ICONS = {"critical": "octagon-x", "warning": "triangle-alert", "info": "circle-alert"}
# Column heads of the fixed tables (`_thead.html`); their empty row spans them all.
NOTIFICATION_COLUMNS = [
    {"title": "Created (UTC)"},
    {"title": "Contact point"},
    {"title": "Event"},
    {"title": "Delivery"},
    {"title": "Attempts"},
]
# The acknowledge comment inputs are typed in the templates (one per row, each with its own id);
# their limit is the field's, the one both acknowledge views hold a comment to.
ACK_LIMIT = AcknowledgeForm.base_fields["comment"].max_length
PREVIEW_COLUMNS = [{"title": "Server"}, {"title": "Value", "css": "right"}, {"title": "Would fire"}]


def _with_actions(
    request: HttpRequest, role: Role, columns: list[dict[str, Any]], css: str = ""
) -> list[dict[str, Any]]:
    """`columns` and, for a user whose role shows the row buttons, their unlabelled column."""
    if not request_has_role(request, role):
        return columns
    return [*columns, {"title": "Actions", "hidden": True, "css": css}]


def _silenced_now() -> Exists:
    """Whether a silence matches the alert now (the same matching as notification planning)."""
    now = timezone.now()
    matching = Silence.objects.alias(open=SilenceOpen(now)).filter(
        Q(open=True),
        Q(rule__isnull=True) | Q(rule=OuterRef("rule")),
        Q(server__isnull=True) | Q(server=OuterRef("server")),
        Q(severity="") | Q(severity=OuterRef("severity")),
        Q(group__isnull=True) | Q(group__servers=OuterRef("server")),
        Q(label__isnull=True) | Q(label__servers=OuterRef("server")),
    )
    return Exists(matching)


def alerts_with_silence() -> QuerySet[Alert]:
    """Alerts with their rule and server, and whether a silence covers them now."""
    return Alert.objects.select_related("rule", "server").annotate(silenced=_silenced_now())


def decorate(alerts: Any) -> None:
    """What a row shows besides the model: severity icon, unit, how long it has lasted."""
    now = timezone.now()
    for a in alerts:
        a.icon = SEVERITY_ICONS.get(a.severity, "circle-alert")
        a.unit = metrics.unit(a.rule.metric)
        end = a.resolved_at or now
        a.duration = _duration(end - a.triggered_at)


def _duration(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days"


# History lists resolved alerts only, so its bar has no status; the page words the states its
# own way and leaves out "resolved", which is the History tab.
SEARCH = Control(
    "q", "f-q", "Search", input_type="search", attrs={"placeholder": "Search server or rule…"}
)
# Worst first, as a DBA scans for them (the model lists them mildest first).
SEVERITY = Control(
    "severity", "f-severity", "Severity", "Any severity", list(reversed(Severity.choices))
)
FIRING_STATES = [
    ("active", "All firing"),
    ("unacknowledged", "Not acknowledged"),
    ("acknowledged", "Acknowledged"),
]


def _filter_bar(request: HttpRequest, filterset: AlertFilter, history: bool) -> Any:
    servers = Server.objects.alive().order_by("name").values_list("pk", "name")
    controls = [SEARCH, SEVERITY, Control("server", "f-server", "Server", "Any server", servers)]
    if not history:
        controls.append(Control("state", "f-state", "Status", choices=FIRING_STATES))
    return filter_bar(
        filterset,
        controls,
        form_id="alert-filters",
        url=request.path,
        target="#alert-rows",
        clear=bool(request.GET),
    )


def _columns(request: HttpRequest, history: bool) -> list[dict[str, Any]]:
    """The table's columns; the empty row spans them all."""
    select = request_has_role(request, Role.OPERATOR) and not history
    return [
        *([{"title": "Select", "hidden": True}] if select else []),
        {"title": "Severity"},
        {"title": "Server"},
        {"title": "Rule"},
        {"title": "Value", "css": "right"},
        {"title": "Triggered (UTC)"},
        {"title": "Lasted" if history else "Since"},
        {"title": "Resolved (UTC)" if history else "Status"},
    ]


def _list(request: HttpRequest, history: bool) -> HttpResponse:
    params = request.GET.copy()
    if not params.get("state"):
        params["state"] = "resolved" if history else "active"
    filterset = AlertFilter(params, queryset=alerts_with_silence().order_by("-triggered_at", "-pk"))
    valid = filterset.is_valid()
    rows = filterset.qs if valid else Alert.objects.none()
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    decorate(page)
    firing = Alert.objects.filter(status=Alert.Status.FIRING)
    context = {
        "filter": filterset,
        "filter_bar": _filter_bar(request, filterset, history),
        "columns": _columns(request, history),
        "ack_limit": ACK_LIMIT,
        "page": page,
        "history": history,
        "counts": {
            "critical": firing.filter(severity="critical").count(),
            "warning": firing.filter(severity="warning").count(),
            "info": firing.filter(severity="info").count(),
        },
        "refresh_seconds": settings_store.get("dashboard_refresh_seconds"),
        "live_url": request.get_full_path(),
        "query_no_page": query_without(request),
    }
    template = "alerts/list.html#rows" if wants_partial(request) else "alerts/list.html"
    return vary_on_htmx(render(request, template, context))


def alert_list(request: HttpRequest) -> HttpResponse:
    return _list(request, history=False)


def alert_history(request: HttpRequest) -> HttpResponse:
    return _list(request, history=True)


def badge(request: HttpRequest) -> HttpResponse:
    firing = Alert.objects.filter(status=Alert.Status.FIRING)
    severities = set(firing.values_list("severity", flat=True).distinct())
    worst = next((s for s in ("critical", "warning", "info") if s in severities), "")
    context = {
        "count": firing.count(),
        "worst": worst,
        "refresh_seconds": settings_store.get("dashboard_refresh_seconds"),
    }
    return vary_on_htmx(render(request, "alerts/_badge.html", context))


def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(alerts_with_silence().select_related("suppressed_execution"), pk=pk)
    decorate([alert])
    notifications = (
        Notification.objects.filter(alerts=alert)
        .select_related("contact_point")
        .prefetch_related("delivery_attempts")
        .order_by("-created_at", "-pk")
    )
    return render(
        request,
        "alerts/detail.html",
        {
            "alert": alert,
            "notifications": notifications,
            "notification_columns": NOTIFICATION_COLUMNS,
            "ack_limit": ACK_LIMIT,
            "condition": actions.describe(alert.rule),
            "grace": evaluator.maintenance_grace_minutes(),
        },
    )


# Pages that acknowledge alerts and get the user back: the Alerts pages and a server's page.
BACK_PREFIXES = ("/alerts/", "/servers/", "/groups/")


def _back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next", "")
    # Only our own pages: a path, never another site.
    return redirect(target if target.startswith(BACK_PREFIXES) else default)


@role_required(Role.OPERATOR)
def acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert.objects.select_related("rule", "server"), pk=pk)
    form = AcknowledgeForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    if actions.acknowledge([alert], comment, acting_user=request.user):
        messages.success(request, f"Alert {alert.rule.name} on {alert.server.name} acknowledged.")
    else:
        messages.info(request, "This alert was already acknowledged or has resolved.")
    return _back(request, "alerts")


@role_required(Role.OPERATOR)
def acknowledge_many(request: HttpRequest) -> HttpResponse:
    ids = [int(i) for i in request.POST.getlist("alert") if i.isdigit()]
    found = list(Alert.objects.select_related("rule", "server").filter(pk__in=ids))
    done = actions.acknowledge(
        found, request.POST.get("comment", "")[:ACK_LIMIT], acting_user=request.user
    )
    messages.success(request, f"{len(done)} alert{'s' if len(done) != 1 else ''} acknowledged.")
    return _back(request, "alerts")


@role_required(Role.OPERATOR)
def snooze(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert.objects.select_related("rule", "server"), pk=pk)
    try:
        minutes = int(request.POST.get("minutes", "60"))
    except ValueError:
        minutes = 60
    minutes = min(max(minutes, 5), 7 * 24 * 60)
    actions.snooze(alert, minutes, acting_user=request.user)
    messages.success(
        request, f"{alert.rule.name} on {alert.server.name} snoozed for {minutes} min."
    )
    return _back(request, "alerts")


# -- rules ------------------------------------------------------------------------------------
def rule_list(request: HttpRequest) -> HttpResponse:
    rules = AlertRule.objects.select_related("group", "label", "server").order_by("name")
    for r in rules:
        r.condition = actions.describe(r)
        r.icon = SEVERITY_ICONS.get(r.severity, "circle-alert")
        r.firing = r.alerts.filter(status=Alert.Status.FIRING).count()
    columns = _with_actions(
        request,
        Role.ADMIN,
        [
            {"title": "Name"},
            {"title": "Metric"},
            {"title": "Condition"},
            {"title": "Severity"},
            {"title": "Applies to"},
            {"title": "Status"},
        ],
        css="right",
    )
    return render(request, "alerts/rules.html", {"rules": rules, "columns": columns})


def _rule_page(
    request: HttpRequest, form: AlertRuleForm, rule: AlertRule | None, status: int = 200
) -> HttpResponse:
    context = {
        "form": form,
        "rule": rule,
        "templates": [t["name"] for t in TEMPLATES],
        "preview_columns": PREVIEW_COLUMNS,
    }
    return render(request, "alerts/rule_form.html", context, status=status)


def rule_new(request: HttpRequest) -> HttpResponse:
    chosen = next((t for t in TEMPLATES if t["name"] == request.GET.get("template")), None)
    return _rule_page(request, AlertRuleForm(initial=chosen or {}), None)


def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule, pk=pk)
    return _rule_page(request, AlertRuleForm(instance=rule), rule)


def _save_rule(request: HttpRequest, rule: AlertRule | None) -> HttpResponse:
    form = AlertRuleForm(request.POST, instance=rule)
    if form.is_valid():
        try:
            if rule is None:
                saved = actions.create_rule(form.cleaned_data, acting_user=request.user)
            else:
                saved = actions.update_rule(
                    AlertRule.objects.get(pk=rule.pk), form.cleaned_data, acting_user=request.user
                )
        except ActionError as exc:
            for field, errors in exc.errors.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Rule {saved.name} saved.")
            return redirect("alert-rules")
    return _rule_page(request, form, rule, status=400)


@role_required(Role.ADMIN)
def rule_create(request: HttpRequest) -> HttpResponse:
    return _save_rule(request, None)


@role_required(Role.ADMIN)
def rule_update(request: HttpRequest, pk: int) -> HttpResponse:
    return _save_rule(request, get_object_or_404(AlertRule, pk=pk))


@require_POST
def rule_preview(request: HttpRequest) -> HttpResponse:
    """The servers the rule in the form would fire on now, and how often it would have fired
    over the last day (computed, nothing saved)."""
    form = AlertRuleForm(request.POST)
    valid = form.is_valid()
    context = {
        "form": form,
        "preview": evaluator.preview(form.instance) if valid else None,
        "backtest": backtest.backtest(form.instance) if valid else None,
        "preview_columns": PREVIEW_COLUMNS,
    }
    return render(request, "alerts/rule_form.html#preview", context)


@role_required(Role.ADMIN)
def rule_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule, pk=pk)
    actions.set_rule_enabled(rule, not rule.enabled, acting_user=request.user)
    messages.success(request, f"Rule {rule.name} {'enabled' if rule.enabled else 'disabled'}.")
    return redirect("alert-rules")


@role_required(Role.ADMIN)
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule, pk=pk)
    actions.delete_rule(rule, acting_user=request.user)
    messages.success(request, f"Rule {rule.name} deleted.")
    return redirect("alert-rules")


# -- silences ---------------------------------------------------------------------------------
def silence_list(
    request: HttpRequest, form: SilenceForm | None = None, status: int = 200
) -> HttpResponse:
    now = timezone.now()
    silences = (
        Silence.objects.select_related("rule", "server", "group", "label")
        .annotate(active=SilenceOpen(now))
        .order_by("-ends_at", "-pk")[:200]
    )
    for s in silences:
        s.upcoming = not s.active and not actions.is_over(s, now)
    initial = {"ends_at": (now + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")}
    if request.GET.get("server", "").isdigit():
        initial["server"] = request.GET["server"]
    columns = _with_actions(
        request,
        Role.OPERATOR,
        [
            {"title": "Matches"},
            {"title": "Window"},
            {"title": "Comment"},
            {"title": "By"},
            {"title": "Status"},
        ],
    )
    context = {
        "silences": silences,
        "columns": columns,
        "form": form or SilenceForm(initial=initial),
    }
    return render(request, "alerts/silences.html", context, status=status)


@role_required(Role.OPERATOR)
def silence_create(request: HttpRequest) -> HttpResponse:
    form = SilenceForm(request.POST)
    if form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
        try:
            actions.create_silence(data, acting_user=request.user)
        except ActionError as exc:
            for field, errors in exc.errors.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Silence created.")
            return redirect("alert-silences")
    return silence_list(request, form, status=400)


@role_required(Role.OPERATOR)
def silence_end(request: HttpRequest, pk: int) -> HttpResponse:
    actions.end_silence(get_object_or_404(Silence, pk=pk), acting_user=request.user)
    messages.success(request, "Silence ended.")
    return redirect("alert-silences")


# -- contact points ---------------------------------------------------------------------------
def contact_list(
    request: HttpRequest, form: ContactPointForm | None = None, status: int = 200
) -> HttpResponse:
    points = ContactPoint.objects.select_related("group", "label").order_by("name")
    log = (
        Notification.objects.select_related("contact_point")
        .prefetch_related("delivery_attempts")
        .order_by("-created_at", "-pk")[:50]
    )
    columns = [
        {"title": "Name"},
        {"title": "Sends to"},
        {"title": "Routes"},
        {"title": "Repeat"},
        {"title": "Signed"},
        {"title": "Status"},
    ]
    context = {
        "points": points,
        "columns": _with_actions(request, Role.ADMIN, columns),
        "log": log,
        "log_columns": _with_actions(request, Role.ADMIN, NOTIFICATION_COLUMNS),
        "form": form or ContactPointForm(),
        "email_enabled": settings.DBTOOLS_EMAIL_ENABLED,
    }
    return render(request, "alerts/contacts.html", context, status=status)


@role_required(Role.ADMIN)
def contact_create(request: HttpRequest) -> HttpResponse:
    form = ContactPointForm(request.POST)
    if form.is_valid():
        try:
            point = actions.create_contact_point(form.cleaned_data, acting_user=request.user)
        except ActionError as exc:
            for field, errors in exc.errors.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Contact point {point.name} created.")
            return redirect("alert-contacts")
    return contact_list(request, form, status=400)


@role_required(Role.ADMIN)
def contact_test(request: HttpRequest, pk: int) -> HttpResponse:
    point = get_object_or_404(ContactPoint, pk=pk)
    actions.send_test(point, acting_user=request.user)
    messages.success(request, f"Test message queued to {point.name}; see the delivery log.")
    return redirect("alert-contacts")


@role_required(Role.ADMIN)
def contact_delete(request: HttpRequest, pk: int) -> HttpResponse:
    point = get_object_or_404(ContactPoint, pk=pk)
    actions.delete_contact_point(point, acting_user=request.user)
    messages.success(request, f"Contact point {point.name} deleted.")
    return redirect("alert-contacts")


@role_required(Role.ADMIN)
def redeliver(request: HttpRequest, pk: int) -> HttpResponse:
    notification = get_object_or_404(Notification.objects.select_related("contact_point"), pk=pk)
    actions.redeliver(notification, acting_user=request.user)
    messages.success(request, "Queued for delivery again.")
    return _back(request, "alert-contacts")

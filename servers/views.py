"""Servers and Groups pages: the list, the onboarding wizard, a server's page, groups and labels.

Thin views: forms validate (through the API's serializers), `servers.actions` and
`servers.deployment` write. Page actions are POSTs that need the operator role; a viewer sees
every page without its actions."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from core import settings_store
from core.models import ActivityLog
from dbtools import sections
from dbtools.decorators import needs_role, role_required
from dbtools.filterbar import Control, filter_bar
from dbtools.pages import query_without, render_page, sort_headers, wants_partial
from dbtools.roles import Role, request_has_role
from servers import actions, deployment, health, target_limits
from servers.filters import SORTABLE, ServerFilter
from servers.forms import (
    BulkForm,
    GroupForm,
    LabelsForm,
    OnboardExtrasForm,
    ServerForm,
    ServerIdsForm,
)
from servers.models import Label, Server, ServerGroup

PAGE_SIZE = 50
COLUMNS = [
    ("name", "Name"),
    ("host", "Host\\Instance"),
    ("health", "Health"),
    ("status", "Connection"),
    ("monitoring_status", "Monitoring"),
    ("groups", "Groups"),
    ("labels", "Labels"),
    ("version", "Version"),
    ("created_at", "Added"),
]
FILTER_KEYS = [k for k in ServerFilter.base_filters if k != "ordering"]
FILTER_BAR = [
    Control(
        "q",
        "id_q",
        "Search servers",
        input_type="search",
        attrs={"placeholder": "Search name, host, group, label…", "autocomplete": "off"},
    ),
    Control("status", "f-status", "Status", any="Any status"),
    Control("health", "f-health", "Health", any="Any health"),
    Control("monitoring_status", "f-monitoring", "Monitoring", any="Any monitoring"),
    Control("group", "f-group", "Group", any="Any group"),
    Control(
        "label",
        "f-label",
        "Labels",
        input_type="text",
        attrs={
            "list": "label-filter-options",
            "data-label-complete": True,
            "placeholder": "Labels (a, b)",
            "autocomplete": "off",
            "class": "input-narrow",
        },
    ),
]
CONNECTION_FIELD_NAMES = " ".join(("password", *actions.CONNECTION_FIELDS))


# What the Servers page says after a bulk action (`actions.bulk`), by action.
BULK_DONE = {
    "add_to_group": "{count} server(s) added to {group.name}.",
    "add_label": "Label “{label}” added to {count} server(s).",
    "deploy": "Deployment queued for {count} server(s).",
    "delete": "{count} server(s) deleted.",
}

ERROR_KINDS = {
    "unreachable": "Unreachable",
    "timeout": "Timed out",
    "login_failed": "Login failed",
    "permission_missing": "Permission missing",
    "version_unsupported": "Version not supported",
    "tls_failure": "Encryption (TLS) failed",
    "query_failed": "Query failed",
    "busy": "Too many connection tests",
}


# -- helpers ---------------------------------------------------------------------------------------
def _described(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """A connection test result with a heading for its error kind."""
    if result is not None and not result.get("ok"):
        kind = result.get("error_kind", "")
        result = {**result, "kind_label": ERROR_KINDS.get(kind, "Connection failed")}
    return result


def _busy(exc: target_limits.TargetsBusy) -> dict[str, Any]:
    """A connection test refused before it started, shown like a failed one."""
    return {"ok": False, "error_kind": "busy", "message": exc.message}


def _retry_later(response: HttpResponse, exc: target_limits.TargetsBusy) -> HttpResponse:
    response["Retry-After"] = str(exc.retry_after)
    return response


def _toast(response: HttpResponse, text: str, level: str = "success") -> HttpResponse:
    return trigger_client_event(response, "toast", {"text": text, "level": level})


def _back(request: HttpRequest, fallback: str) -> str:
    """Where a list action returns: the list it came from, with its filters.

    The form says which (`next`, kept current by static/js/servers.js as filters change); the
    Referer is only a fallback, and never an action URL such as /servers/bulk, which answers
    POST only."""
    host, secure = {request.get_host()}, request.is_secure()
    for url in (request.POST.get("next", ""), request.headers.get("Referer", "")):
        if url and url_has_allowed_host_and_scheme(url, host, secure):
            path = urlsplit(url).path
            if path.startswith(fallback) and not path.endswith("/bulk"):
                return url
    return fallback


def _server(pk: int) -> Server:
    return get_object_or_404(Server.objects.listed(), pk=pk)


# -- server list -----------------------------------------------------------------------------------
def _list_context(request: HttpRequest) -> dict[str, Any]:
    filterset = ServerFilter(request.GET, queryset=Server.objects.listed())
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    by_id = {h["server_id"]: h for h in health.fleet_health(server_ids=[s.pk for s in page])}
    for server in page:
        server.health = by_id.get(server.pk)
    ordering = request.GET.get("ordering", "")
    current_labels = [n.strip() for n in request.GET.get("label", "").split(",") if n.strip()]
    headers = sort_headers(request, COLUMNS, SORTABLE, ordering)
    filtered = any(request.GET.get(k) for k in FILTER_KEYS)
    bar = filter_bar(
        filterset,
        FILTER_BAR,
        form_id="server-filters",
        url=reverse("servers"),
        target="#server-rows",
        ordering=ordering,
        clear=filtered,
        clear_icon=True,
    )
    return {
        "filter": filterset,
        "filter_bar": bar,
        "page": page,
        "ordering": ordering,
        "headers": headers,
        # The checkbox column of operators counts too, and the row menu's.
        "column_count": len(headers) + request_has_role(request, Role.OPERATOR) + 1,
        "query_no_page": query_without(request),
        "query_no_label": query_without(request, "label"),
        "current_labels": current_labels,
        "label_param": ",".join(current_labels),
        "filtered": filtered,
        "groups": ServerGroup.objects.all(),
        "labels": Label.objects.all(),
        "refresh_seconds": settings_store.get("dashboard_refresh_seconds"),
    }


def server_list(
    request: HttpRequest, bulk_form: BulkForm | None = None, status: int = 200
) -> HttpResponse:
    context = _list_context(request)
    if not wants_partial(request) and request_has_role(request, Role.OPERATOR):
        # Bulk "run job" and "deploy policy" come from the apps that own them.
        context["bulk_parts"] = sections.build(sections.SERVER_LIST, request)
    context["bulk_form"] = bulk_form
    context["selected"] = request.POST.getlist("server_ids") if bulk_form else []
    return render_page(
        request,
        "servers/list.html",
        context,
        part="rows",
        status=status,
        partial_allowed=bulk_form is None,  # bulk errors show above the list
    )


@role_required(Role.OPERATOR)
def bulk(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST)
    if not form.is_valid():
        # The list the user was on (its filters), with the errors; the page puts that list's
        # address back in the address bar, and the next action returns there too.
        back = _back(request, reverse("servers"))
        request.GET = QueryDict(urlsplit(back).query)
        return server_list(request, form, status=400)
    data = form.cleaned_data
    action = data["action"]
    count = actions.bulk(
        action,
        data["servers"],
        acting_user=request.user,
        group=data.get("group"),
        label=data.get("label", ""),
    )
    messages.success(request, BULK_DONE[action].format(count=count, **data))
    return redirect(_back(request, reverse("servers")))


# -- onboarding wizard -----------------------------------------------------------------------------
def _wizard(
    request: HttpRequest,
    form: ServerForm,
    server: Server | None = None,
    result: dict[str, Any] | None = None,
    status: int = 200,
    extras: OnboardExtrasForm | None = None,
) -> HttpResponse:
    if server is None and extras is None:
        extras = OnboardExtrasForm()
    if request.htmx and request.method == "POST" and status >= 400:
        # The wizard saves through HTMX: only the errors travel back, every field (the
        # password too) stays as typed in the browser.
        context = {"form": form, "extras": extras, "result": _described(result)}
        return render(request, "servers/form.html#save_errors", context, status=status)
    context = {
        "extras": extras,
        "all_labels": Label.objects.all() if extras is not None else [],
        "form": form,
        "server": server,
        "result": _described(result),
        "connection_fields": CONNECTION_FIELD_NAMES,
        "test_url": reverse("servers-test-edit", args=[server.pk])
        if server
        else reverse("servers-test-new"),
        "cancel_url": reverse("servers-detail", args=[server.pk]) if server else reverse("servers"),
    }
    return render(request, "servers/form.html", context, status=status)


@needs_role(Role.OPERATOR)
def server_add(request: HttpRequest) -> HttpResponse:
    return _wizard(request, ServerForm())


@role_required(Role.OPERATOR)
def server_create(request: HttpRequest) -> HttpResponse:
    form = ServerForm(request.POST)
    extras = OnboardExtrasForm(request.POST)
    if not (form.is_valid() & extras.is_valid()):
        return _wizard(request, form, status=400, extras=extras)
    more = extras.cleaned_data
    try:
        with target_limits.target_slot(request.user):
            server = actions.onboard_server(
                form.cleaned_data,
                acting_user=request.user,
                groups=more["groups"],
                labels=more["labels"],
                deploy=more["deploy"],
            )
    except target_limits.TargetsBusy as exc:
        response = _wizard(request, form, result=_busy(exc), status=429, extras=extras)
        return _retry_later(response, exc)
    except actions.ActionError as exc:
        for field, errors in exc.errors.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return _wizard(request, form, status=400, extras=extras)
    except actions.ConnectionFailed as exc:
        return _wizard(request, form, result=exc.result, status=400, extras=extras)
    text = f"Server {server.name} added."
    if more["deploy"]:
        text += " Monitoring is being deployed; collection starts once it is in place."
    messages.success(request, text)
    # Done: the new server's page.
    url = reverse("servers-detail", args=[server.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@needs_role(Role.OPERATOR)
def server_edit_page(request: HttpRequest, pk: int) -> HttpResponse:
    server = _server(pk)
    return _wizard(request, ServerForm(server=server), server)


@role_required(Role.OPERATOR)
def server_update(request: HttpRequest, pk: int) -> HttpResponse:
    server = _server(pk)
    form = ServerForm(request.POST, server=server)
    if not form.is_valid():
        return _wizard(request, form, server, status=400)
    if form.connection_changed():  # what the page tested is checked again before saving
        try:
            with target_limits.target_slot(request.user):
                result = actions.test_connection(form.target())
        except target_limits.TargetsBusy as exc:
            return _retry_later(_wizard(request, form, server, _busy(exc), status=429), exc)
        if not result["ok"]:
            return _wizard(request, form, server, result=result, status=400)
    try:
        actions.update_server(server, form.cleaned_data, acting_user=request.user)
    except actions.ActionError as exc:
        for field, errors in exc.errors.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return _wizard(request, form, server, status=400)
    messages.success(request, f"Server {server.name} saved.")
    return redirect("servers-detail", pk=server.pk)


@role_required(Role.OPERATOR)
def wizard_test(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """The wizard's "Test connection": nothing is saved."""
    server = _server(pk) if pk is not None else None
    form = ServerForm(request.POST, server=server, connection_only=True)
    context: dict[str, Any] = {"form": form, "oob_errors": True}
    if not form.is_valid():
        return render(request, "servers/form.html#test_result", context, status=400)
    try:
        with target_limits.target_slot(request.user):
            context["result"] = _described(actions.test_connection(form.target()))
    except target_limits.TargetsBusy as exc:
        context["result"] = _described(_busy(exc))
        response = render(request, "servers/form.html#test_result", context, status=429)
        return _retry_later(response, exc)
    name = request.POST.get("name", "").strip()
    context["name_taken"] = bool(name) and actions.name_taken(name, server.pk if server else None)
    return render(request, "servers/form.html#test_result", context)


# -- server detail ---------------------------------------------------------------------------------
def _detail_context(
    request: HttpRequest, server: Server, *, parts: bool = True, **extra: Any
) -> dict[str, Any]:
    member_of = [g.pk for g in server.groups.all()]
    return {
        # Alerts, policies and jobs of this server, each app's own section (dbtools.sections);
        # not for a poll of one card (`parts=False`).
        "header_parts": sections.build(sections.SERVER_HEADER, request, server) if parts else [],
        "server_sections": sections.build(sections.SERVER, request, server) if parts else [],
        "server": server,
        "deploy": deployment.status_of(server),
        "other_groups": ServerGroup.objects.exclude(pk__in=member_of),
        "all_labels": Label.objects.all(),
        "activity": ActivityLog.objects.filter(entity_type="server", entity_id=str(server.pk))[:20],
        "activity_columns": ("When (UTC)", "User", "Action", "Details"),
        "labels_form": LabelsForm(),
        **health.source().detail_context(server),
        **extra,
    }


def server_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "servers/detail.html", _detail_context(request, _server(pk)))


def _detail_done(
    request: HttpRequest, pk: int, text: str, level: str = "success", **extra: Any
) -> HttpResponse:
    """After a detail-page action: HTMX gets the fresh page (it swaps #server-detail) and a
    toast; a plain POST is redirected back."""
    if not request.htmx:
        getattr(messages, level)(request, text)
        return redirect("servers-detail", pk=pk)
    context = _detail_context(request, _server(pk), **extra)
    response = render(request, "servers/detail.html", context)
    return _toast(response, text, level)


def _detail_error(request: HttpRequest, server: Server, **extra: Any) -> HttpResponse:
    context = _detail_context(request, server, **extra)
    return render(request, "servers/detail.html", context, status=400)


def server_monitoring(request: HttpRequest, pk: int) -> HttpResponse:
    """The monitoring card alone: polled while a deployment runs."""
    context = _detail_context(request, _server(pk), parts=False)
    return render(request, "servers/detail.html#monitoring", context)


@role_required(Role.OPERATOR)
def server_delete(request: HttpRequest, pk: int) -> HttpResponse:
    server = _server(pk)
    actions.delete_servers([server], acting_user=request.user)
    messages.success(request, f"Server {server.name} deleted.")
    return redirect("servers")


@role_required(Role.OPERATOR)
def server_retest(request: HttpRequest, pk: int) -> HttpResponse:
    server = _server(pk)
    try:
        with target_limits.target_slot(request.user):
            result = actions.recheck_server(server, acting_user=request.user)
    except target_limits.TargetsBusy as exc:
        if not request.htmx:
            messages.error(request, exc.message)
            return redirect("servers-detail", pk=pk)
        context = _detail_context(request, server, test_result=_described(_busy(exc)))
        response = render(request, "servers/detail.html", context, status=429)
        return _retry_later(_toast(response, exc.message, "error"), exc)
    level = "success" if result["ok"] else "error"
    return _detail_done(request, pk, result["message"], level, test_result=_described(result))


@role_required(Role.OPERATOR)
def server_deploy(request: HttpRequest, pk: int) -> HttpResponse:
    queued = deployment.request_deploy([_server(pk)], acting_user=request.user)
    text = "Deployment queued." if queued else "A deployment is already running."
    return _detail_done(request, pk, text, "success" if queued else "info")


@role_required(Role.OPERATOR)
def server_add_group(request: HttpRequest, pk: int) -> HttpResponse:
    server = _server(pk)
    group_id = request.POST.get("group", "")
    group = ServerGroup.objects.filter(pk=group_id).first() if group_id.isdigit() else None
    if group is None:
        return _detail_error(request, server, group_error="Choose a group.")
    actions.add_to_group(group, [server], acting_user=request.user)
    return _detail_done(request, pk, f"Added to {group.name}.")


@role_required(Role.OPERATOR)
def server_remove_group(request: HttpRequest, pk: int, group_id: int) -> HttpResponse:
    server = _server(pk)
    group = get_object_or_404(ServerGroup, pk=group_id)
    actions.remove_from_group(group, server, acting_user=request.user)
    return _detail_done(request, pk, f"Removed from {group.name}.")


@role_required(Role.OPERATOR)
def server_add_labels(request: HttpRequest, pk: int) -> HttpResponse:
    server = _server(pk)
    form = LabelsForm(request.POST)
    if not form.is_valid():
        return _detail_error(request, server, labels_form=form)
    labels = actions.assign_labels([server], form.cleaned_data["labels"], acting_user=request.user)
    return _detail_done(request, pk, f"Labelled {', '.join(lbl.name for lbl in labels)}.")


@role_required(Role.OPERATOR)
def server_remove_label(request: HttpRequest, pk: int, label_id: int) -> HttpResponse:
    server = _server(pk)
    label = get_object_or_404(Label, pk=label_id)
    actions.remove_label(server, label, acting_user=request.user)
    return _detail_done(request, pk, f"Label {label.name} removed.")


# -- groups ----------------------------------------------------------------------------------------
def _groups() -> QuerySet[ServerGroup]:
    return ServerGroup.objects.annotate(
        server_count=Count("servers", filter=Q(servers__deleted_at__isnull=True))
    )


def group_list(
    request: HttpRequest, form: GroupForm | None = None, status: int = 200
) -> HttpResponse:
    context = {"groups": _groups(), "form": form or GroupForm()}
    return render(request, "servers/groups.html", context, status=status)


@role_required(Role.OPERATOR)
def group_create(request: HttpRequest) -> HttpResponse:
    form = GroupForm(request.POST)
    if form.is_valid():
        try:
            group = actions.create_group(
                form.cleaned_data["name"],
                form.cleaned_data.get("description", ""),
                acting_user=request.user,
            )
        except actions.ActionError as exc:
            form.add_error("name", exc.errors.get("name", [str(exc)]))
        else:
            messages.success(request, f"Group {group.name} created.")
            return redirect("groups-detail", pk=group.pk)
    return group_list(request, form, status=400)


def group_detail(
    request: HttpRequest,
    pk: int,
    form: GroupForm | None = None,
    picker: ServerIdsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    group = get_object_or_404(_groups(), pk=pk)
    members = group.servers.alive().prefetch_related(
        Prefetch("labels", Label.objects.order_by("name"))
    )
    context = {
        "group": group,
        "members": members,
        "candidates": Server.objects.alive()
        .exclude(groups=group)
        .only("pk", "name", "host", "instance_name", "port"),
        "form": form or GroupForm(group=group),
        "picker": picker,
        "refresh_seconds": settings_store.get("dashboard_refresh_seconds"),
    }
    if not wants_partial(request):  # a live refresh redraws the member table only
        context["group_sections"] = sections.build(sections.GROUP, request, group)
    by_id = {h["server_id"]: h for h in health.fleet_health(server_ids=[m.pk for m in members])}
    for member in members:
        member.health = by_id.get(member.pk)
    return render_page(
        request,
        "servers/group_detail.html",
        context,
        part="members",  # a live refresh of the member table
        status=status,
        partial_allowed=request.method == "GET",
    )


@role_required(Role.OPERATOR)
def group_update(request: HttpRequest, pk: int) -> HttpResponse:
    group = get_object_or_404(ServerGroup, pk=pk)
    form = GroupForm(request.POST, group=group)
    if form.is_valid():
        try:
            actions.update_group(group, form.cleaned_data, acting_user=request.user)
        except actions.ActionError as exc:
            form.add_error("name", exc.errors.get("name", [str(exc)]))
        else:
            messages.success(request, f"Group {group.name} saved.")
            return redirect("groups-detail", pk=pk)
    return group_detail(request, pk, form=form, status=400)


@role_required(Role.OPERATOR)
def group_delete(request: HttpRequest, pk: int) -> HttpResponse:
    group = get_object_or_404(ServerGroup, pk=pk)
    actions.delete_group(group, acting_user=request.user)
    messages.success(request, f"Group {group.name} deleted; its servers stay.")
    return redirect("groups")


@role_required(Role.OPERATOR)
def group_add_servers(request: HttpRequest, pk: int) -> HttpResponse:
    group = get_object_or_404(ServerGroup, pk=pk)
    picker = ServerIdsForm(request.POST)
    if not picker.is_valid():
        return group_detail(request, pk, picker=picker, status=400)
    added = actions.add_to_group(group, picker.cleaned_data["servers"], acting_user=request.user)
    messages.success(request, f"{added} server(s) added to {group.name}.")
    return redirect("groups-detail", pk=pk)


@role_required(Role.OPERATOR)
def group_remove_server(request: HttpRequest, pk: int, server_id: int) -> HttpResponse:
    group = get_object_or_404(ServerGroup, pk=pk)
    server = _server(server_id)
    actions.remove_from_group(group, server, acting_user=request.user)
    messages.success(request, f"{server.name} removed from {group.name}.")
    return redirect("groups-detail", pk=pk)

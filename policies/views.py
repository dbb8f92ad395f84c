"""Policies pages: the list, the create wizard and edit form built from each type's schema, the
detail page (versions and their diff, the T-SQL, where it is deployed, compliance, exemptions,
execution history), and the compliance view across the fleet.

Thin views: `policies.actions` writes, `policies.standing` judges, `policies.forms` turns the
schema into fields. Actions are POSTs that need the operator role."""

from __future__ import annotations

import datetime as dt
import difflib
import json
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from dbtools.decorators import refusal, role_required
from dbtools.errors import ActionError
from dbtools.filterbar import Control, filter_bar
from dbtools.pages import back_to, vary_on_htmx, wants_partial
from dbtools.roles import Role
from policies import actions, forms, schemas, standing
from policies import render as tsql
from policies.filters import ComplianceFilter, PolicyFilter
from policies.models import Exemption, Policy, PolicyDeployment
from scheduler import actions as job_actions
from scheduler.models import JobExecution
from servers.models import Server, ServerGroup

# Rows of one deployment a page shows; the rest are reached through the compliance filter.
ROW_LIMIT = 200
FLEET_ROW_LIMIT = 50  # per deployment on the fleet view, which lists every deployment
TYPE_ICONS = {
    "backup": "database",
    "index_maintenance": "refresh-cw",
    "integrity_check": "shield-check",
    "custom_script": "book-open",
}
FILTER_BAR = [
    Control(
        "q",
        "id_q",
        "Search policies",
        input_type="search",
        attrs={"placeholder": "Search name or description…", "autocomplete": "off"},
    ),
    Control("policy_type", "f-type", "Type", any="Any type"),
]


# The columns of a deployment's compliance table (`_standing.html`) before its evidence times,
# which depend on the policy type.
STANDING_COLUMNS = ["Server", "Database", "Compliance", "Why", "Recovery"]
EVIDENCE_COLUMNS = {"backup": ["Last full", "Last diff", "Last log"]}
CHECKDB_COLUMNS = ["Last good CHECKDB"]


def show_rows(s: standing.DeploymentStanding, rows: list[standing.Row], limit: int) -> None:
    """What `_standing.html` draws of `s`: the first `limit` of `rows` (the rest counted) under
    its columns, which its empty row and its servers without facts span."""
    s.shown, s.hidden = rows[:limit], max(0, len(rows) - limit)
    evidence = EVIDENCE_COLUMNS.get(s.deployment.policy.policy_type, CHECKDB_COLUMNS)
    s.columns = [{"title": title} for title in STANDING_COLUMNS + evidence]


def _types() -> list[dict[str, str]]:
    return [
        {
            "value": value,
            "label": label,
            "description": schemas.SCHEMAS[value]["description"],
            "icon": TYPE_ICONS[value],
        }
        for value, label in Policy.Type.choices
    ]


# -- list ------------------------------------------------------------------------------------------
def policy_list(request: HttpRequest) -> HttpResponse:
    filterset = PolicyFilter(request.GET, queryset=Policy.objects.listing())
    valid = filterset.is_valid()
    policies = list(filterset.qs if valid else Policy.objects.none())
    overall: dict[int, list[str]] = {}
    for s in standing.standings(
        standing.live_deployments().filter(policy__in=[p.pk for p in policies])
    ):
        overall.setdefault(s.deployment.policy_id, []).append(s.status)
    for p in policies:
        found = overall.get(p.pk)
        p.compliance = standing.worst(found) if found else ""
    context = {
        "policies": policies,
        "filter": filterset,
        "filter_bar": filter_bar(
            filterset,
            FILTER_BAR,
            form_id="policy-filters",
            url=reverse("policies"),
            target="#policy-rows",
        ),
        "picked_types": request.GET.getlist("policy_type"),
        "q": request.GET.get("q", ""),
    }
    template = "policies/list.html#rows" if wants_partial(request) else "policies/list.html"
    return vary_on_htmx(render(request, template, context))


# -- create and edit -------------------------------------------------------------------------------
def policy_new(request: HttpRequest) -> HttpResponse:
    return render(request, "policies/new.html", {"types": _types()})


def _form_context(
    policy_type: str,
    config: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    errors = errors or {}
    return {
        "policy_type": policy_type,
        "type_label": Policy.Type(policy_type).label,
        "type_description": schemas.SCHEMAS[policy_type]["description"],
        "fields": forms.fields_for(policy_type, config, errors),
        "errors": errors,
        "other_errors": [
            m
            for k, msgs in errors.items()
            if k not in ("name", "description", "status")
            and not any(k == f"configuration.{f.key}" for f in forms.fields_for(policy_type, {}))
            for m in msgs
        ],
        **extra,
    }


def policy_create(request: HttpRequest, policy_type: str) -> HttpResponse:
    if policy_type not in schemas.SCHEMAS:
        raise Http404("No such policy type.")
    if request.method != "POST":
        context = _form_context(policy_type, {}, basics=forms.PolicyForm())
        return render(request, "policies/form.html", context)
    denied = refusal(request, Role.OPERATOR)
    if denied:
        return denied
    basics = forms.PolicyForm(request.POST)
    config = forms.config_from_post(policy_type, request.POST)
    errors = _basic_errors(basics)
    if not errors:
        data = {
            **basics.cleaned_data,
            "policy_type": policy_type,
            "status": "active" if request.POST.get("save") == "activate" else "draft",
            "configuration": config,
        }
        try:
            policy = actions.create_policy(data, acting_user=request.user)
        except ActionError as exc:
            errors = _refused(basics, exc)
        else:
            state = "active" if policy.is_active else "saved as a draft"
            messages.success(request, f"Policy {policy.name} created ({state}).")
            return redirect("policies-detail", pk=policy.pk)
    context = _form_context(policy_type, config, errors, basics=basics)
    return render(request, "policies/form.html", context, status=400)


def _basic_errors(basics: forms.PolicyForm) -> dict[str, list[str]]:
    return {name: list(msgs) for name, msgs in basics.errors.items()}


def _refused(basics: forms.PolicyForm, exc: ActionError) -> dict[str, list[str]]:
    """The action's errors, those on the name or description also shown on their input."""
    for name in ("name", "description"):
        if exc.errors.get(name):
            basics.add_error(name, exc.errors[name])
    return exc.errors


def policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(Policy.objects.alive(), pk=pk)
    if request.method != "POST":
        context = _form_context(
            policy.policy_type,
            policy.latest().configuration,
            policy=policy,
            basics=forms.PolicyForm(instance=policy),
        )
        return render(request, "policies/form.html", context)
    denied = refusal(request, Role.OPERATOR)
    if denied:
        return denied
    # Not bound to the policy: validating would change the instance the page still names.
    basics = forms.PolicyForm(request.POST)
    config = forms.config_from_post(policy.policy_type, request.POST)
    errors = _basic_errors(basics)
    if not errors:
        data = {**basics.cleaned_data, "configuration": config}
        if request.POST.get("save") == "activate":
            data["status"] = "active"
        try:
            before = policy.version
            policy = actions.update_policy(policy, data, acting_user=request.user)
        except ActionError as exc:
            errors = _refused(basics, exc)
        else:
            if policy.version != before:
                messages.success(request, f"Saved as version {policy.version}.")
            else:
                messages.success(request, "Saved; the configuration did not change.")
            return redirect("policies-detail", pk=policy.pk)
    context = _form_context(
        policy.policy_type,
        config,
        errors,
        policy=policy,
        basics=basics,
    )
    return render(request, "policies/form.html", context, status=400)


# -- detail ----------------------------------------------------------------------------------------
def _diff(policy: Policy, a: int, b: int) -> list[tuple[str, str]]:
    """Line diff of two versions' configurations, each line tagged add/del/same."""
    versions = {v.number: v.configuration for v in policy.versions.filter(number__in=[a, b])}
    if a not in versions or b not in versions:
        return []
    left = json.dumps(versions[a], indent=2, sort_keys=True).splitlines()
    right = json.dumps(versions[b], indent=2, sort_keys=True).splitlines()
    out = []
    for line in difflib.unified_diff(left, right, f"v{a}", f"v{b}", lineterm="", n=3):
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        out.append((kind, line))
    return out


def _number(raw: str | None, default: int) -> int:
    return int(raw) if raw and raw.isdigit() else default


def policy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(Policy.objects.listing(), pk=pk)
    versions = list(policy.versions.all())
    a = _number(request.GET.get("a"), max(policy.version - 1, 1))
    b = _number(request.GET.get("b"), policy.version)
    deployments = list(
        policy.deployments.filter(removed_at__isnull=True)
        .select_related("group", "policy")
        .prefetch_related("jobs")
        .order_by("group__name")
    )
    standings = {s.deployment.pk: s for s in standing.standings(deployments)}
    for d in deployments:
        d.standing = standings.get(d.pk)
        if d.standing:
            # The rows come worst first: the ones to act on come before the cap.
            show_rows(d.standing, d.standing.rows, ROW_LIMIT)
        d.live_jobs = [j for j in d.jobs.all() if j.deleted_at is None]
    job_ids = [j.pk for d in policy.deployments.prefetch_related("jobs") for j in d.jobs.all()]
    executions = (
        JobExecution.objects.filter(job_id__in=job_ids).select_related("job").order_by("-pk")[:25]
    )
    now = timezone.now()
    exemptions = list(policy.exemptions.select_related("server")[:100])
    for e in exemptions:
        e.active = e.revoked_at is None and e.expires_at > now
    group_ids = [d.group_id for d in deployments]
    exempt_servers = Server.objects.alive().filter(groups__in=group_ids).distinct().order_by("name")
    context = {
        "policy": policy,
        "versions": versions,
        "a": a,
        "b": b,
        "diff": _diff(policy, a, b) if a != b else [],
        "sql": tsql.preview(policy.policy_type, policy.latest().configuration, now),
        "deployments": deployments,
        "groups": ServerGroup.objects.order_by("name"),
        "deployed_group_ids": group_ids,
        "executions": executions,
        "exemptions": exemptions,
        "exempt_servers": exempt_servers,
        "exempt_form": forms.ExemptionForm(
            servers=exempt_servers, initial={"expires_on": (now + dt.timedelta(days=30)).date()}
        ),
        "judged": policy.policy_type in standing.JUDGED_TYPES,
    }
    return vary_on_htmx(render(request, "policies/detail.html", context))


@role_required(Role.OPERATOR)
def policy_deploy(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(Policy.objects.alive(), pk=pk)
    ids = [int(i) for i in request.POST.getlist("group_ids") if i.isdigit()]
    groups = list(ServerGroup.objects.filter(pk__in=ids))
    if not groups:
        messages.error(request, "Pick at least one group to deploy to.")
        return redirect("policies-detail", pk=pk)
    try:
        actions.deploy(policy, groups, acting_user=request.user)
    except ActionError as exc:
        messages.error(request, " ".join(m for msgs in exc.errors.values() for m in msgs))
    else:
        names = ", ".join(g.name for g in groups)
        messages.success(request, f"{policy.name} v{policy.version} deployed to {names}.")
    return redirect("policies-detail", pk=pk)


@role_required(Role.OPERATOR)
def policy_undeploy(request: HttpRequest, pk: int, group_id: int) -> HttpResponse:
    policy = get_object_or_404(Policy.objects.alive(), pk=pk)
    group = get_object_or_404(ServerGroup, pk=group_id)
    try:
        actions.undeploy(policy, group, acting_user=request.user)
    except ActionError as exc:
        messages.error(request, " ".join(m for msgs in exc.errors.values() for m in msgs))
    else:
        messages.success(request, f"{policy.name} removed from {group.name}; its jobs are gone.")
    return redirect("policies-detail", pk=pk)


@role_required(Role.OPERATOR)
def policy_run_now(request: HttpRequest, pk: int, deployment_id: int) -> HttpResponse:
    deployment = get_object_or_404(
        PolicyDeployment, pk=deployment_id, policy_id=pk, removed_at__isnull=True
    )
    job_id = request.POST.get("job_id", "")
    job = get_object_or_404(
        deployment.jobs.filter(deleted_at__isnull=True), pk=int(job_id) if job_id.isdigit() else 0
    )
    try:
        job_actions.run_now(job, acting_user=request.user)
    except ActionError as exc:
        messages.error(request, " ".join(m for msgs in exc.errors.values() for m in msgs))
    else:
        messages.success(request, f"{job.name}: run queued.")
    return redirect("policies-detail", pk=pk)


@role_required(Role.OPERATOR)
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(Policy.objects.alive(), pk=pk)
    actions.delete_policy(policy, acting_user=request.user)
    messages.success(request, f"Policy {policy.name} deleted; its jobs are gone.")
    return redirect("policies")


@role_required(Role.OPERATOR)
def exemption_grant(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(Policy.objects.alive(), pk=pk)
    form = forms.ExemptionForm(request.POST, servers=Server.objects.alive())
    problems = [m for msgs in form.errors.values() for m in msgs]
    if not problems:
        server, until = form.cleaned_data["server_id"], form.cleaned_data["expires_on"]
        data = {
            "server": server,
            "database": form.cleaned_data["database"],
            "reason": form.cleaned_data["reason"],
            "expires_at": dt.datetime.combine(until, dt.time(23, 59), tzinfo=dt.UTC),
        }
        try:
            actions.grant_exemption(policy, data, acting_user=request.user)
        except ActionError as exc:
            problems += [m for msgs in exc.errors.values() for m in msgs]
    if problems:
        messages.error(request, "Exemption not granted: " + " ".join(problems))
    else:
        what = data["database"] or "every database"
        messages.success(request, f"{server.name}: {what} exempt until {until:%Y-%m-%d}.")
    return redirect("policies-detail", pk=pk)


@role_required(Role.OPERATOR)
def exemption_revoke(request: HttpRequest, pk: int, exemption_id: int) -> HttpResponse:
    exemption = get_object_or_404(
        Exemption.objects.select_related("policy", "server"), pk=exemption_id, policy_id=pk
    )
    try:
        actions.revoke_exemption(exemption, acting_user=request.user)
    except ActionError as exc:
        messages.error(request, " ".join(m for msgs in exc.errors.values() for m in msgs))
    else:
        messages.success(request, "Exemption revoked.")
    return redirect("policies-detail", pk=pk)


# -- compliance across the fleet -------------------------------------------------------------------
COMPLIANCE_BAR = [
    Control("group", "f-group", "Group", any="Every group"),
    Control("compliance", "f-compliance", "Compliance", any="All"),
]


def compliance_view(request: HttpRequest) -> HttpResponse:
    """Every judged deployment, or one group's or one server's, with each database's verdict."""
    filterset = ComplianceFilter(request.GET, queryset=PolicyDeployment.objects.none())
    values = filterset.form.cleaned_data if filterset.is_valid() else {}
    group, server_id = values.get("group"), values.get("server")
    only = values.get("compliance") or ""
    server = Server.objects.filter(pk=server_id).first() if server_id else None
    if server:
        found = standing.for_server(server.pk)
    elif group:
        found = standing.for_group(group.pk)
    else:
        found = standing.standings(
            standing.live_deployments().order_by("policy__name", "group__name")
        )
    for s in found:
        rows = [r for r in s.rows if not only or r.verdict.status.value == only]
        show_rows(s, rows, FLEET_ROW_LIMIT)
    bar = filter_bar(
        filterset,
        COMPLIANCE_BAR[1:] if server else COMPLIANCE_BAR,
        form_id="compliance-filters",
        url=reverse("policies-compliance"),
        target="#compliance-results",
        # One server's page keeps the server while the verdict changes.
        hidden={"server": server.pk} if server else {},
    )
    context = {
        "standings": found,
        "summary": standing.fleet_card(),
        "server": server,
        "filter_bar": bar,
    }
    template = "policies/compliance.html"
    if wants_partial(request):
        template += "#results"
    return vary_on_htmx(render(request, template, context))


@role_required(Role.OPERATOR)
def bulk_deploy(request: HttpRequest) -> HttpResponse:
    """The server list's bulk "deploy policy": to every group of the ticked servers."""
    back = back_to(request, reverse("servers"), reverse("servers"))
    form = forms.BulkDeployForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return redirect(back)
    policy, servers = form.cleaned_data["policy"], form.cleaned_data["servers"]
    groups = list(ServerGroup.objects.filter(servers__in=servers).distinct().order_by("name"))
    if not groups:
        messages.error(request, "The selected servers are in no group: add them to one first.")
        return redirect(back)
    try:
        actions.deploy(policy, groups, acting_user=request.user)
    except ActionError as exc:
        messages.error(request, " ".join(m for msgs in exc.errors.values() for m in msgs))
        return redirect(back)
    names = ", ".join(g.name for g in groups)
    messages.success(request, f"{policy.name} v{policy.version} deployed to {names}.")
    return redirect(back)

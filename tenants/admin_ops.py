"""Tenant operations in the platform admin: move a tenant (with its progress page).

Kept apart from admin.py, which only wires these views into the Tenant admin's URLs."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from dbtools.pages import vary_on_htmx, wants_partial
from dbtools.tasks import enqueue
from tenants import move as mover
from tenants.models import Tenant, TenantMove
from tenants.pgadmin import Endpoint, EndpointError

LIVE_SECONDS = 2


def _valid_url(value: str) -> None:
    try:
        Endpoint.from_url(value)
    except EndpointError as exc:
        raise forms.ValidationError(str(exc)) from exc


class MoveForm(forms.Form):
    target_url = forms.CharField(
        label="Target server",
        max_length=500,
        validators=[_valid_url],
        widget=forms.TextInput(attrs={"autocomplete": "off", "size": 60, "spellcheck": "false"}),
        help_text="postgresql://admin:password@host:port/postgres — a superuser for logical "
        "replication; CREATEROLE and CREATEDB are enough for a dump and restore.",
    )
    source_admin_url = forms.CharField(
        label="Source administrator",
        max_length=500,
        required=False,
        validators=[_valid_url],
        widget=forms.TextInput(attrs={"autocomplete": "off", "size": 60, "spellcheck": "false"}),
        help_text="An administrator of the tenant's current server. Leave empty when the tenant "
        "lives on the system database's server.",
    )
    method = forms.ChoiceField(
        choices=[
            ("auto", "Automatic: logical replication when possible"),
            ("logical", "Logical replication only"),
            ("dump", "Dump and restore (writes frozen for the whole copy)"),
        ],
        initial="auto",
    )
    keep_source = forms.BooleanField(
        label="Keep the old copy (locked) on the source", required=False
    )


def _context(model_admin: admin.ModelAdmin, request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {**model_admin.admin_site.each_context(request), "opts": Tenant._meta, **extra}


def move_view(model_admin: admin.ModelAdmin, request: HttpRequest, slug: str) -> HttpResponse:
    tenant = get_object_or_404(Tenant, slug=slug)
    form = MoveForm(request.POST or None)
    preflight = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                move, preflight = mover.start(
                    tenant,
                    data["target_url"],
                    acting_user=request.user,
                    source_admin_url=data["source_admin_url"] or None,
                    method=data["method"],
                    keep_source=data["keep_source"],
                )
            except EndpointError as exc:
                form.add_error("source_admin_url", str(exc))
            else:
                if move is not None:
                    enqueue(
                        "tenants.move.run_task",
                        move.pk,
                        kind="routine",
                        task_name=f"move tenant {tenant.slug}",
                    )
                    return redirect("admin:tenants_tenant_move_progress", tenant.slug, move.pk)
        status = 400
    context = _context(
        model_admin,
        request,
        title=f"Move {tenant.name}",
        tenant=tenant,
        form=form,
        preflight=preflight,
        moves=TenantMove.objects.filter(tenant=tenant)[:10],
    )
    return TemplateResponse(request, "admin/tenants/tenant/move.html", context, status=status)


def progress_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, slug: str, move_id: int
) -> HttpResponse:
    move = get_object_or_404(
        TenantMove.objects.select_related("tenant"), pk=move_id, tenant__slug=slug
    )
    context = _context(
        model_admin,
        request,
        title=f"Move of {move.tenant.name}",
        move=move,
        tenant=move.tenant,
        stale=mover.is_stale(move),
        live_seconds=LIVE_SECONDS,
        verification=move.report.get("verification"),
        preflight=move.report.get("preflight", []),
    )
    template = "admin/tenants/tenant/move_progress.html"
    if wants_partial(request):
        template += "#progress"
    return vary_on_htmx(TemplateResponse(request, template, context))


def recover_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, slug: str, move_id: int
) -> HttpResponse:
    move = get_object_or_404(TenantMove, pk=move_id, tenant__slug=slug)
    if request.method != "POST":
        return HttpResponse(status=405)
    if mover.is_stale(move):
        mover.recover(move)
        model_admin.message_user(request, "The interrupted move was cleaned up.", messages.SUCCESS)
    else:
        model_admin.message_user(
            request, "The move is still running; nothing was changed.", messages.WARNING
        )
    return redirect("admin:tenants_tenant_move_progress", slug, move.pk)


def urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    site = model_admin.admin_site

    def view(fn: Any) -> Any:
        def wrapped(request: HttpRequest, **kw: Any) -> HttpResponse:
            if not request.user.is_superuser:
                return HttpResponse("Only platform administrators operate on tenants.", status=403)
            return fn(model_admin, request, **kw)

        return site.admin_view(wrapped)

    return [
        path("<slug:slug>/move/", view(move_view), name="tenants_tenant_move"),
        path(
            "<slug:slug>/move/<int:move_id>/",
            view(progress_view),
            name="tenants_tenant_move_progress",
        ),
        path(
            "<slug:slug>/move/<int:move_id>/recover/",
            view(recover_view),
            name="tenants_tenant_move_recover",
        ),
    ]

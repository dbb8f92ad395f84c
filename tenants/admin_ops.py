"""Tenant operations in the platform admin: overview, move (with its progress page), backups
and purge.

Kept apart from admin.py, which only wires these views into the Tenant admin's URLs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog
from django import forms
from django.contrib import admin, messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from dbtools import tenancy
from dbtools.pages import vary_on_htmx, wants_partial
from dbtools.tasks import enqueue
from tenants import move as mover
from tenants import overview
from tenants.models import Tenant, TenantBackup, TenantMove
from tenants.pgadmin import Endpoint, EndpointError, drop_tenant_database

log = structlog.get_logger(__name__)

LIVE_SECONDS = 2
# Column heads of the overview and backups tables (`_thead.html`); the empty row spans them.
OVERVIEW_COLUMNS = [
    {"title": title}
    for title in (
        "Tenant",
        "Status",
        "PostgreSQL server",
        "Size",
        "Users",
        "Servers",
        "Last collection",
        "Active alerts",
        "Last activity",
        "Background work",
        "Last backup",
        "Restore test",
        "Actions",
    )
]
BACKUP_COLUMNS = [
    {"title": title}
    for title in ("Tenant", "Taken", "Age", "Size", "Kind", "Restore test", "Actions")
]


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
    verify_before_switch = forms.BooleanField(
        label="Compare checksums while writes are frozen",
        required=False,
        help_text="Safer, longer freeze: a difference rolls the move back. Otherwise the "
        "checksums are compared right after the switch against the cut-over snapshot.",
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
                    verify_before_switch=data["verify_before_switch"],
                )
            except EndpointError as exc:
                form.add_error("source_admin_url", str(exc))
            else:
                if move is not None:
                    # The worker that picks the task up claims the move as its own process.
                    TenantMove.objects.filter(pk=move.pk).update(pid=None, hostname="")
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
        path("overview/", view(overview_view), name="tenants_tenant_overview"),
        path("<slug:slug>/purge/", view(purge_view), name="tenants_tenant_purge"),
        path("backups/", view(backups_view), name="tenants_tenant_backups"),
        path(
            "backups/<int:pk>/download/", view(download_view), name="tenants_tenant_backup_download"
        ),
        path("backups/<int:pk>/test/", view(test_restore_view), name="tenants_tenant_backup_test"),
        path("backups/<int:pk>/restore/", view(restore_view), name="tenants_tenant_backup_restore"),
        path("<slug:slug>/backup/", view(backup_now_view), name="tenants_tenant_backup_now"),
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


# --- backups ---------------------------------------------------------------------------------


def backups_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    backups = TenantBackup.objects.select_related("tenant").order_by("-created_at")
    slug = request.GET.get("tenant", "")
    if slug:
        backups = backups.filter(tenant__slug=slug)
    context = _context(
        model_admin,
        request,
        title="Tenant backups",
        backups=backups[:200],
        columns=BACKUP_COLUMNS,
        slug=slug,
        now=timezone.now(),
    )
    return TemplateResponse(request, "admin/tenants/tenant/backups.html", context)


def backup_now_view(model_admin: admin.ModelAdmin, request: HttpRequest, slug: str) -> HttpResponse:
    tenant = get_object_or_404(Tenant.objects.exclude(status=Tenant.Status.DELETED), slug=slug)
    if request.method != "POST":
        return HttpResponse(status=405)
    enqueue(
        "tenants.backup.backup_task",
        tenant.pk,
        request.user.pk,
        kind="routine",
        task_name=f"back up tenant {tenant.slug}",
    )
    model_admin.message_user(
        request, f"Backup of {tenant.name} queued; its restore test follows.", messages.SUCCESS
    )
    return redirect(f"{reverse('admin:tenants_tenant_backups')}?tenant={tenant.slug}")


def download_view(model_admin: admin.ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    made = get_object_or_404(TenantBackup, pk=pk)
    path = Path(made.path)
    if not path.exists():
        raise Http404("The backup file is gone.")
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


def test_restore_view(model_admin: admin.ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    made = get_object_or_404(TenantBackup.objects.select_related("tenant"), pk=pk)
    if request.method != "POST":
        return HttpResponse(status=405)
    enqueue(
        "tenants.backup.restore_test_task",
        made.pk,
        kind="routine",
        task_name=f"restore test of backup {made.pk}",
    )
    model_admin.message_user(request, "Restore test queued.", messages.SUCCESS)
    return redirect(f"{reverse('admin:tenants_tenant_backups')}?tenant={made.tenant.slug}")


def restore_view(model_admin: admin.ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    made = get_object_or_404(TenantBackup.objects.select_related("tenant"), pk=pk)
    tenant = made.tenant
    error = ""
    status = 200
    if request.method == "POST":
        if request.POST.get("confirm_slug", "").strip() == tenant.slug:
            enqueue(
                "tenants.backup.restore_task",
                made.pk,
                request.user.pk,
                kind="routine",
                task_name=f"restore tenant {tenant.slug}",
            )
            model_admin.message_user(
                request,
                f"Restore of {tenant.name} from {Path(made.path).name} queued.",
                messages.SUCCESS,
            )
            return redirect(f"{reverse('admin:tenants_tenant_backups')}?tenant={tenant.slug}")
        error = f"Type {tenant.slug} to confirm; nothing was changed."
        status = 400
    context = _context(
        model_admin,
        request,
        title=f"Restore {tenant.name}?",
        backup=made,
        tenant=tenant,
        error=error,
    )
    return TemplateResponse(request, "admin/tenants/tenant/restore.html", context, status=status)


# --- overview and purge ----------------------------------------------------------------------


def overview_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    include_deleted = request.GET.get("deleted") == "1"
    context = _context(
        model_admin,
        request,
        title="Tenants overview",
        rows=overview.rows(include_deleted),
        columns=OVERVIEW_COLUMNS,
        include_deleted=include_deleted,
    )
    return TemplateResponse(request, "admin/tenants/tenant/overview.html", context)


def purge_view(model_admin: admin.ModelAdmin, request: HttpRequest, slug: str) -> HttpResponse:
    """Drop a deleted tenant's database and role for good, after its slug is typed."""
    tenant = get_object_or_404(Tenant, slug=slug, status=Tenant.Status.DELETED)
    error = ""
    status = 200
    if request.method == "POST":
        if request.POST.get("confirm_slug", "").strip() != tenant.slug:
            error, status = f"Type {tenant.slug} to confirm; nothing was changed.", 400
        else:
            try:
                purge_tenant(tenant, acting_user=request.user)
            except Exception as exc:
                error, status = f"Purge failed: {exc}", 400
            else:
                model_admin.message_user(
                    request, f"{tenant.name}: database, role and backups purged.", messages.SUCCESS
                )
                return redirect(f"{reverse('admin:tenants_tenant_overview')}?deleted=1")
    context = _context(
        model_admin, request, title=f"Purge {tenant.name}?", tenant=tenant, error=error
    )
    return TemplateResponse(request, "admin/tenants/tenant/purge.html", context, status=status)


def purge_tenant(tenant: Tenant, *, acting_user: Any = None) -> None:
    """The explicit end of a soft-deleted tenant: its database, role, backups and row go."""
    admin_ep = Endpoint.system()
    if not admin_ep.same_server(Endpoint.of_tenant(tenant)):
        raise EndpointError(
            f"the tenant's database is on {tenant.db_host}:{tenant.db_port}; purge it there "
            "(this page holds no administrator login for that server)"
        )
    tenancy.unregister(tenant.slug)
    drop_tenant_database(admin_ep, tenant.db_user, tenant.db_name)
    for made in tenant.backups.all():
        for f in (Path(made.path), Path(f"{made.path}.json")):
            f.unlink(missing_ok=True)
    log.info("tenant.purged", slug=tenant.slug, by=getattr(acting_user, "pk", None))
    tenant.delete()

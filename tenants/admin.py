"""Tenant Management in Django admin at /admin/tenants/: superusers only."""

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from tenants import admin_ops, provisioning
from tenants.forms import TenantForm
from tenants.models import Membership, Tenant

ACTIONS: dict[str, tuple[str, Callable[..., Tenant]]] = {
    "suspend": ("Suspend", provisioning.suspend_tenant),
    "activate": ("Activate", provisioning.activate_tenant),
    "delete": ("Delete", provisioning.delete_tenant),
}


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class StatusFilter(admin.SimpleListFilter):
    """Deleted tenants are hidden unless asked for: they are history, not work."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("all", "All, deleted too"), *Tenant.Status.choices]

    def choices(self, changelist: Any) -> Any:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Not deleted",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is None:
            return queryset.exclude(status=Tenant.Status.DELETED)
        if value == "all":
            return queryset
        return queryset.filter(status=value)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name_cell", "slug", "status_badge", "created_at", "row_actions"]
    list_display_links = ["name_cell"]
    list_filter = [StatusFilter]
    search_fields = ["name", "slug"]
    readonly_fields = [
        "slug",
        "status",
        "db_name",
        "db_user",
        "db_host",
        "db_port",
        "created_at",
        "updated_at",
    ]
    fields = ["name", *readonly_fields]
    inlines = [MembershipInline]
    actions = ["suspend_selected", "activate_selected", "delete_selected_tenants"]

    def has_delete_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        return False  # deletion is the soft delete action, never a DROP from the admin

    @admin.display(description="Name", ordering="name")
    def name_cell(self, obj: Tenant) -> str:
        return format_html('<span class="truncate" title="{}">{}</span>', obj.name, obj.name)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Tenant) -> str:
        return format_html('<span class="badge badge-{}">{}</span>', obj.status, obj.status)

    @admin.display(description="Actions")
    def row_actions(self, obj: Tenant) -> str:
        if obj.status == Tenant.Status.DELETED:
            return "—"
        toggle = "activate" if obj.status == Tenant.Status.SUSPENDED else "suspend"
        return format_html(
            '<a class="button" href="{}">{}</a> <a class="button" href="{}">Move</a> '
            '<a class="button danger" href="{}">Delete</a>',
            reverse("admin:tenants_tenant_lifecycle", args=[obj.slug, toggle]),
            ACTIONS[toggle][0],
            reverse("admin:tenants_tenant_move", args=[obj.slug]),
            reverse("admin:tenants_tenant_lifecycle", args=[obj.slug, "delete"]),
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<slug:slug>/lifecycle/<str:op>/",
                self.admin_site.admin_view(self.lifecycle_view),
                name="tenants_tenant_lifecycle",
            ),
            *admin_ops.urls(self),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None):  # noqa: ANN201
        if not self.has_add_permission(request):
            return HttpResponse(status=403)
        form = TenantForm(request.POST or None)
        status = 200
        if request.method == "POST":
            if form.is_valid():
                try:
                    tenant = provisioning.create_tenant(
                        form.cleaned_data["slug"],
                        form.cleaned_data["name"],
                        acting_user=request.user,
                    )
                except provisioning.CREATE_ERRORS as exc:
                    errors, _status = provisioning.why_not_created(exc)
                    for key, messages_ in errors.items():
                        form.add_error(key if key in form.fields else None, messages_)
                else:
                    self.message_user(
                        request,
                        f"Tenant “{tenant.name}” created with its database.",
                        messages.SUCCESS,
                    )
                    return redirect("admin:tenants_tenant_changelist")
            status = 400
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Create tenant",
            "form": form,
        }
        return TemplateResponse(request, "admin/tenants/tenant/add.html", context, status=status)

    def lifecycle_view(self, request: HttpRequest, slug: str, op: str) -> HttpResponse:
        tenant = get_object_or_404(Tenant, slug=slug)
        if op not in ACTIONS:
            return HttpResponse(status=404)
        if request.method == "POST":
            self._apply(request, op, [tenant])
            return redirect("admin:tenants_tenant_changelist")
        return self._confirm(request, op, [tenant], single=True)

    def _apply(self, request: HttpRequest, op: str, tenants: list[Tenant]) -> None:
        label, fn = ACTIONS[op]
        for tenant in tenants:
            try:
                fn(tenant, acting_user=request.user)
                self.message_user(request, f"{label}: {tenant.name} done.", messages.SUCCESS)
            except Exception as exc:
                self.message_user(request, f"{label} {tenant.name} failed: {exc}", messages.ERROR)

    def _confirm(
        self, request: HttpRequest, op: str, tenants: list[Tenant], single: bool = False
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{ACTIONS[op][0]} tenants?",
            "op": op,
            "label": ACTIONS[op][0],
            "tenants": tenants,
            "single": single,
            "action_name": f"{op}_selected" if op != "delete" else "delete_selected_tenants",
        }
        return render(request, "admin/tenants/tenant/confirm.html", context)

    def _bulk(self, request: HttpRequest, queryset: QuerySet[Tenant], op: str):
        tenants = list(queryset)
        if request.POST.get("confirm") == "yes":
            self._apply(request, op, tenants)
            return None
        return self._confirm(request, op, tenants)

    @admin.action(description="Suspend selected tenants")
    def suspend_selected(self, request: HttpRequest, queryset: QuerySet[Tenant]):  # noqa: ANN201
        return self._bulk(request, queryset, "suspend")

    @admin.action(description="Activate selected tenants")
    def activate_selected(self, request: HttpRequest, queryset: QuerySet[Tenant]):  # noqa: ANN201
        return self._bulk(request, queryset, "activate")

    @admin.action(description="Delete selected tenants (soft delete)")
    def delete_selected_tenants(self, request: HttpRequest, queryset: QuerySet[Tenant]):  # noqa: ANN201
        return self._bulk(request, queryset, "delete")

"""The tenant selector, and the tenant's Users page where tenant admins manage members and roles."""

from urllib.parse import urlsplit

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from dbtools.decorators import role_required
from dbtools.roles import request_has_role
from tenants import access, actions
from tenants.forms import AddMemberForm, RoleForm
from tenants.middleware import LAST_TENANT_COOKIE, SESSION_KEY
from tenants.models import Membership, Role


def _members(request: HttpRequest):
    return (
        Membership.objects.filter(tenant=request.tenant)
        .select_related("user")
        .order_by("user__username")
    )


def users(
    request: HttpRequest, form: AddMemberForm | None = None, status: int = 200
) -> HttpResponse:
    columns = [{"title": "User"}, {"title": "Email"}, {"title": "Role"}]
    if request_has_role(request, Role.ADMIN):
        columns.append({"title": "Actions", "hidden": True})  # the Remove buttons
    context = {
        "members": _members(request),
        "form": form or AddMemberForm(),
        "roles": Role.choices,
        "columns": columns,  # the empty row spans them all
    }
    return render(request, "tenants/users.html", context, status=status)


@role_required(Role.ADMIN)
def add_user(request: HttpRequest) -> HttpResponse:
    form = AddMemberForm(request.POST)
    if form.is_valid():
        try:
            actions.add_member(
                request.tenant,
                form.cleaned_data["username"],
                form.cleaned_data["role"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"] or None,
                acting_user=request.user,
            )
        except actions.MembershipError as exc:
            form.add_error("username", str(exc))
        else:
            messages.success(request, f"{form.cleaned_data['username']} added.")
            return redirect("users")
    return users(request, form, status=400)


@role_required(Role.ADMIN)
def change_role(request: HttpRequest, member_id: int) -> HttpResponse:
    member = get_object_or_404(_members(request), pk=member_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
        return redirect("users")
    try:
        actions.change_role(member, form.cleaned_data["role"], acting_user=request.user)
        messages.success(request, f"{member.user.username} is now {member.get_role_display()}.")
    except actions.MembershipError as exc:
        messages.error(request, str(exc))
    return redirect("users")


@role_required(Role.ADMIN)
def remove_user(request: HttpRequest, member_id: int) -> HttpResponse:
    member = get_object_or_404(_members(request), pk=member_id)
    try:
        actions.remove_member(member, acting_user=request.user)
        messages.success(request, f"{member.user.username} removed from this tenant.")
    except actions.MembershipError as exc:
        messages.error(request, str(exc))
    return redirect("users")


@require_POST
def select_tenant(request: HttpRequest) -> HttpResponse:
    slug = request.POST.get("tenant", "")
    if access.tenants_for(request.user).filter(slug=slug).exists():
        request.session[SESSION_KEY] = slug
    nxt = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(nxt, {request.get_host()}, request.is_secure()):
        nxt = "/"
    # The same section of the new tenant, at its index: a server, a group or a filter of the
    # old tenant means nothing (or something else) in the new one.
    section = urlsplit(nxt).path.strip("/").split("/")[0]
    response = HttpResponseRedirect(f"/{section}/" if section else "/")
    if request.session.get(SESSION_KEY) == slug:
        response.set_cookie(
            LAST_TENANT_COOKIE,
            slug,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )
    return response

"""The tenant's Users page (FR28): tenant admins manage members and roles."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from dbtools.decorators import role_required
from tenants import actions
from tenants.forms import AddMemberForm, RoleForm
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
    context = {"members": _members(request), "form": form or AddMemberForm(), "roles": Role.choices}
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
                by=request.user,
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
        actions.change_role(member, form.cleaned_data["role"], by=request.user)
        messages.success(request, f"{member.user.username} is now {member.get_role_display()}.")
    except actions.MembershipError as exc:
        messages.error(request, str(exc))
    return redirect("users")


@role_required(Role.ADMIN)
def remove_user(request: HttpRequest, member_id: int) -> HttpResponse:
    member = get_object_or_404(_members(request), pk=member_id)
    try:
        actions.remove_member(member, by=request.user)
        messages.success(request, f"{member.user.username} removed from this tenant.")
    except actions.MembershipError as exc:
        messages.error(request, str(exc))
    return redirect("users")

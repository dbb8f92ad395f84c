from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from dbtools.roles import Role, request_has_role

View = Callable[..., HttpResponse]


def refusal(request: HttpRequest, role: Role) -> HttpResponse | None:
    """The "Not allowed" page when the request's user lacks `role`, else None; for a view that
    checks the role on some methods only (a form shown to all, saved by operators)."""
    if request_has_role(request, role):
        return None
    context = {"title": "Not allowed", "message": f"This needs the {role} role."}
    return render(request, "error.html", context, status=403)


def needs_role(role: Role) -> Callable[[View], View]:
    """A page that needs at least `role` in the current tenant (a form to change something):
    others get the "Not allowed" page."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return refusal(request, role) or view(request, *args, **kwargs)

        return wrapped

    return decorate


def role_required(role: Role) -> Callable[[View], View]:
    """A page action (always POST) that needs at least `role` in the current tenant."""

    def decorate(view: View) -> View:
        return require_POST(needs_role(role)(view))

    return decorate

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from dbtools.roles import Role, has_role


def role_required(
    role: Role,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A page action (always POST) that needs at least `role` in the current tenant."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @require_POST
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_role(getattr(request, "tenant_role", None), role):
                return render(
                    request,
                    "error.html",
                    {"title": "Not allowed", "message": f"This needs the {role} role."},
                    status=403,
                )
            return view(request, *args, **kwargs)

        return wrapped

    return decorate

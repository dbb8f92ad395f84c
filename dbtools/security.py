"""Brute-force protection for every way in: the login pages, the admin login and API tokens.

django-axes counts failed logins per account and per client address (each on its own) and locks
either out for a cool-off period. Pages and the admin go through `django.contrib.auth`, which
axes watches; API tokens are looked up without `authenticate()`, so the token authentication
here reports its failures to axes itself and honours the same lockouts.
"""

from __future__ import annotations

from typing import Any

import structlog
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.request import Request

log = structlog.get_logger("dbtools.security")

LOCKOUT_MESSAGE = (
    "Too many failed logins for this account or from this address. Try again in {minutes} minutes."
)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: behind DBTOOLS_PROXY_COUNT reverse proxies, the entry they added to
    X-Forwarded-For (the right-most ones); anything further left is what the client claimed."""
    count = settings.DBTOOLS_PROXY_COUNT
    if count:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= count:
            return hops[-count]
    return request.META.get("REMOTE_ADDR")


def lockout_minutes(request: HttpRequest | None = None) -> int:
    cool_off = get_cool_off(request)
    return max(1, round(cool_off.total_seconds() / 60)) if cool_off else 0


def lockout_message(request: HttpRequest | None = None) -> str:
    return LOCKOUT_MESSAGE.format(minutes=lockout_minutes(request))


def log_login_failure(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kw: Any
) -> None:
    """One structured event per failed login, whichever way it came in."""
    log.warning(
        "login_failed",
        username=credentials.get("username"),
        ip=client_ip(request) if request is not None else None,
        path=getattr(request, "path", None),
        locked_out=bool(getattr(request, "axes_locked_out", False)),
    )


class ThrottledTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, refused with 429 while the client is locked out, and every
    wrong key counted as a failed login from that address."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header.split(" ", 1)[0].lower() != self.keyword.lower():
            return None  # no token offered: other authentication classes may apply
        django_request = request._request
        # A stand-in account name per key prefix: axes then counts wrong keys by address (its
        # "username" lockout would otherwise lump every caller without a name together).
        key = header.split(" ", 1)[1].strip() if " " in header else ""
        credentials = {"username": f"api-token:{key[:8]}"}
        if not AxesProxyHandler.is_allowed(django_request, credentials):
            raise exceptions.Throttled(
                wait=lockout_minutes(django_request) * 60, detail=lockout_message(django_request)
            )
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            user_login_failed.send(
                sender=type(self), credentials=credentials, request=django_request
            )
            if getattr(django_request, "axes_locked_out", False):
                raise exceptions.Throttled(
                    wait=lockout_minutes(django_request) * 60,
                    detail=lockout_message(django_request),
                ) from None
            raise


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """What a locked-out client sees: the API's JSON error shape, or a page saying how long."""
    message = lockout_message(request)
    retry_after = str(lockout_minutes(request) * 60)
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": message}, status=429)
    else:
        response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = retry_after
    return response

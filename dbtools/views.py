"""System endpoints and the pages of the app shell."""

from django.contrib.auth.decorators import login_not_required
from django.db import connections
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from dbtools.middleware import SESSION_KEY
from tenants import access

_ApiHealth = inline_serializer(
    "ApiHealth", {"status": serializers.CharField(), "details": serializers.DictField()}
)


@extend_schema(
    responses={200: _ApiHealth, 503: _ApiHealth},
    description="Liveness of the web tier and its system database (503 when unreachable).",
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
@login_not_required
def health(request: Request) -> Response:
    try:
        with connections["default"].cursor() as cur:
            cur.execute("SELECT 1")
        db = {"status": "healthy"}
    except Exception as exc:  # any failure means: not healthy
        db = {"status": "unhealthy", "error": exc.__class__.__name__}
    healthy = db["status"] == "healthy"
    return Response(
        {"status": "healthy" if healthy else "unhealthy", "details": {"system_database": db}},
        status=200 if healthy else 503,
    )


@require_POST
def select_tenant(request: HttpRequest) -> HttpResponse:
    slug = request.POST.get("tenant", "")
    if access.tenants_for(request.user).filter(slug=slug).exists():
        request.session[SESSION_KEY] = slug
    nxt = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(nxt, {request.get_host()}, request.is_secure()):
        nxt = "/"
    return HttpResponseRedirect(nxt)


def placeholder(request: HttpRequest, section: str) -> HttpResponse:
    return render(request, "placeholder.html", {"section": section})


# The API answers in JSON even when Django itself refuses a request (no URL matches, a body
# the request parser gives up on, an unexpected error); pages keep Django's HTML pages.
def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Internal error; it has been logged."}, status=500)
    return defaults.server_error(request)

"""System endpoints and the pages of the app shell."""

from django.contrib.auth.decorators import login_not_required
from django.db import connections
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from dbtools.middleware import SESSION_KEY
from tenants import access


@extend_schema(
    responses={
        200: inline_serializer(
            "ApiHealth", {"status": serializers.CharField(), "details": serializers.DictField()}
        )
    },
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

"""System endpoints and the pages of the app shell."""

from django.contrib.auth.decorators import login_not_required
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

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


def _error_page(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    """Error pages inside the app shell (navigation, tenant selector), never a bare page."""
    try:
        return render(request, "error.html", {"title": title, "message": message}, status=status)
    except Exception:  # the shell itself failed (the database is down): the bare minimum
        return HttpResponse(f"<h1>{title}</h1><p>{message}</p>", status=status)


# The API answers in JSON even when Django itself refuses a request (no URL matches, a body
# the request parser gives up on, an unexpected error); pages answer in the app shell.
def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return _error_page(request, 400, "Bad request", "DbTools could not understand this request.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page(request, 403, "Not allowed", "Your role does not allow this here.")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    message = (
        "Nothing here: it may have been deleted, or belong to another tenant than the one "
        "selected above."
    )
    return _error_page(request, 404, "Not found", message)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Internal error; it has been logged."}, status=500)
    message = "Something went wrong on our side; it has been logged. Try again in a moment."
    return _error_page(request, 500, "Server error", message)


def placeholder(request: HttpRequest, section: str) -> HttpResponse:
    return render(request, "placeholder.html", {"section": section})

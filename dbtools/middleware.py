"""Request logging: one line per request, with its id and (once known) its tenant."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse

log = structlog.get_logger("dbtools.request")


class RequestLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        structlog.contextvars.clear_contextvars()
        request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex[:16]
        structlog.contextvars.bind_contextvars(request_id=request_id, tenant=None)
        started = time.perf_counter()
        response = self.get_response(request)
        user = getattr(request, "user", None)
        log.info(
            "request",
            method=request.method,
            path=request.path,
            status=response.status_code,
            ms=round((time.perf_counter() - started) * 1000, 1),
            user=user.get_username() if user is not None and user.is_authenticated else None,
        )
        response["X-Request-ID"] = request_id
        return response

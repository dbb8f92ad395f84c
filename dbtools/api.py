"""Shared API plumbing: pagination and the error format."""

from typing import Any

import structlog
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from dbtools.errors import ActionError

log = structlog.get_logger(__name__)


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ActionError):
        return Response(exc.errors, status=400)
    response = drf_exception_handler(exc, context)
    if response is None:
        # Unexpected: log it with its traceback, answer without one.
        log.exception("api.unhandled_error", error=str(exc))
        return Response({"detail": "Internal error; it has been logged."}, status=500)
    return response

"""Shared API plumbing: pagination, request parsing and the error format.

Whatever a client sends must end as a 4xx with a message it can act on, never a 500: the
parsers refuse bodies over Django's DATA_UPLOAD_MAX_MEMORY_SIZE (413), JSON nested deeper than
Python can parse (400) and strings that cannot be encoded as UTF-8 (400, e.g. a lone surrogate
`\\ud800`, which JSON allows but neither PostgreSQL nor our JSON responses can hold); the
exception handler turns Django's own request-size errors into the same answers."""

import json
from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework import parsers
from rest_framework.exceptions import APIException, ParseError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from dbtools.errors import ActionError

log = structlog.get_logger(__name__)


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class BodyTooLarge(APIException):
    status_code = 413
    default_code = "too_large"

    def __init__(self) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        super().__init__(f"Request body too large: at most {limit:,} bytes are accepted.")


def _too_many_fields() -> ParseError:
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    return ParseError(f"Too many fields in the request: at most {limit:,} are accepted.")


def _refuse_large_body(parser_context: dict[str, Any] | None) -> None:
    request = (parser_context or {}).get("request")
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if request is None or limit is None:
        return
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise BodyTooLarge()


class JSONParser(parsers.JSONParser):
    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        _refuse_large_body(parser_context)
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error: nested too deeply.") from exc
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ParseError(
                "JSON parse error: a string cannot be encoded as UTF-8 (lone surrogate)."
            ) from exc
        except RecursionError as exc:
            raise ParseError("JSON parse error: nested too deeply.") from exc
        return data


class _RefusesLargeBody:
    """Answers 413 from the declared length before the parser reads the body."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        _refuse_large_body(parser_context)
        return super().parse(stream, media_type, parser_context)  # type: ignore[misc]


class FormParser(_RefusesLargeBody, parsers.FormParser):
    pass


class MultiPartParser(_RefusesLargeBody, parsers.MultiPartParser):
    pass


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # Imported here: rest_framework.views reads the parser classes of this module as it loads.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, ActionError):
        return Response(exc.errors, status=400)
    if isinstance(exc, RequestDataTooBig):
        exc = BodyTooLarge()
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = _too_many_fields()
    elif isinstance(exc, RecursionError):
        exc = ParseError("Request nested too deeply.")
    response = drf_exception_handler(exc, context)
    if response is None:
        # Unexpected: log it with its traceback, answer without one.
        log.exception("api.unhandled_error", error=str(exc))
        return Response({"detail": "Internal error; it has been logged."}, status=500)
    return response

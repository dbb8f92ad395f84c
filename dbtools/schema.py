"""OpenAPI schema generation: the tenant header and the error answers, documented in one place."""

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from dbtools.tenancy import TENANT_HEADER


class TenantAutoSchema(AutoSchema):
    """Documents X-Tenant-Slug on every endpoint that needs it."""

    def get_override_parameters(self) -> list[Any]:
        params = list(super().get_override_parameters())
        if any(getattr(p, "needs_tenant_header", False) for p in self.view.get_permissions()):
            params.append(
                OpenApiParameter(
                    TENANT_HEADER,
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    required=True,
                    description="Slug of the tenant to work in.",
                )
            )
        return params


def strip_trailing_slashes(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """Our API routes accept an optional trailing slash; document them without it."""
    result["paths"] = {path.rstrip("/") or "/": item for path, item in result["paths"].items()}
    return result


ERROR_SCHEMA = {
    "type": "object",
    "description": "What went wrong, in `detail`.",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
# DRF's field errors: a list of messages per field, a dict per item of a list field, or a
# `detail` (with extra context such as a failed connection test) for the request as a whole.
FIELD_ERRORS_SCHEMA = {
    "type": "object",
    "description": "Messages per field (`detail` when the request as a whole is refused).",
    "additionalProperties": {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}},
            {"type": "object"},
        ]
    },
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
FIELD_ERRORS_REF = {"$ref": "#/components/schemas/FieldErrors"}
WRITE_METHODS = {"post", "put", "patch"}


def _answer(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _add_response(responses: dict, code: str, description: str, schema: dict) -> None:
    """Add an error answer, or widen one a view documents itself (e.g. a failed connection
    test as a 400) so that field errors are accepted there too."""
    if code not in responses:
        responses[code] = _answer(description, schema)
        return
    content = responses[code].setdefault("content", {}).setdefault("application/json", {})
    existing = content.get("schema")
    if existing and existing != schema:
        content["schema"] = {"anyOf": [existing, schema]}
    elif not existing:
        content["schema"] = schema


def document_errors(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """Every error an operation can answer, as one rule instead of a decorator on each view:
    400 (malformed request or field errors; also a missing X-Tenant-Slug), 401 (no or bad
    credentials), 403 (not a member, suspended tenant, role too low), 404 (unknown tenant or
    object), 413 (request body too large), 415 (body in a format not taken), 429 (too many
    requests)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["FieldErrors"] = FIELD_ERRORS_SCHEMA
    for path, item in result["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            params = operation.get("parameters", [])
            in_tenant = any(p.get("name") == TENANT_HEADER for p in params)
            paginated = any(p.get("name") == "page" and p.get("in") == "query" for p in params)
            responses = operation.setdefault("responses", {})
            _add_response(
                responses, "400", "Malformed request or invalid fields.", FIELD_ERRORS_REF
            )
            _add_response(responses, "401", "No credentials, or invalid ones.", ERROR_REF)
            _add_response(
                responses,
                "403",
                "Not allowed: not a member, tenant suspended, or the role cannot do this.",
                ERROR_REF,
            )
            if in_tenant or paginated or "{" in path:
                _add_response(responses, "404", "Unknown tenant, object or page.", ERROR_REF)
            if method in WRITE_METHODS:
                _add_response(responses, "413", "Request body too large.", ERROR_REF)
                _add_response(
                    responses,
                    "415",
                    "A body in a format the operation does not take (JSON, form or multipart).",
                    ERROR_REF,
                )
            _add_response(responses, "429", "Too many requests; retry later.", ERROR_REF)
    return result

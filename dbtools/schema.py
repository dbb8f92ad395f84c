"""OpenAPI schema generation: document X-Tenant-Slug on every endpoint that needs it."""

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from dbtools.permissions import TENANT_HEADER, TenantRolePermission


class TenantAutoSchema(AutoSchema):
    """Documents X-Tenant-Slug on every endpoint that needs it."""

    def get_override_parameters(self) -> list[Any]:
        params = list(super().get_override_parameters())
        if any(isinstance(p, TenantRolePermission) for p in self.view.get_permissions()):
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
    """Our API routes accept an optional trailing slash; document them as the PRD names them."""
    result["paths"] = {path.rstrip("/") or "/": item for path, item in result["paths"].items()}
    return result

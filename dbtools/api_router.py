"""The router every app's `api/urls.py` registers its viewsets on."""

from rest_framework.routers import DefaultRouter


def router() -> DefaultRouter:
    """Paths with or without a trailing slash (clients write both), and no browsable root."""
    api = DefaultRouter()
    api.trailing_slash = "/?"
    api.include_root_view = False
    return api

"""What every page view shares about HTMX requests."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers


def wants_partial(request: HttpRequest) -> bool:
    """True for a request that swaps a part of the page (a filter, a live refresh).

    In-app navigation (boosted links) and history restores are HTMX requests too, but they
    replace the whole page and need all of it."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def vary_on_htmx(response: HttpResponse) -> HttpResponse:
    """A part and the whole page share a URL: a cache must keep them apart."""
    patch_vary_headers(response, ["HX-Request", "HX-Boosted"])
    return response


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    part: str,
    status: int = 200,
    partial_allowed: bool = True,
) -> HttpResponse:
    """The whole page, or only its `{% partialdef part %}` for a request that swaps that part
    (`wants_partial`); either way the response varies on the HTMX headers.
    `partial_allowed=False` forces the whole page (an answer that must show more than the part,
    such as form errors next to the list)."""
    name = f"{template}#{part}" if partial_allowed and wants_partial(request) else template
    return vary_on_htmx(render(request, name, context, status=status))

"""What every page view shares about HTMX requests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
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


def by_method(
    get: Callable[..., HttpResponse], post: Callable[..., HttpResponse]
) -> Callable[..., HttpResponse]:
    """One URL, a page on GET and a (role-checked) action on POST."""

    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            return get(request, *args, **kwargs)
        if request.method == "POST":
            return post(request, *args, **kwargs)
        return HttpResponseNotAllowed(["GET", "POST"])

    return view


def query_without(request: HttpRequest, *drop: str) -> str:
    """The list's query string without its page number (nor the keys in `drop`): the start of
    a link that moves to another page or sort order and keeps the filters."""
    params = request.GET.copy()
    for key in ("page", *drop):
        params.pop(key, None)
    return params.urlencode()


def sort_headers(
    request: HttpRequest, columns: Sequence[tuple[str, str]], sortable: Sequence[str], ordering: str
) -> list[dict[str, Any]]:
    """The column heads of a sortable list: a sortable column links to its own order, and to
    the reverse when the list is already sorted by it (`aria-sort` says which way it is)."""
    query = query_without(request, "ordering")
    headers = []
    for key, title in columns:
        head: dict[str, Any] = {"title": title, "key": key}
        if key in sortable:
            head["dir"] = {key: "ascending", f"-{key}": "descending"}.get(ordering, "")
            nxt = f"-{key}" if ordering == key else key
            head["url"] = "?" + "&".join(filter(None, [query, f"ordering={nxt}"]))
        headers.append(head)
    return headers


def back_to(request: HttpRequest, prefix: str, fallback: str) -> str:
    """Where an action posted from a list returns: the form's `next` when it is a page of ours
    under `prefix` (never another site), else `fallback`."""
    from django.utils.http import url_has_allowed_host_and_scheme

    target = request.POST.get("next", "")
    allowed = url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
    if target and allowed and target.startswith(prefix):
        return target
    return fallback

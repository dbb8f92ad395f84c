"""Parts of a page that an app higher up provides: the dashboard's panels, the server page's
sections and header badges, the group page's sections.

The pages that show them belong to apps low in the import tree (the dashboard to monitoring,
the server and group pages to servers), while what they show (alerts, compliance, jobs) belongs
to apps above them. Each of those registers its parts here in its `AppConfig.ready()`, with a
template of its own and a function that builds that template's context with its own queries, so
the page's view stays thin and imports nothing above it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

# Where parts go. The object a part's context is built for: None on the dashboard, the Server on
# "server" and "server_header", the ServerGroup on "group".
DASHBOARD = "dashboard"
SERVER = "server"
SERVER_HEADER = "server_header"
GROUP = "group"
SERVER_LIST = "server_list"  # more controls in the server list's bulk bar
PLACES = (DASHBOARD, SERVER, SERVER_HEADER, GROUP, SERVER_LIST)


@dataclass(frozen=True)
class Section:
    key: str
    template: str
    context: Callable[[HttpRequest, Any], dict[str, Any]]
    order: int = 100  # lower first


@dataclass(frozen=True)
class Rendered:
    """A part ready for `{% include part.template with part=part.context %}`."""

    key: str
    template: str
    context: dict[str, Any]


_registry: dict[str, dict[str, Section]] = {place: {} for place in PLACES}


def register(place: str, section: Section) -> None:
    """Add (or replace, by key: `ready()` may run twice in tests) a part of a page."""
    if place not in _registry:
        raise ValueError(f"Unknown place {place!r}; one of {', '.join(PLACES)}")
    _registry[place][section.key] = section


def sections(place: str) -> list[Section]:
    return sorted(_registry[place].values(), key=lambda s: (s.order, s.key))


def build(place: str, request: HttpRequest, obj: Any = None) -> list[Rendered]:
    """Every part of `place`, each with its context computed for `obj`."""
    return [Rendered(s.key, s.template, s.context(request, obj)) for s in sections(place)]

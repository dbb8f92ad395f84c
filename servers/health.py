"""Server health as the servers pages, filters and API show it.

The values live here, with the servers. The monitoring app computes them (it owns the snapshots
and the thresholds) and registers itself as the source when it loads (`register_source`), so the
servers app shows health without importing monitoring: monitoring depends on servers, never the
other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models

if TYPE_CHECKING:
    from servers.models import Server


class Health(models.TextChoices):
    """Every health a server can show, in one place (filters, API, pages, icons)."""

    HEALTHY = "healthy", "Healthy"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"
    OFFLINE = "offline", "Offline"
    # DbTools itself did not collect (workers down or behind): says nothing about the instance.
    STALE = "stale", "Not collected"
    UNKNOWN = "unknown", "Unknown"


# Worst first: the order of health in lists, sorts and summaries.
ORDER = {
    Health.CRITICAL: 0,
    Health.OFFLINE: 1,
    Health.WARNING: 2,
    Health.STALE: 3,
    Health.UNKNOWN: 4,
    Health.HEALTHY: 5,
}
# Pages never show health by colour alone: each one has its icon (static/vendor/icons.svg).
ICONS = {
    Health.HEALTHY: "circle-check",
    Health.WARNING: "triangle-alert",
    Health.CRITICAL: "octagon-x",
    Health.OFFLINE: "server-off",
    Health.STALE: "clock-alert",
    Health.UNKNOWN: "circle-dashed",
}


@dataclass(frozen=True)
class HealthSource:
    """What computes health: every live server's (or those of `server_ids`), and what the
    server page's Health card shows for one server."""

    fleet_health: Callable[..., list[dict[str, Any]]]
    detail_context: Callable[[Server], dict[str, Any]]


_source: HealthSource | None = None


def register_source(source: HealthSource) -> None:
    global _source
    _source = source


def source() -> HealthSource:
    if _source is None:
        raise ImproperlyConfigured("No health source: the monitoring app is not installed.")
    return _source


def fleet_health(server_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """The health of every live server (or of `server_ids`), from the registered source."""
    return source().fleet_health(server_ids=server_ids)

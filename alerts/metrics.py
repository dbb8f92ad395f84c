"""What a rule can watch: every collected metric type, plus facts about collection itself."""

from __future__ import annotations

from monitoring.metric_types import METRIC_TYPES

SERVER_OFFLINE = "server_offline"
COLLECTION_STALE = "collection_stale_minutes"

# name -> (label, unit)
METRICS: dict[str, tuple[str, str]] = {
    **{name: (description, unit) for name, unit, description in METRIC_TYPES},
    SERVER_OFFLINE: ("Server offline (1 when DbTools cannot reach it)", ""),
    COLLECTION_STALE: ("Minutes since the last successful collection", "min"),
}


def choices() -> list[tuple[str, str]]:
    return [(name, label) for name, (label, _) in METRICS.items()]


def unit(name: str) -> str:
    return METRICS.get(name, ("", ""))[1]


def threshold_errors(metric: str, value: float | None, field: str) -> dict[str, list[str]]:
    """Every metric here is a count, a rate, a duration or a percentage: none is negative, so a
    threshold below zero (or a percentage above 100) could never be crossed as meant."""
    if value is None:
        return {}
    if value != value or value in (float("inf"), float("-inf")):
        return {field: ["Enter a finite number."]}
    if value < 0:
        return {field: ["Must be zero or more: this metric is never negative."]}
    if unit(metric) == "%" and value > 100:
        return {field: ["A percentage is at most 100."]}
    if metric == SERVER_OFFLINE and value not in (0, 1):
        return {field: ["Server offline is 1 (offline) or 0 (reachable)."]}
    return {}

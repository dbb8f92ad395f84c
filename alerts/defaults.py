"""Rules every new tenant starts with, and templates offered when writing a rule."""

from __future__ import annotations

from typing import Any

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "name": "High CPU",
        "metric": "cpu_percent",
        "operator": "gt",
        "threshold": 90,
        "recovery_threshold": 80,
        "severity": "critical",
        "aggregation": "avg",
        "window_minutes": 5,
        "quiet_during_maintenance": True,
        "description": "SQL Server's own CPU above 90 % on average over 5 minutes.",
    },
    {
        "name": "High memory",
        # Pressure on the memory SQL Server leaves to the OS, not the OS in-use figure, which
        # sits near 90 % on every healthy dedicated server (README, "Memory health").
        "metric": "memory_pressure_percent",
        "operator": "gt",
        "threshold": 90,
        "recovery_threshold": 85,
        "severity": "warning",
        "aggregation": "avg",
        "window_minutes": 5,
        "description": "Memory left to the OS nearly used up, or a low-memory signal, over 5 "
        "minutes.",
    },
    {
        "name": "Server offline",
        "metric": "server_offline",
        "operator": "eq",
        "threshold": 1,
        "severity": "critical",
        "pending_checks": 1,
        "resolve_checks": 1,
        "description": "DbTools cannot reach the server; its metric alerts are held meanwhile.",
    },
]

TEMPLATES: list[dict[str, Any]] = [
    *DEFAULT_RULES,
    {
        "name": "Connection spike",
        "metric": "connection_count",
        "operator": "gt",
        "threshold": 1000,
        "severity": "warning",
        "aggregation": "max",
        "window_minutes": 5,
    },
    {
        "name": "Low page life expectancy",
        "metric": "page_life_expectancy",
        "operator": "lt",
        "threshold": 300,
        "recovery_threshold": 600,
        "severity": "warning",
        "aggregation": "avg",
        "window_minutes": 15,
        "pending_checks": 3,
    },
    {
        "name": "High I/O latency",
        "metric": "write_latency_ms",
        "operator": "gt",
        "threshold": 50,
        "recovery_threshold": 20,
        "severity": "warning",
        "aggregation": "avg",
        "window_minutes": 10,
        "pending_checks": 3,
        "quiet_during_maintenance": True,
    },
    {
        "name": "Blocking",
        "metric": "blocked_requests",
        "operator": "gt",
        "threshold": 5,
        "severity": "warning",
        "aggregation": "min",
        "window_minutes": 5,
    },
    {
        "name": "Collection stale",
        "metric": "collection_stale_minutes",
        "operator": "gt",
        "threshold": 10,
        "severity": "warning",
    },
]

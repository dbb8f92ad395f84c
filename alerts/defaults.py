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
        "name": "Collection stale",
        "metric": "collection_stale_minutes",
        "operator": "gt",
        "threshold": 10,
        "severity": "warning",
    },
    # Space and Agent jobs are read every 5-15 minutes (DBTOOLS_SPACE_INTERVAL_SECONDS): their
    # windows are wide enough to hold a sample.
    {
        "name": "Volume almost full",
        "metric": "volume_free_min_percent",
        "operator": "lt",
        "threshold": 10,
        "recovery_threshold": 12,
        "severity": "critical",
        "aggregation": "min",
        "window_minutes": 20,
        "description": "A volume holding database files has less than 10 % free.",
    },
    {
        "name": "Transaction log almost full",
        "metric": "log_used_max_percent",
        "operator": "gt",
        "threshold": 90,
        "recovery_threshold": 80,
        "severity": "warning",
        "aggregation": "max",
        "window_minutes": 20,
    },
    {
        "name": "SQL Agent job failed",
        "metric": "agent_failed_jobs",
        "operator": "gt",
        "threshold": 0,
        "severity": "warning",
        "aggregation": "max",
        "window_minutes": 20,
    },
    {
        "name": "Availability group replica not healthy",
        "metric": "ag_unhealthy_replicas",
        "operator": "gt",
        "threshold": 0,
        "severity": "critical",
        "aggregation": "min",
        "window_minutes": 3,
    },
    {
        "name": "Availability group redo falling behind",
        "metric": "ag_redo_queue_kb",
        "operator": "gt",
        "threshold": 1048576,
        "severity": "warning",
        "aggregation": "avg",
        "window_minutes": 10,
    },
    {
        "name": "Long blocking",
        "metric": "longest_block_seconds",
        "operator": "gt",
        "threshold": 60,
        "severity": "warning",
        "aggregation": "max",
        "window_minutes": 5,
        "pending_checks": 2,
    },
]

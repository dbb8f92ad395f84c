"""Queueing background work on the right Django-Q2 cluster, by kind of work.

Three clusters, each with its own queue and workers, so no kind of work waits behind another:
"interactive" (a user is waiting: deploys, connection tests, run-now), "routine" (the main
cluster: schedules, retention and other long work) and "collect" (collector slots only). Call
sites name the kind, never a cluster.
"""

from __future__ import annotations

from typing import Any, Literal

from django.conf import settings
from django_q.tasks import async_task

Kind = Literal["interactive", "routine", "collect"]


def cluster_for(kind: Kind) -> str:
    if kind == "routine":
        return settings.Q_CLUSTER["name"]
    if kind not in settings.Q_CLUSTER.get("ALT_CLUSTERS", {}):
        raise ValueError(f"unknown kind of work: {kind!r}")
    return kind


def enqueue(func: str, *args: Any, kind: Kind = "interactive", **options: Any) -> str:
    """Queue `func(*args)` on the cluster for `kind`; options are Django-Q2's (task_name, group,
    hook...). Returns the task id."""
    return async_task(func, *args, cluster=cluster_for(kind), **options)

"""Background entry points of alerting.

`evaluate_written` runs on the collector's database thread after each batch it writes, for the
servers of that batch only, in the tenant's context (registered in alerts.apps). The others take
the tenant slug and set the tenant themselves.
"""

from __future__ import annotations

from typing import Any

import structlog

from dbtools import tenancy

log = structlog.get_logger(__name__)


def evaluate_written(server_ids: list[int]) -> dict[str, Any]:
    from alerts import evaluator, notify

    result = evaluator.evaluate(server_ids)
    # Delivery itself runs in the interactive cluster; here notifications are only planned.
    plan_needed, retry_needed = notify.pending_work()
    notified = notify.plan() if plan_needed else 0
    retried = notify.retry_due() if retry_needed else 0
    return {
        "fired": len(result.fired),
        "resolved": len(result.resolved),
        "notified": notified,
        "retried": retried,
    }


def evaluate_batch(tenant_slug: str, server_ids: list[int]) -> dict[str, Any]:
    """The same for one tenant, from a queued task (tasks queued before an upgrade)."""
    with tenancy.use_tenant_slug(tenant_slug):
        return evaluate_written(server_ids)

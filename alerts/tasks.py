"""Background entry points of alerting. Each takes the tenant slug and sets the tenant itself.

`evaluate_batch` runs in the routine cluster after each collection batch the collector writes,
for the servers of that batch only, so collection never waits for alerting.
"""

from __future__ import annotations

from typing import Any

import structlog

from dbtools import tenancy

log = structlog.get_logger(__name__)


def evaluate_batch(tenant_slug: str, server_ids: list[int]) -> dict[str, Any]:
    from alerts import evaluator, notify

    with tenancy.use_tenant_slug(tenant_slug):
        result = evaluator.evaluate(server_ids)
        # Delivery itself runs in the interactive cluster; here notifications are only planned.
        notified = notify.plan()
        retried = notify.retry_due()
    return {
        "fired": len(result.fired),
        "resolved": len(result.resolved),
        "notified": notified,
        "retried": retried,
    }

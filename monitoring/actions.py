"""Writes of collection settings: one function, which also records the activity log."""

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser

from core import activity, settings_store
from dbtools import tenancy
from engine import due
from monitoring.models import CollectionConfig
from servers.models import Server


def config_for(server: Server) -> CollectionConfig:
    """The server's collection settings; a server never configured gets the tenant's defaults,
    unsaved: reading (a viewer opening the page, a GET) never writes."""
    config = CollectionConfig.objects.filter(server=server).first()
    if config is None:
        interval = settings_store.get("collection_interval_seconds")
        config = CollectionConfig(server=server, interval_seconds=interval)
    return config


def save_config(
    config: CollectionConfig,
    changes: dict[str, Any],
    *,
    acting_user: AbstractBaseUser | None = None,
) -> CollectionConfig:
    """Apply changes; the collector picks them up on its next cycle."""
    diff = {
        k: {"from": getattr(config, k), "to": v}
        for k, v in changes.items()
        if getattr(config, k) != v
    }
    if diff:
        for key, change in diff.items():
            setattr(config, key, change["to"])
        with tenancy.atomic():
            config.save()
            activity.record(
                "server.collection_configured",
                "server",
                config.server_id,
                config.server.name,
                diff,
                acting_user,
            )
            due.mark_on_commit()  # a new interval or switched on: due time recomputed
    return config

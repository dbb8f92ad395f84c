"""Writes of collection settings: one function, which also records the activity log."""

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser

from core import activity, settings_store
from engine import due
from monitoring.models import CollectionConfig
from servers.models import Server


def config_for(server: Server) -> CollectionConfig:
    config, _ = CollectionConfig.objects.get_or_create(
        server=server,
        defaults={"interval_seconds": settings_store.get("collection_interval_seconds")},
    )
    return config


def save_config(
    config: CollectionConfig, changes: dict[str, Any], user: AbstractBaseUser | None = None
) -> CollectionConfig:
    """Apply changes; the collector picks them up on its next cycle."""
    diff = {k: {"from": getattr(config, k), "to": v} for k, v in changes.items()
            if getattr(config, k) != v}  # fmt: skip
    if diff:
        for key, change in diff.items():
            setattr(config, key, change["to"])
        config.save()
        due.mark_on_commit()  # a new interval or switched on: due time recomputed
        activity.record("server.collection_configured", "server", config.server_id,
                        config.server.name, diff, user)  # fmt: skip
    return config

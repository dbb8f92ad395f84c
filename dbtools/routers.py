"""Send tenant-app models to the current tenant's database; everything else to the system one."""

from typing import Any

from django.conf import settings

from dbtools import tenancy

SYSTEM_ALIAS = "default"


def is_tenant_app(app_label: str) -> bool:
    return app_label in settings.TENANT_APPS


def is_tenant_alias(alias: str) -> bool:
    return alias != SYSTEM_ALIAS


class TenantRouter:
    def _db_for(self, model: type, **hints: Any) -> str:
        if is_tenant_app(model._meta.app_label):
            # Raises NoTenantError when no tenant is set: never fall back to the system database.
            return tenancy.current().alias
        return SYSTEM_ALIAS

    db_for_read = _db_for
    db_for_write = _db_for

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # No relation may cross the system/tenant boundary (no foreign keys across databases).
        if is_tenant_app(obj1._meta.app_label) != is_tenant_app(obj2._meta.app_label):
            return False
        return None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool:
        return is_tenant_app(app_label) == is_tenant_alias(db)

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Model, QuerySet

from dbtools import crypto, routers, tenancy
from tenants.models import Tenant


def _reencrypt(queryset: QuerySet, field: str) -> int:
    done = 0
    for obj in queryset.exclude(**{field: ""}).only("pk", field):
        token = getattr(obj, field)
        if crypto.needs_rotation(token):
            setattr(obj, field, crypto.encrypt(crypto.decrypt(token)))
            obj.save(update_fields=[field])
            done += 1
    return done


def _encrypted(models: list[type[Model]]) -> int:
    return sum(
        _reencrypt(model._default_manager.all(), field)
        for model in models
        for field in model.encrypted_fields
    )


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored credential with the first key of DBTOOLS_ENCRYPTION_KEYS. "
        "Put the new key first, keep the old ones listed, run this, then drop the old keys."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args: Any, quiet: bool = False, **options: Any) -> None:
        # Each app declares its encrypted columns on the model (`encrypted_fields`), so this
        # command finds them without importing the apps that own them.
        holders = [m for m in apps.get_models() if getattr(m, "encrypted_fields", ())]
        in_tenants = [m for m in holders if routers.is_tenant_app(m._meta.app_label)]
        total = _encrypted([m for m in holders if m not in in_tenants])
        for tenant in Tenant.objects.exclude(status=Tenant.Status.DELETED):
            with tenancy.use_tenant(tenant):
                count = _encrypted(in_tenants)
            total += count
            if not quiet:
                self.stdout.write(f"{tenant.slug}: {count} credential(s) re-encrypted")
        self.stdout.write(
            self.style.SUCCESS(f"{total} credential(s) now under key {crypto.current_key_id()!r}")
        )

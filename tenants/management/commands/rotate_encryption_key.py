from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dbtools import crypto, tenancy
from tenants.models import Tenant


def _reencrypt(queryset: Any, field: str) -> int:
    done = 0
    for obj in queryset.exclude(**{field: ""}).only("pk", field):
        token = getattr(obj, field)
        if crypto.needs_rotation(token):
            setattr(obj, field, crypto.encrypt(crypto.decrypt(token)))
            obj.save(update_fields=[field])
            done += 1
    return done


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored credential with the first key of DBTOOLS_ENCRYPTION_KEYS. "
        "Put the new key first, keep the old ones listed, run this, then drop the old keys."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args: Any, quiet: bool = False, **options: Any) -> None:
        from servers.models import Server

        total = _reencrypt(Tenant.objects.all(), "db_password_encrypted")
        for tenant in Tenant.objects.exclude(status=Tenant.Status.DELETED):
            with tenancy.use_tenant(tenant):
                count = _reencrypt(Server.objects.all(), "password_encrypted")
            total += count
            if not quiet:
                self.stdout.write(f"{tenant.slug}: {count} server password(s) re-encrypted")
        self.stdout.write(
            self.style.SUCCESS(f"{total} credential(s) now under key {crypto.current_key_id()!r}")
        )

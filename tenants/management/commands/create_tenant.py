from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants import provisioning


class Command(BaseCommand):
    help = "Provision a tenant: its PostgreSQL role and database, migrated and seeded."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("name")

    def handle(self, *args: Any, slug: str, name: str, **options: Any) -> None:
        try:
            tenant = provisioning.create_tenant(slug, name)
        except ValidationError as exc:
            errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            raise CommandError(errors) from exc
        except (provisioning.SlugTakenError, provisioning.ProvisioningError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Tenant {tenant.slug} created ({tenant.db_name})"))

import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from tenants import provisioning
from tenants.models import Membership, Role, Tenant


class Command(BaseCommand):
    help = "Create the `admin` superuser and the `demo` tenant if missing; changes nothing else."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        password_file = settings.VAR_DIR / "admin_password"
        admin = user_model.objects.filter(username="admin").first()
        if admin is None:
            password = os.environ.get("DBTOOLS_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            admin = user_model.objects.create_superuser("admin", "admin@example.com", password)
            if not os.environ.get("DBTOOLS_ADMIN_PASSWORD"):
                settings.VAR_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
                password_file.touch(mode=0o600)
                password_file.write_text(password)
        tenant = Tenant.objects.filter(slug="demo").first()
        if tenant is None:
            tenant = provisioning.create_tenant("demo", "Demo Corp", acting_user=admin)
            self.stdout.write("Created the demo tenant.")
        Membership.objects.get_or_create(user=admin, tenant=tenant, defaults={"role": Role.ADMIN})
        if os.environ.get("DBTOOLS_ADMIN_PASSWORD"):
            shown = "(from DBTOOLS_ADMIN_PASSWORD)"
        elif password_file.exists():
            shown = password_file.read_text().strip()
        else:
            shown = "(set earlier; change it with: manage.py changepassword admin)"
        self.stdout.write(f"Login: admin / {shown}")

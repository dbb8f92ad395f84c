"""A slug is as long as the tenant's database name allows: PostgreSQL keeps 63 bytes of a name,
and the database (and its role) is the configured prefix followed by the slug."""

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from tenants.models import Tenant, max_slug_length

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def longest() -> int:
    return 63 - len(settings.DBTOOLS_TENANT_DB_PREFIX.encode())


def slug_of(length: int) -> str:
    return "s" + "x" * (length - 1)


def test_limit_follows_the_prefix(settings):
    settings.DBTOOLS_TENANT_DB_PREFIX = "dbtools_tenant_"
    assert max_slug_length() == 48
    settings.DBTOOLS_TENANT_DB_PREFIX = "t_"
    assert max_slug_length() == 50  # the slug's own limit


def test_api_refuses_a_slug_one_past_the_limit(api, admin_user):
    r = api(admin_user).post(
        "/api/tenants", {"slug": slug_of(longest() + 1), "name": "Long"}, format="json"
    )
    assert r.status_code == 400
    assert f"at most {longest()} characters" in r.json()["slug"][0]
    assert not Tenant.objects.filter(name="Long").exists()


def test_api_provisions_a_slug_at_the_limit(api, admin_user, scratch_tenants):
    slug = slug_of(longest())
    scratch_tenants(slug)
    r = api(admin_user).post("/api/tenants", {"slug": slug, "name": "Long"}, format="json")
    assert r.status_code == 201, r.json()
    assert len(r.json()["db_name"]) == 63


def test_command_refuses_a_slug_past_the_limit():
    with pytest.raises(CommandError, match=f"at most {longest()} characters"):
        call_command("create_tenant", slug_of(longest() + 1), "Long")


def test_admin_form_refuses_a_slug_past_the_limit(client, admin_user):
    client.force_login(admin_user)
    r = client.post("/admin/tenants/tenant/add/", {"slug": slug_of(longest() + 1), "name": "L"})
    assert r.status_code == 400
    assert f"at most {longest()} characters" in r.content.decode()
    assert not Tenant.objects.filter(name="L").exists()

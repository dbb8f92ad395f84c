"""Names with control characters or bidirectional overrides are refused everywhere (one
validator in the model layer, used by the API, the pages and the admin)."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from core.validators import validate_name
from dbtools.tenancy import use_tenant
from servers.models import ServerGroup
from tenants.models import Membership

BAD = ["evil\u202egpj.exe", "two\nlines", "tab\there", "nul\x00", "iso\u2067late"]


@pytest.mark.parametrize("name", BAD)
def test_validator_refuses(name):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        validate_name(name)


def test_validator_accepts_ordinary_names():
    for name in ("SQLPROD01", "Prod – EU (München)", "日本語", "שרת ראשי", "a" * 199):
        validate_name(name)


@pytest.mark.django_db(databases="__all__")
def test_api_refuses_bad_names(api, make_user, admin_user, tenant_alpha):
    op = make_user("opn", tenant_alpha, "operator")
    client = api(op, tenant_alpha)
    r = client.post("/api/groups", {"name": "Prod\u202e"}, format="json")
    assert r.status_code == 400 and "name" in r.json()
    r = client.post("/api/labels", {"name": "bad\tlabel"}, format="json")
    assert r.status_code == 400
    r = api(admin_user).post(
        "/api/tenants", {"slug": "bidi-t", "name": "Acme\u202e"}, format="json"
    )
    assert r.status_code == 400 and "name" in r.json()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, databases="__all__")
def test_group_page_refuses_bidi_name(page, login, tenant_alpha):
    user = get_user_model().objects.create_user("opg", password="Opg-pass-12345")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="operator")
    login("opg", "Opg-pass-12345")
    page.goto("/groups/")
    page.get_by_label("Name").fill("Payroll\u202eSLX.exe")
    page.get_by_role("button", name="Create group").click()
    expect(page.get_by_text("bidirectional text overrides")).to_be_visible()
    with use_tenant(tenant_alpha):
        assert not ServerGroup.objects.exists()

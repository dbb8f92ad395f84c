import pytest
from django.core.exceptions import ValidationError

from tenants.models import slug_validator

GOOD = ["abc", "acme", "acme-corp", "a1b", "123", "a-b-c", "x" * 50, "contoso-2026"]
BAD = [
    "",
    "ab",
    "x" * 51,
    "-abc",
    "abc-",
    "Acme",
    "acme_corp",
    "acme corp",
    "acmé",
    "ac.me",
    "ac/me",
    "a--",
    "ACME",
]


@pytest.mark.parametrize("slug", GOOD)
def test_good_slugs(slug):
    slug_validator(slug)


@pytest.mark.parametrize("slug", BAD)
def test_bad_slugs(slug):
    with pytest.raises(ValidationError):
        slug_validator(slug)


@pytest.mark.django_db
@pytest.mark.parametrize("slug", BAD)
def test_api_rejects_bad_slug_with_field_error(api, admin_user, slug):
    r = api(admin_user).post("/api/tenants", {"slug": slug, "name": "X"}, format="json")
    assert r.status_code == 400
    assert "slug" in r.json()

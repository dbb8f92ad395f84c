import pytest
from django.contrib.auth import get_user_model

from core.models import ActivityLog
from tenants.models import Membership

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def admin_client(client, make_user, tenant_alpha):
    client.force_login(make_user("boss", tenant_alpha, "admin"))
    return client


def test_admin_adds_new_user(admin_client, tenant_alpha, in_tenant):
    r = admin_client.post(
        "/users/add", {"username": "newbie", "password": "Long-enough-pw-42", "role": "operator"}
    )
    assert r.status_code == 302
    m = Membership.objects.get(user__username="newbie", tenant=tenant_alpha)
    assert m.role == "operator"
    assert m.user.check_password("Long-enough-pw-42")
    with in_tenant(tenant_alpha):
        assert ActivityLog.objects.filter(action="member.added", entity_name="newbie").exists()


def test_admin_adds_existing_user_from_other_tenant(
    admin_client, make_user, tenant_alpha, tenant_beta
):
    make_user("other", tenant_beta, "viewer")
    assert (
        admin_client.post("/users/add", {"username": "other", "role": "viewer"}).status_code == 302
    )
    assert Membership.objects.filter(user__username="other").count() == 2


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"username": "", "role": "viewer"}, b"This field is required"),
        ({"username": "ghost", "role": "viewer"}, b"give a password"),
        ({"username": "x", "password": "123", "role": "viewer"}, b"too short"),
        ({"username": "y", "password": "Long-enough-pw-42", "role": "god"}, b"valid choice"),
        ({"username": "z", "email": "not-mail", "role": "viewer"}, b"valid email"),
        ({"username": "boss", "role": "viewer"}, b"already a member"),
    ],
)
def test_bad_input_is_400_and_writes_nothing(admin_client, form, message):
    before = (get_user_model().objects.count(), Membership.objects.count())
    r = admin_client.post("/users/add", form)
    assert r.status_code == 400
    assert message in r.content
    assert (get_user_model().objects.count(), Membership.objects.count()) == before


def test_change_role_and_last_admin_protection(admin_client, make_user, tenant_alpha):
    ops = make_user("opal", tenant_alpha, "operator")
    m = Membership.objects.get(user=ops)
    admin_client.post(f"/users/{m.pk}/role", {"role": "viewer"})
    m.refresh_from_db()
    assert m.role == "viewer"
    boss = Membership.objects.get(user__username="boss")
    r = admin_client.post(f"/users/{boss.pk}/role", {"role": "viewer"}, follow=True)
    assert b"at least one admin" in r.content
    boss.refresh_from_db()
    assert boss.role == "admin"
    admin_client.post(f"/users/{boss.pk}/remove")
    assert Membership.objects.filter(pk=boss.pk).exists()
    admin_client.post(f"/users/{m.pk}/remove")
    assert not Membership.objects.filter(pk=m.pk).exists()


def test_members_of_other_tenants_are_404(admin_client, make_user, tenant_beta):
    outsider = Membership.objects.get(user=make_user("out", tenant_beta, "admin"))
    assert admin_client.post(f"/users/{outsider.pk}/remove").status_code == 404
    assert admin_client.post(f"/users/{outsider.pk}/role", {"role": "viewer"}).status_code == 404


def test_viewer_sees_no_actions_and_cannot_post(client, make_user, tenant_alpha):
    client.force_login(make_user("vic", tenant_alpha, "viewer"))
    page = client.get("/users/")
    assert page.status_code == 200
    assert b"Add user" not in page.content
    assert b"Remove" not in page.content
    assert client.post("/users/add", {"username": "x", "role": "admin"}).status_code == 403

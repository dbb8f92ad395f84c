"""Failed logins are throttled per account and per address: login page, admin login, API tokens."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from structlog.testing import capture_logs

pytestmark = pytest.mark.django_db(databases="__all__")

LIMIT = 3
LOCKED = b"Too many failed logins for this account or from this address"


@pytest.fixture(autouse=True)
def limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def post_login(client, path, username, password, ip="10.0.0.1"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_account_locked_at_the_limit_and_after(client, make_user, path):
    make_user("lou", is_staff=True)
    for _ in range(LIMIT - 1):
        r = post_login(client, path, "lou", "wrong")
        assert r.status_code == 200
        assert b"correct username and password" in r.content
    at_limit = post_login(client, path, "lou", "wrong")
    assert at_limit.status_code == 429
    assert LOCKED in at_limit.content
    assert b"Try again in 15 minutes" in at_limit.content
    assert at_limit["Retry-After"] == "900"
    # Past the limit even the right password is refused, from any address.
    past = post_login(client, path, "lou", "pw-lou", ip="10.0.0.99")
    assert past.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_address_locked_whatever_the_account(client, make_user, path):
    make_user("kim", is_staff=True)
    for i in range(LIMIT):
        r = post_login(client, path, f"guess{i}", "wrong", ip="10.0.0.7")
    assert r.status_code == 429
    assert post_login(client, path, "kim", "pw-kim", ip="10.0.0.7").status_code == 429
    # Another address still gets in.
    ok = post_login(client, path, "kim", "pw-kim", ip="10.0.0.8")
    assert ok.status_code == 302


def test_below_the_limit_a_good_password_logs_in_and_clears_the_count(client, make_user):
    make_user("ada")
    for _ in range(LIMIT - 1):
        post_login(client, "/accounts/login/", "ada", "wrong", ip=f"10.1.0.{_}")
    assert post_login(client, "/accounts/login/", "ada", "pw-ada").status_code == 302
    client.logout()
    for _ in range(LIMIT - 1):
        r = post_login(client, "/accounts/login/", "ada", "wrong", ip=f"10.2.0.{_}")
    assert r.status_code == 200  # counting started again after the successful login


def test_each_failure_is_logged(client, make_user):
    make_user("eve")
    with capture_logs() as logs:
        post_login(client, "/accounts/login/", "eve", "wrong", ip="10.0.0.3")
        post_login(client, "/admin/login/", "eve", "wrong", ip="10.0.0.3")
    failures = [e for e in logs if e["event"] == "login_failed"]
    assert [(e["username"], e["ip"], e["path"]) for e in failures] == [
        ("eve", "10.0.0.3", "/accounts/login/"),
        ("eve", "10.0.0.3", "/admin/login/"),
    ]
    assert all(e["log_level"] == "warning" for e in failures)


def token_client(key, ip="10.0.0.5"):
    client = APIClient(REMOTE_ADDR=ip)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}", HTTP_X_TENANT_SLUG="alpha")
    return client


def test_wrong_api_tokens_lock_the_address(make_user, tenant_alpha):
    token = Token.objects.create(user=make_user("tok", tenant_alpha, "viewer"))
    with capture_logs() as logs:
        for i in range(LIMIT - 1):
            assert token_client(f"wrong{i}").get("/api/activity").status_code == 401
        at_limit = token_client("wrong-last").get("/api/activity")
    assert at_limit.status_code == 429
    assert at_limit.json() == {
        "detail": "Too many failed logins for this account or from this address. "
        "Try again in 15 minutes."
    }
    assert at_limit["Retry-After"] == "900"
    assert sum(e["event"] == "login_failed" for e in logs) == LIMIT
    # Past the limit the right token is refused from that address, and works from another one.
    assert token_client(token.key).get("/api/activity").status_code == 429
    assert token_client(token.key, ip="10.0.0.6").get("/api/activity").status_code == 200


def test_an_address_locked_on_the_login_page_is_locked_for_tokens_too(
    client, make_user, tenant_alpha
):
    token = Token.objects.create(user=make_user("tik", tenant_alpha, "viewer"))
    for i in range(LIMIT):
        post_login(client, "/accounts/login/", f"nobody{i}", "wrong", ip="10.0.0.9")
    assert token_client(token.key, ip="10.0.0.9").get("/api/activity").status_code == 429


def test_client_address_behind_a_proxy(rf, settings):
    from dbtools.security import client_ip

    request = rf.get("/", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.4")
    assert client_ip(request) == "10.9.9.9"  # no proxy configured: the header is ignored
    settings.DBTOOLS_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.4"  # what our proxy saw, not what the client claimed

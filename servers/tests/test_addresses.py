"""Where a server is: host names (IDNA), IPv4/IPv6 addresses and instance names, checked by one
rule wherever they enter (API, pages, onboard_servers), never stored when they cannot work."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from servers.addresses import validate_host, validate_instance_name
from servers.models import Server

GOOD_HOSTS = {
    "localhost": "localhost",
    "SQLPROD01": "SQLPROD01",
    "db-01.corp.example.com": "db-01.corp.example.com",
    "db.corp.example.com.": "db.corp.example.com",
    " db1 ": "db1",
    "10.0.0.1": "10.0.0.1",
    "::1": "::1",
    "[fe80::1]": "fe80::1",
    "2001:DB8::1": "2001:db8::1",
    "bücher.example": "xn--bcher-kva.example",
    "a" * 63 + ".example": "a" * 63 + ".example",
}
BAD_HOSTS = [
    "",
    "   ",
    "<script>alert(1)</script>",
    "-1",
    "db-.corp",
    "-db.corp",
    "db..corp",
    "db1;Driver=evil",
    "db 1",
    "HOST\\INSTANCE",
    "db1,1433",
    "db1:1433",
    "1.2.3",
    "999",
    "256.1.1.1",
    "a" * 64 + ".example",
    ("a" * 62 + ".") * 4 + "abc",
    "db\u202e1",
    "db\u200b1",
    "db\u200d1",
    "db\x00",
    "db\u00ad1",
    "[::1",
    "fe80::1%eth0",
]


@pytest.mark.parametrize(("raw", "stored"), GOOD_HOSTS.items())
def test_good_hosts_are_normalised(raw, stored):
    assert validate_host(raw) == stored


@pytest.mark.parametrize("raw", BAD_HOSTS)
def test_bad_hosts_are_refused(raw):
    with pytest.raises(ValidationError):
        validate_host(raw)


def test_named_instance_in_host_says_where_it_belongs():
    with pytest.raises(ValidationError, match="instance_name"):
        validate_host("SQLPROD01\\SQLEXPRESS")


@pytest.mark.parametrize("name", ["SQLEXPRESS", "INST1", "_x", "Sql$2", "a" * 16])
def test_good_instance_names(name):
    assert validate_instance_name(name) == name


@pytest.mark.parametrize("name", ["A;B", "A B", "1ABC", "a" * 17, "in\u200bst", "a\\b", "<x>"])
def test_bad_instance_names(name):
    with pytest.raises(ValidationError):
        validate_instance_name(name)


# -- every way in ---------------------------------------------------------------------------------
API_HOSTS = ["<script>alert(1)</script>", "-1", "db\u202e1", "db\u200b1", "SQLPROD01\\INST1"]


@pytest.fixture
def client(api, make_user, tenant_alpha):
    return api(make_user("hana", tenant_alpha, "operator"), tenant_alpha)


def body(**extra):
    return {
        "name": "S1",
        "host": "db1",
        "port": 1433,
        "auth_type": "sql",
        "username": "u",
        "password": "p",
        **extra,
    }


@pytest.mark.parametrize("host", API_HOSTS)
@pytest.mark.parametrize("url", ["/api/servers", "/api/servers/test-connection"])
@pytest.mark.django_db(databases="__all__")
@pytest.mark.usefixtures("use_alpha")
def test_api_refuses_bad_hosts(client, url, host):
    r = client.post(url, body(host=host), format="json")
    assert r.status_code == 400
    assert "host" in r.json(), r.json()
    assert not Server.objects.exists()


@pytest.mark.django_db(databases="__all__")
@pytest.mark.usefixtures("use_alpha")
def test_api_update_refuses_bad_host(client):
    sid = client.post("/api/servers", body(), format="json").json()["id"]
    r = client.patch(f"/api/servers/{sid}", {"host": "db\u202e1"}, format="json")
    assert r.status_code == 400
    assert "host" in r.json()
    assert Server.objects.get().host == "db1"


@pytest.mark.django_db(databases="__all__")
@pytest.mark.usefixtures("use_alpha")
def test_api_stores_unicode_host_as_idna(client):
    r = client.post("/api/servers", body(host="bücher.example"), format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["host"] == "xn--bcher-kva.example"


@pytest.mark.django_db(databases="__all__")
@pytest.mark.usefixtures("use_alpha")
def test_port_is_required_without_a_named_instance(client):
    r = client.post("/api/servers", body(port=None), format="json")
    assert r.status_code == 400
    assert "port" in r.json()
    named = client.post("/api/servers", body(port=None, instance_name="SQLEXPRESS"), format="json")
    assert named.status_code == 201, named.json()
    assert named.json()["port"] is None


@pytest.mark.django_db(databases="__all__")
@pytest.mark.usefixtures("use_alpha")
def test_wizard_page_refuses_bad_host(client, make_user, tenant_alpha):
    from django.test import Client

    page = Client()
    page.force_login(make_user("pia", tenant_alpha, "operator"))
    data = {
        "name": "S1",
        "host": "db\u200b1",
        "port": "1433",
        "instance_name": "",
        "auth_type": "sql",
        "username": "u",
        "password": "p",
        "encrypt": "on",
    }
    r = page.post("/servers/add", data)
    assert r.status_code == 400
    assert 'id="id_host-errors"' in r.content.decode()
    assert not Server.objects.exists()


@pytest.mark.django_db(databases="__all__")
@pytest.mark.usefixtures("use_alpha")
def test_model_refuses_bad_host():
    with pytest.raises(ValidationError) as exc:
        Server(name="S1", host="<script>", username="u").full_clean()
    assert "host" in exc.value.message_dict


@pytest.mark.django_db(databases="__all__")
@pytest.mark.usefixtures("use_alpha")
def test_onboard_command_refuses_bad_host():
    with pytest.raises(CommandError, match="--host"):
        call_command(
            "onboard_servers",
            "--tenant",
            "alpha",
            "--host",
            "db\u202e1",
            "--ports",
            "1433",
            "--username",
            "u",
            "--password",
            "p",
        )
    assert not Server.objects.exists()

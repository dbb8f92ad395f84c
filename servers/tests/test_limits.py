"""Every text a user types has a limit, tested at it and one past it; numbers need a value."""

import pytest
from django.core.paginator import UnorderedObjectListWarning

from servers.models import Server, ServerGroup

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]

DESCRIPTION_MAX = 1000


@pytest.fixture
def client(api, make_user, tenant_alpha):
    return api(make_user("lim", tenant_alpha, "operator"), tenant_alpha)


def test_group_description_at_the_limit_is_stored(client):
    r = client.post(
        "/api/groups", {"name": "G", "description": "d" * DESCRIPTION_MAX}, format="json"
    )
    assert r.status_code == 201, r.json()
    assert len(ServerGroup.objects.get().description) == DESCRIPTION_MAX


def test_group_description_past_the_limit_is_400(client):
    r = client.post("/api/groups", {"name": "G", "description": "d" * 100_000}, format="json")
    assert r.status_code == 400
    assert "description" in r.json()
    assert not ServerGroup.objects.exists()


def test_group_page_refuses_a_long_description(client, make_user, tenant_alpha):
    from django.test import Client

    page = Client()
    page.force_login(make_user("pg", tenant_alpha, "operator"))
    r = page.post("/groups/create", {"name": "G", "description": "d" * (DESCRIPTION_MAX + 1)})
    assert r.status_code == 400
    assert "at most 1000 characters" in r.content.decode()
    assert not ServerGroup.objects.exists()


@pytest.mark.parametrize("url", ["/api/servers", "/api/activity"])
def test_search_text_past_the_limit_is_400(client, url):
    assert client.get(url, {"q": "x" * 200}).status_code == 200
    r = client.get(url, {"q": "x" * 201})
    assert r.status_code == 400
    assert "q" in r.json()


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (
            "/api/servers",
            {
                "name": "S",
                "host": "h",
                "port": None,
                "auth_type": "sql",
                "username": "u",
                "password": "p",
            },
            "port",
        ),
        ("/api/settings/retention", {"metrics_retention_days": None}, "metrics_retention_days"),
        (
            "/api/servers/bulk",
            {"server_ids": [1], "action": "add_to_group", "group_id": None},
            "group_id",
        ),
    ],
)
def test_null_for_a_required_number_is_400(api, make_user, tenant_alpha, url, body, field):
    client = api(make_user("num", tenant_alpha, "admin"), tenant_alpha)
    method = client.put if "retention" in url else client.post
    r = method(url, body, format="json")
    assert r.status_code == 400
    assert field in r.json(), r.json()


def test_an_empty_ordering_keeps_the_list_in_name_order(client, recwarn):
    for name in ("SQLC", "SQLA", "SQLB"):
        Server.objects.create(name=name, host="h", username="u")
    r = client.get("/api/servers", {"ordering": ",", "page_size": 2})
    assert r.status_code == 200
    assert [s["name"] for s in r.json()["results"]] == ["SQLA", "SQLB"]
    assert not [w for w in recwarn if w.category is UnorderedObjectListWarning]

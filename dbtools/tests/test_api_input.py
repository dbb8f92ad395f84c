"""Whatever a client sends, the API answers 4xx in JSON with a message it can act on: never 500."""

import json

import pytest
from django.conf import settings

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]

WRITES = [
    ("post", "/api/groups"),
    ("post", "/api/labels"),
    ("post", "/api/servers"),
    ("post", "/api/servers/test-connection"),
    ("post", "/api/servers/bulk"),
    ("patch", "/api/settings"),
    ("put", "/api/settings/retention"),
]


@pytest.fixture
def client(api, make_user, tenant_alpha):
    return api(make_user("ada", tenant_alpha, "admin"), tenant_alpha)


def send(client, method, url, body, content_type="application/json"):
    return getattr(client, method)(url, body, content_type=content_type)


@pytest.mark.parametrize(("method", "url"), WRITES)
def test_json_nested_50000_deep_is_400(client, method, url):
    r = send(client, method, url, "[" * 50_000 + "]" * 50_000)
    assert r.status_code == 400
    assert "nested" in r.json()["detail"]


@pytest.mark.parametrize(("method", "url"), WRITES)
def test_body_over_the_limit_is_413(client, method, url):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({"name": "x" * limit})
    r = send(client, method, url, body)
    assert r.status_code == 413
    assert "too large" in r.json()["detail"]


def test_body_at_the_limit_is_parsed(client):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({"name": "g1", "description": ""})
    body = body[:-1] + " " * (limit - len(body)) + "}"
    assert len(body) == limit
    r = send(client, "post", "/api/groups", body)
    assert r.status_code == 201, r.json()


@pytest.mark.parametrize(("method", "url"), WRITES)
def test_form_body_over_the_limit_is_413(client, method, url):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    r = send(client, method, url, "name=" + "x" * limit, "application/x-www-form-urlencoded")
    assert r.status_code == 413
    assert "too large" in r.json()["detail"]


@pytest.mark.parametrize(("method", "url"), WRITES)
def test_more_fields_than_allowed_is_400(client, method, url):
    fields = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1
    body = "&".join(f"server_ids={i}" for i in range(fields))
    r = send(client, method, url, body, "application/x-www-form-urlencoded")
    assert r.status_code == 400
    assert "fields" in r.json()["detail"]


def test_multipart_with_more_fields_than_allowed_is_400(client):
    fields = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1
    body = {"server_ids": [str(i) for i in range(fields)], "action": "delete"}
    r = client.post("/api/servers/bulk", body)  # multipart, as the test client encodes it
    assert r.status_code == 400
    assert "fields" in r.json()["detail"]


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/servers/test-connection", {"host": "db1", "auth_type": "\ud800"}),
        ("/api/servers/test-connection", {"host": "db1", "auth_type": "sql", "encrypt": "\ud800"}),
        ("/api/servers/bulk", {"server_ids": [1], "action": "\ud800"}),
        ("/api/groups", {"name": "a\ud800b"}),
    ],
)
def test_lone_surrogate_is_400_in_json(client, url, body):
    r = send(client, "post", url, json.dumps(body))  # json.dumps escapes it as \ud800
    assert r.status_code == 400
    assert r["Content-Type"] == "application/json"
    assert "UTF-8" in r.json()["detail"]


def test_unknown_api_path_is_json_404(client):
    r = client.get("/api/servers/abc")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/octet-stream", "application/xml"]
)
def test_body_in_an_unknown_or_broken_format_is_json_415(client, content_type):
    r = send(client, "put", "/api/settings/retention", "\u00ac\u0099(", content_type)
    assert r.status_code == 415
    assert "media type" in r.json()["detail"]

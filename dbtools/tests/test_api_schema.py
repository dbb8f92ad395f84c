"""What /api/schema/ promises: every error an operation can answer, and only its methods."""

import pytest

pytestmark = pytest.mark.django_db(databases="__all__")

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def schema(client):
    return client.get("/api/schema/", headers={"Accept": "application/json"}).json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def test_every_operation_documents_its_errors(schema):
    for path, method, op in operations(schema):
        codes = set(op["responses"])
        assert {"400", "401", "403", "429"} <= codes, (method, path, codes)
        if method in {"post", "put", "patch"}:
            assert {"413", "415"} <= codes, (method, path)
        names = {p["name"] for p in op.get("parameters", [])}
        if "{" in path or names & {"X-Tenant-Slug", "page"}:
            assert "404" in codes, (method, path)


def test_tenant_changes_document_conflicts(schema):
    assert "409" in schema["paths"]["/api/tenants"]["post"]["responses"]
    assert "409" in schema["paths"]["/api/tenants/{slug}/suspend"]["post"]["responses"]


def test_fleet_health_documents_summary_and_results(schema):
    ok = schema["paths"]["/api/servers/health"]["get"]["responses"]["200"]
    ref = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == {"summary", "results"}


def test_username_is_required_for_a_connection(schema):
    assert "username" in schema["components"]["schemas"]["Server"]["required"]
    assert "username" in schema["components"]["schemas"]["Connection"]["required"]


@pytest.mark.parametrize("verb", ["start", "stop"])
def test_collection_switches_are_post_only(schema, verb):
    assert set(schema["paths"][f"/api/servers/{{id}}/collection/{verb}"]) == {"post"}


@pytest.mark.parametrize("verb", ["start", "stop"])
@pytest.mark.parametrize("method", ["get", "put"])
def test_collection_switches_refuse_other_methods(
    api, make_user, tenant_alpha, use_alpha, verb, method
):
    from monitoring.models import CollectionConfig
    from servers.models import Server

    server = Server.objects.create(name="S1", host="h", username="u")
    client = api(make_user("ada", tenant_alpha, "admin"), tenant_alpha)
    url = f"/api/servers/{server.pk}/collection/{verb}"
    r = getattr(client, method)(url, {"interval_seconds": 30, "enabled": False}, format="json")
    assert r.status_code == 405
    assert not CollectionConfig.objects.filter(server_id=server.pk).exclude(enabled=True).exists()


def test_a_page_past_the_end_is_a_documented_json_404(api, admin_user, schema):
    r = api(admin_user).get("/api/tenants?page=999")
    assert r.status_code == 404
    assert "404" in schema["paths"]["/api/tenants"]["get"]["responses"]

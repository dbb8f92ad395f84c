import pytest

pytestmark = pytest.mark.django_db(databases="__all__")


def test_health(client):
    r = client.get("/api/health")
    assert r.status_code == 200
    assert r.json()["status"] == "healthy"
    assert r.json()["details"]["system_database"]["status"] == "healthy"


def test_fixed_tenants_exist(tenant_alpha, tenant_beta, in_tenant):
    from core.models import Setting

    with in_tenant(tenant_alpha):
        assert Setting.objects.filter(key="metrics_retention_days").exists()

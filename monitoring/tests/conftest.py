"""Fixtures shared by the monitoring tests."""

import pytest

from dbtools import tenancy
from servers import actions, deployment
from servers.models import Server


@pytest.fixture
def monitored(sqlsim, settings, django_capture_on_commit_callbacks):
    settings.DBTOOLS_COLLECTOR_TIMEOUT = 2

    def make(name: str, instance: str | None = None, fleet=sqlsim) -> Server:
        host, port = fleet.address(instance or name)
        server = actions.create_server(
            {
                "name": name,
                "host": host,
                "port": port,
                "auth_type": "sql",
                "username": fleet.login,
                "password": fleet.password,
            }
        )
        # The deploy marks the tenant due in the system database once its work commits.
        with django_capture_on_commit_callbacks(using=tenancy.current().alias, execute=True):
            status = deployment.deploy(server)
        assert status["monitoring_status"] == "monitored", status
        return server

    return make

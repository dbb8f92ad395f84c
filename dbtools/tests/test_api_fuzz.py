"""The whole API fuzzed with Schemathesis, from the schema it publishes at /api/schema/.

Every operation is called in-process (WSGI) as an admin of tenant `alpha`, with valid and
invalid inputs generated from the schema. A case fails when the answer is a 5xx, or when its
status code, content type or body is not what the schema documents for that operation.

The run is reproducible: generation is derandomized (the same cases every run, no example
database) and bounded per operation. `pytest -m fuzz` runs it alone; FUZZ_EXAMPLES raises the
bound for a longer hunt.
"""

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from servers import sqlclient

TOKEN = "f" * 40
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
schema.config.update(headers={"X-Tenant-Slug": "alpha", "Authorization": f"Token {TOKEN}"})
schema.config.generation.update(max_examples=EXAMPLES, deterministic=True, database="none")

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(databases="__all__")]


CASES = {"sent": 0, "operations": 0}


@pytest.fixture(scope="module", autouse=True)
def report_cases(request: pytest.FixtureRequest) -> Iterator[None]:
    """One line with what the fuzzer did, for the record (cases are counted as sent)."""
    started = time.monotonic()
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nschemathesis: {CASES['sent']} cases over {CASES['operations']} operations "
                f"in {time.monotonic() - started:.0f} s ({EXAMPLES} generated per operation, "
                "plus the coverage cases Schemathesis derives from the schema)"
            )


@pytest.fixture(autouse=True)
def count_operation() -> None:
    CASES["operations"] += 1


@pytest.fixture(autouse=True)
def tenant_admin(make_user: Any, tenant_alpha: Any) -> Any:
    user = make_user("fuzzer", tenant_alpha, "admin")
    Token.objects.create(user=user, key=TOKEN)
    return user


@pytest.fixture(autouse=True)
def keep_connections_open() -> Iterator[None]:
    """Requests go through the real WSGI handler, whose end-of-request signal would close the
    test's database connections (and its transaction); Django's own test client unhooks it too."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def targets_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated hosts are arbitrary: a connection attempt to one could wait out the whole
    login timeout. Here SQL Server is never reached; the fuzzer checks the API's contract, and
    connection behaviour has its own tests against sqlsim."""

    def refuse(target: sqlclient.Target, *args: Any, **kwargs: Any) -> None:
        raise sqlclient.Unreachable(f"{target.address} is not reachable from the fuzz run.")

    monkeypatch.setattr(sqlclient, "connect", refuse)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: Any) -> None:
    CASES["sent"] += 1
    case.call_and_validate(checks=CHECKS)

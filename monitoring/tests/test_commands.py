"""`manage.py collect` and `manage.py collector_status` against sqlsim over TDS: collect one
server now through the workers' path and see what was read; see what is due, late and failing."""

import io

import pytest
from django.core.management import CommandError, call_command

from monitoring.models import CollectorState, ServerSnapshot
from sqlsim.instance import InstanceConfig

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


@pytest.fixture
def fleet(sqlsim_factory):
    # Instances of their own: one of them is stopped.
    return sqlsim_factory(
        [InstanceConfig(name=n, port=0, version=2019) for n in ("SQLCMD01", "SQLCMD02")]
    )


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_collect_one_server_now_and_print_what_was_read(monitored, fleet):
    server = monitored("SQLCMD01", fleet=fleet)
    other = monitored("SQLCMD02", fleet=fleet)
    fleet.stop_instance("SQLCMD02")
    out = run("collect", "--tenant", "alpha", "--server", "sqlcmd01", "--server", str(other.pk))
    assert "SQLCMD01: online, CPU" in out and "connections" in out, out
    assert "SQLCMD02: offline, unreachable" in out and "1 failed" in out, out
    assert ServerSnapshot.objects.filter(server_id=server.pk).count() == 1
    state = CollectorState.objects.get(pk=server.pk)
    assert state.claimed_by == "" and state.next_due_at is not None  # released, scheduled
    with pytest.raises(CommandError, match="No server"):
        run("collect", "--tenant", "alpha", "--server", "NOPE")
    with pytest.raises(CommandError, match="No tenant"):
        run("collect", "--tenant", "nope")


def test_collector_status_shows_due_late_and_failing(monitored, fleet):
    monitored("SQLCMD01", fleet=fleet)
    monitored("SQLCMD02", fleet=fleet)
    fleet.stop_instance("SQLCMD02")
    run("collect", "--tenant", "alpha")
    out = run("collector_status", "--tenant", "alpha")
    assert "Slots:" in out
    assert "alpha: 2 collectable, 0 due now, 0 late" in out, out
    assert "1 failing (1 " in out, out

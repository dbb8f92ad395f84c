"""pytest fixtures: a simulated fleet on free loopback ports, started once per test session.

Register from the root conftest::

    pytest_plugins = ["sqlsim.pytest_plugin"]

Fixtures
    ``sqlsim_fleet``   (session) a started :class:`SqlsimFleet` with the standard instances below.
    ``sqlsim``         (function) the same fleet; every steering change made in the test is
                       undone afterwards (``reset()``). Changes that cannot be undone (restart,
                       advance_clock, clear_wait_stats) are refused: use ``sqlsim_factory``.
    ``sqlsim_factory`` (function) ``sqlsim_factory(configs, load=())`` starts an extra fleet
                       from InstanceConfig objects (port 0 = pick a free one), importing the
                       handler modules in ``load`` in the child; stopped after the test.

The fleet runs in a child process (``python -m sqlsim --fleet ... --control-port 0``) and is
steered through its control port, so pyodbc in the test process can never block the server.

Standard instances (login ``dbtools`` / ``DbTools!2026`` unless noted):

    SQLPROD01        2019 Enterprise
    SQLPROD02        2022 Standard
    SQLPROD03        2017 Developer
    SQLPROD04        2016 Enterprise
    SQLOLD01         2014 Standard (too old for DbTools)
    SQLNOPERM01      2019, login without VIEW SERVER STATE
    SQLSECURE01      2022, forces encryption
    SQLWIN01         2019, Windows logins CORP\\dbtools (DbTools!2026) and CORP\\alice (Alice!2026)
    SQLSQLONLY01     2019, refuses Windows logins
    SQLNAMED01\\INST1 2019 named instance
    SQLHANG01        accepts TCP connections and never answers
    SQLDOWN01        listener closed (port known, nothing listening)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from .control import SubprocessFleet
from .instance import DEFAULT_LOGIN, DEFAULT_PASSWORD, InstanceConfig, Login

WINDOWS_USERS = {"CORP\\dbtools": DEFAULT_PASSWORD, "CORP\\alice": "Alice!2026"}


def standard_configs() -> list[InstanceConfig]:
    def cfg(name: str, **kw: Any) -> InstanceConfig:
        return InstanceConfig(name=name, port=0, **kw)

    return [
        cfg("SQLPROD01", version=2019, edition="enterprise"),
        cfg("SQLPROD02", version=2022, edition="standard"),
        cfg("SQLPROD03", version=2017, edition="developer"),
        cfg("SQLPROD04", version=2016, edition="enterprise"),
        cfg("SQLOLD01", version=2014, edition="standard"),
        cfg(
            "SQLNOPERM01",
            version=2019,
            logins=[Login(DEFAULT_LOGIN, DEFAULT_PASSWORD, view_server_state=False)],
        ),
        cfg("SQLSECURE01", version=2022, require_encryption=True),
        cfg("SQLWIN01", version=2019, domain_users=dict(WINDOWS_USERS)),
        cfg("SQLSQLONLY01", version=2019, windows_logins=False, domain_users=dict(WINDOWS_USERS)),
        cfg("SQLNAMED01", version=2019, instance_name="INST1"),
        cfg("SQLHANG01", version=2019, hang=True),
        cfg("SQLDOWN01", version=2019, running=False),
    ]


class SqlsimFleet(SubprocessFleet):
    """Handle on a running fleet (a ``python -m sqlsim`` child process).

    ``port(name)``, ``address(name)``, ``names``, ``control_url``, ``info(name)``,
    ``stats(name)``, and the steering methods of :class:`sqlsim.control.ControlClient`:
    ``steer``, ``spike_cpu``, ``clear_cpu``, ``slow``, ``slow_steps``, ``hang``, ``stop_instance``,
    ``start_instance``, ``refuse_logins``, ``set_view_server_state``, ``reset``.
    """

    login = DEFAULT_LOGIN
    password = DEFAULT_PASSWORD
    windows_users = WINDOWS_USERS


# Steering that moves an instance's clock or counters for good: no reset() can take it back, so
# on the shared fleet it would leak into whichever test runs next (uptime, rates, CPU records).
IRREVERSIBLE = frozenset({"restart", "advance_seconds", "clear_wait_stats"})


class SharedFleetError(RuntimeError):
    pass


class SharedSqlsimFleet(SqlsimFleet):
    """The session-wide standard fleet: refuses steering that ``reset()`` cannot undo."""

    def steer(self, name: str, **changes: Any) -> dict[str, Any]:
        refused = sorted(IRREVERSIBLE & changes.keys())
        if refused:
            raise SharedFleetError(
                f"{', '.join(refused)} on the shared fleet would leak into later tests: "
                "start an instance of your own with the sqlsim_factory fixture"
            )
        return super().steer(name, **changes)


def start_fleet(configs: Iterable[InstanceConfig], load: Iterable[str] = ()) -> SqlsimFleet:
    return SqlsimFleet(configs, load=load)


_shared: list[SqlsimFleet] = []
_users = [0]


def _acquire_standard_fleet() -> SqlsimFleet:
    """One standard fleet per process, even if the fixture is defined twice (plugin + import)."""
    if not _shared:
        _shared.append(SharedSqlsimFleet(standard_configs()))
    _users[0] += 1
    return _shared[0]


def _release_standard_fleet() -> None:
    _users[0] -= 1
    if _users[0] <= 0 and _shared:
        _shared.pop().close()


@pytest.fixture(scope="session")
def sqlsim_fleet() -> Iterator[SqlsimFleet]:
    fleet = _acquire_standard_fleet()
    try:
        yield fleet
    finally:
        _release_standard_fleet()


@pytest.fixture
def sqlsim(sqlsim_fleet: SqlsimFleet) -> Iterator[SqlsimFleet]:
    yield sqlsim_fleet
    sqlsim_fleet.reset()


@pytest.fixture
def sqlsim_factory() -> Iterator[Callable[..., SqlsimFleet]]:
    started: list[SqlsimFleet] = []

    def factory(configs: Iterable[InstanceConfig], load: Iterable[str] = ()) -> SqlsimFleet:
        fleet = start_fleet(configs, load)
        started.append(fleet)
        return fleet

    yield factory
    for fleet in started:
        fleet.close()

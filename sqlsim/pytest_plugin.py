"""pytest fixtures: a simulated fleet on free loopback ports, started once per test session.

Register from the root conftest::

    pytest_plugins = ["sqlsim.pytest_plugin"]

Fixtures
    ``sqlsim_fleet``   (session) a started :class:`SqlsimFleet` with the standard instances below.
    ``sqlsim``         (function) the same fleet; every steering change made in the test is
                       undone afterwards (``reset()``).
    ``sqlsim_factory`` (function) ``sqlsim_factory(configs, control=False)`` starts an extra
                       fleet from InstanceConfig objects (ports 0 = pick free ones); stopped after
                       the test.

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

from .fleet import FleetThread
from .instance import DEFAULT_LOGIN, DEFAULT_PASSWORD, InstanceConfig, Login

HOST = "127.0.0.1"
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
        cfg("SQLHANG01", version=2019),
        cfg("SQLDOWN01", version=2019),
    ]


class SqlsimFleet:
    """Handle on a running fleet: addresses and steering (all methods are thread-safe)."""

    host = HOST
    login = DEFAULT_LOGIN
    password = DEFAULT_PASSWORD
    windows_users = WINDOWS_USERS

    def __init__(self, thread: FleetThread) -> None:
        self.thread = thread
        self._baseline: dict[str, dict[str, Any]] = {}

    @property
    def names(self) -> list[str]:
        return [i.config.server_name for i in self.thread.fleet.instances.values()]

    @property
    def control_url(self) -> str | None:
        return self.thread.control_url

    def port(self, name: str) -> int:
        return self.thread.port(name)

    def address(self, name: str) -> tuple[str, int]:
        return HOST, self.thread.port(name)

    def instance(self, name: str) -> Any:
        return self.thread.instance(name)

    def steer(self, name: str, **changes: Any) -> dict[str, Any]:
        return self.thread.steer(name, **changes)

    def spike_cpu(self, name: str, percent: float = 95.0, seconds: float | None = None) -> None:
        self.thread.spike_cpu(name, percent, seconds)

    def slow(self, name: str, delay: float) -> None:
        self.thread.slow(name, delay)

    def hang(self, name: str, on: bool = True) -> None:
        self.thread.hang(name, on)

    def stop_instance(self, name: str) -> None:
        self.thread.stop_instance(name)

    def start_instance(self, name: str) -> None:
        self.thread.start_instance(name)

    def refuse_logins(self, name: str, on: bool = True) -> None:
        self.thread.refuse_logins(name, on)

    def set_view_server_state(self, name: str, granted: bool, login: str | None = None) -> None:
        self.thread.set_view_server_state(name, granted, login)

    # -- baseline -------------------------------------------------------------------------------
    def remember_baseline(self) -> None:
        for inst in self.thread.fleet.instances.values():
            self._baseline[inst.config.server_name] = {
                "running": inst.running,
                "hang": inst.steering.hang,
                "logins": {lg.name: lg.view_server_state for lg in inst.config.logins},
                "windows_vss": inst.config.windows_view_server_state,
            }

    def reset(self) -> None:
        """Undo steering: CPU, delay, refusals, permissions, running/hang as at start."""
        for name, base in self._baseline.items():
            inst = self.thread.instance(name)
            self.thread.steer(
                name,
                cpu=None,
                delay=0,
                refuse_logins=False,
                hang=base["hang"],
                running=base["running"],
            )
            for lg in inst.config.logins:
                lg.view_server_state = base["logins"].get(lg.name, lg.view_server_state)
            inst.config.windows_view_server_state = base["windows_vss"]


def start_fleet(
    configs: Iterable[InstanceConfig], *, control: bool = False
) -> SqlsimFleet:
    thread = FleetThread(list(configs), control_port=0 if control else None).start()
    return SqlsimFleet(thread)


_shared: list[SqlsimFleet] = []
_users = [0]


def _acquire_standard_fleet() -> SqlsimFleet:
    """One standard fleet per process, even if the fixture is defined twice (plugin + import)."""
    if not _shared:
        fleet = start_fleet(standard_configs(), control=True)
        fleet.hang("SQLHANG01")
        fleet.stop_instance("SQLDOWN01")
        fleet.remember_baseline()
        _shared.append(fleet)
    _users[0] += 1
    return _shared[0]


def _release_standard_fleet() -> None:
    _users[0] -= 1
    if _users[0] <= 0 and _shared:
        _shared.pop().thread.stop()


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

    def factory(configs: Iterable[InstanceConfig], control: bool = False) -> SqlsimFleet:
        fleet = start_fleet(configs, control=control)
        fleet.remember_baseline()
        started.append(fleet)
        return fleet

    yield factory
    for fleet in started:
        fleet.thread.stop()

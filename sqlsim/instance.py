"""One simulated SQL Server instance: its configuration, identity strings and drifting state."""

from __future__ import annotations

import functools
import math
import random
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

DEFAULT_LOGIN = "dbtools"
DEFAULT_PASSWORD = "DbTools!2026"  # noqa: S105 - documented default of the simulator


@dataclass(frozen=True)
class VersionInfo:
    year: int
    product_version: str  # e.g. 15.0.4345.5
    product_level: str  # RTM / SP3
    update_level: str  # CU24 or ""
    kb: str
    build_date: str
    os_text: str
    copyright: str

    @property
    def major(self) -> int:
        return int(self.product_version.split(".")[0])

    @property
    def prog_version(self) -> tuple[int, int, int]:
        parts = [int(p) for p in self.product_version.split(".")]
        return parts[0], parts[1], parts[2]

    def at_version(self, edition: str) -> str:
        level = self.product_level if not self.update_level else f"{self.product_level}-"
        level += self.update_level
        return (
            f"Microsoft SQL Server {self.year} ({level}) (KB{self.kb}) - "
            f"{self.product_version} (X64) \n\t{self.build_date} \n\t{self.copyright}\n\t"
            f"{edition} on {self.os_text}\n"
        )


_WS2019 = "Windows Server 2019 Datacenter 10.0 <X64> (Build 17763: ) (Hypervisor)"
VERSIONS: dict[int, VersionInfo] = {
    2014: VersionInfo(
        2014,
        "12.0.6024.0",
        "SP3",
        "",
        "4022619",
        "Sep  7 2018 01:37:51",
        "Windows NT 6.3 <X64> (Build 9600: ) (Hypervisor)",
        "Copyright (c) Microsoft Corporation",
    ),
    2016: VersionInfo(
        2016,
        "13.0.6300.2",
        "SP3",
        "",
        "5003279",
        "Aug  7 2021 01:20:37",
        _WS2019,
        "Copyright (c) Microsoft Corporation",
    ),
    2017: VersionInfo(
        2017,
        "14.0.3456.2",
        "RTM",
        "CU31",
        "5016884",
        "Sep  2 2022 11:01:50",
        _WS2019,
        "Copyright (C) 2017 Microsoft Corporation",
    ),
    2019: VersionInfo(
        2019,
        "15.0.4345.5",
        "RTM",
        "CU24",
        "5031908",
        "Nov 14 2023 22:36:37",
        _WS2019,
        "Copyright (C) 2019 Microsoft Corporation",
    ),
    2022: VersionInfo(
        2022,
        "16.0.4135.4",
        "RTM",
        "CU14",
        "5038325",
        "Jul 10 2024 14:09:09",
        "Windows Server 2022 Datacenter 10.0 <X64> (Build 20348: ) (Hypervisor)",
        "Copyright (C) 2022 Microsoft Corporation",
    ),
}

EDITIONS: dict[str, tuple[str, int]] = {
    # short name -> (SERVERPROPERTY('Edition'), EngineEdition)
    "enterprise": ("Enterprise Edition (64-bit)", 3),
    "enterprise-core": ("Enterprise Edition: Core-based Licensing (64-bit)", 3),
    "standard": ("Standard Edition (64-bit)", 2),
    "developer": ("Developer Edition (64-bit)", 3),
    "web": ("Web Edition (64-bit)", 2),
    "express": ("Express Edition (64-bit)", 4),
}

WAIT_TYPES = (
    "CXPACKET",
    "PAGEIOLATCH_SH",
    "LCK_M_X",
    "WRITELOG",
    "SOS_SCHEDULER_YIELD",
    "ASYNC_NETWORK_IO",
    "PAGELATCH_EX",
    "RESOURCE_SEMAPHORE",
)


@functools.lru_cache(maxsize=8)
def _user_database_names(count: int) -> tuple[str, ...]:
    """Names of ``count`` user databases, shared by every instance with that many (one copy
    of the strings for a 5,000-instance fleet)."""
    stems = (
        "Sales",
        "Billing",
        "Inventory",
        "CRM",
        "HR",
        "Logistics",
        "Reporting",
        "Audit",
        "Portal",
        "Warehouse",
        "Payroll",
        "Claims",
    )
    return tuple(sys.intern(f"{stems[k % len(stems)]}_{k + 1:03d}") for k in range(count))


def database_names(count: int) -> list[str]:
    """``count`` databases in all: the four system ones, then user databases."""
    if count < 4:
        raise ValueError("an instance has at least its 4 system databases")
    return ["master", "tempdb", "model", "msdb", *_user_database_names(count - 4)]


@dataclass
class Login:
    name: str
    password: str
    view_server_state: bool = True
    enabled: bool = True


@dataclass
class InstanceConfig:
    """Static description of an instance (what a fleet file holds)."""

    name: str  # server / machine name, e.g. SQLPROD01
    port: int
    version: int = 2019
    edition: str = "enterprise"
    instance_name: str = ""  # "" = default instance (MSSQLSERVER)
    logins: list[Login] = field(
        default_factory=lambda: [Login(DEFAULT_LOGIN, DEFAULT_PASSWORD, True)]
    )
    domain: str = "CORP"
    dns_domain: str = "corp.example"
    domain_users: dict[str, str] = field(default_factory=dict)  # "CORP\\alice" -> password
    windows_logins: bool = True  # accepts Windows (NTLM) authentication
    windows_view_server_state: bool = True
    require_encryption: bool = False  # "Force Encryption" on the instance
    tls: bool = True  # has a certificate (can encrypt at all)
    cpus: int = 8
    memory_mb: int = 32768
    # Names, or a count (system databases included): 300 gives master..msdb and 296 user ones.
    databases: list[str] | int = field(
        default_factory=lambda: ["master", "tempdb", "model", "msdb", "AppDB"]
    )
    seed: int | None = None
    running: bool = True  # False: the port is known but nothing listens (until started)
    hang: bool = False  # accept TCP connections and never answer

    def __post_init__(self) -> None:
        if isinstance(self.databases, int):
            self.databases = database_names(self.databases)
        if self.version not in VERSIONS:
            raise ValueError(f"unsupported version {self.version}; use one of {sorted(VERSIONS)}")
        if self.edition not in EDITIONS:
            raise ValueError(f"unknown edition {self.edition}; use one of {sorted(EDITIONS)}")

    @property
    def version_info(self) -> VersionInfo:
        return VERSIONS[self.version]

    @property
    def server_name(self) -> str:
        """@@SERVERNAME: MACHINE or MACHINE\\INSTANCE."""
        return f"{self.name}\\{self.instance_name}" if self.instance_name else self.name

    def login(self, name: str) -> Login | None:
        for login in self.logins:
            if login.name.lower() == name.lower():
                return login
        return None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstanceConfig:
        data = dict(data)
        logins = data.pop("logins", None) or data.pop("users", None)
        view = data.pop("view_server_state", True)
        if logins is None:
            parsed = [Login(DEFAULT_LOGIN, DEFAULT_PASSWORD, view)]
        else:
            parsed = [
                Login(
                    u["name"],
                    u["password"],
                    u.get("view_server_state", view),
                    u.get("enabled", True),
                )
                for u in logins
            ]
        return cls(logins=parsed, **data)


@dataclass
class Steering:
    """Run-time knobs a test or demo turns."""

    cpu_spike: float | None = None  # force CPU % to this value
    cpu_spike_until: float = 0.0  # monotonic deadline (0 = until cleared)
    delay: float = 0.0  # seconds added before every answer
    # extra seconds before the answers of one step only ("prelogin", "login", "query"), to
    # drive a client whose every step is just under its own timeout
    step_delays: dict[str, float] = field(default_factory=dict)
    hang: bool = False  # accept TCP, never answer
    refuse_logins: bool = False  # every login fails with 18456


class InstanceState:
    """Plausible, drifting performance counters of one instance.

    The values are computed lazily from elapsed time so that 10,000 idle instances cost no CPU.
    """

    def __init__(self, config: InstanceConfig) -> None:
        self.config = config
        seed = config.seed if config.seed is not None else hash((config.name, config.port))
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.started_wall = time.time() - self._rng.uniform(3600, 40 * 86400)
        self._t0 = time.monotonic()
        self._ms_ticks0 = int((time.time() - self.started_wall) * 1000)
        self.base_cpu = self._rng.uniform(5, 45)
        self._phase = self._rng.uniform(0, 2 * math.pi)
        self.batch_rate = self._rng.uniform(50, 2500)  # per second
        self.batch_requests = int(self.batch_rate * (time.time() - self.started_wall))
        self.waits: dict[str, list[float]] = {
            w: [
                self._rng.uniform(1e5, 1e8),  # wait_time_ms
                self._rng.uniform(1e3, 1e6),  # waiting_tasks_count
            ]
            for w in WAIT_TYPES
        }
        self.user_connections = self._rng.randint(10, 200)
        self._last_advance = self._t0
        self.steering = Steering()
        self.cpu_ring: deque[tuple[int, int, int, int]] = deque(maxlen=256)
        self._last_ring_minute = -1

    # -- time -----------------------------------------------------------------------------------
    @property
    def ms_ticks(self) -> int:
        return self._ms_ticks0 + int((time.monotonic() - self._t0) * 1000)

    def cpu_percent(self, at: float | None = None) -> float:
        now = time.monotonic() if at is None else at
        s = self.steering
        if s.cpu_spike is not None and (s.cpu_spike_until == 0 or now < s.cpu_spike_until):
            return max(0.0, min(100.0, s.cpu_spike))
        wave = 12 * math.sin(now / 600 + self._phase) + 4 * math.sin(now / 37 + self._phase * 2)
        jitter = self._rng.uniform(-3, 3)
        return max(0.5, min(99.0, self.base_cpu + wave + jitter))

    def memory(self) -> dict[str, int]:
        total = self.config.memory_mb
        target = int(total * 0.85)
        committed = int(target * (0.9 + 0.05 * math.sin(time.monotonic() / 900 + self._phase)))
        return {
            "physical_memory_mb": total,
            "committed_target_mb": target,
            "committed_mb": committed,
            "available_physical_mb": max(256, total - committed - 1024),
            "page_life_expectancy": int(300 + 2000 * (0.5 + 0.5 * math.sin(self._phase))),
        }

    def advance(self) -> None:
        """Move cumulative counters forward to now (cheap; called before each read)."""
        with self._lock:
            now = time.monotonic()
            dt = now - self._last_advance
            if dt <= 0:
                return
            self._last_advance = now
            load = self.cpu_percent(now) / 50.0
            self.batch_requests += int(self.batch_rate * dt * load)
            for wait, counters in self.waits.items():
                factor = 4.0 if wait == "SOS_SCHEDULER_YIELD" and load > 1.5 else 1.0
                counters[0] += self._rng.uniform(20, 400) * dt * load * factor
                counters[1] += self._rng.uniform(1, 40) * dt * load
            self.user_connections = max(
                1, self.user_connections + self._rng.randint(-3, 3) + int(load > 1.5)
            )
            self._fill_ring(now)

    def _fill_ring(self, now: float) -> None:
        minute = int(now // 60)
        first = self._last_ring_minute < 0
        start = minute - 255 if first else self._last_ring_minute + 1
        for m in range(max(start, minute - 255), minute + 1):
            cpu = int(self.cpu_percent(m * 60.0))
            system_idle = max(0, 100 - cpu - self._rng.randint(0, 5))
            ticks = self._ms_ticks0 + int((m * 60.0 - self._t0) * 1000)
            self.cpu_ring.append((ticks, cpu, system_idle, m))
        self._last_ring_minute = minute

    def snapshot(self) -> dict[str, Any]:
        self.advance()
        return {
            "cpu_percent": round(self.cpu_percent(), 1),
            "memory": self.memory(),
            "user_connections": self.user_connections,
            "batch_requests": self.batch_requests,
            "ms_ticks": self.ms_ticks,
            "waits": {k: [int(v[0]), int(v[1])] for k, v in self.waits.items()},
        }

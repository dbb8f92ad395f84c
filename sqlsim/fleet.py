"""A fleet of simulated instances in one asyncio loop, plus steering and the control port."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import threading
import time
import urllib.parse
from collections.abc import Iterable
from typing import Any

from . import builtins as _builtins  # noqa: F401 - registers the built-in statements
from .engine import Registry
from .instance import EDITIONS, VERSIONS, InstanceConfig
from .server import Instance, raise_nofile_limit
from .steering import Steering

DEFAULT_VERSIONS = (2019, 2022, 2017, 2016)
DEFAULT_EDITIONS = ("enterprise", "standard", "developer", "enterprise-core")


def make_configs(
    count: int,
    base_port: int,
    *,
    prefix: str = "SQLPROD",
    versions: Iterable[int] = DEFAULT_VERSIONS,
    editions: Iterable[str] = DEFAULT_EDITIONS,
) -> list[InstanceConfig]:
    """``count`` instances SQLPROD01.. on consecutive ports, versions/editions cycling."""
    versions = list(versions)
    editions = list(editions)
    width = max(2, len(str(count)))
    return [
        InstanceConfig(
            name=f"{prefix}{i + 1:0{width}d}",
            port=base_port + i if base_port else 0,
            version=versions[i % len(versions)],
            edition=editions[i % len(editions)],
        )
        for i in range(count)
    ]


def load_fleet_file(path: str) -> list[InstanceConfig]:
    """Fleet file (JSON), either instance by instance or in groups, or both::

        {"defaults": {...},
         "instances": [{"name": "SQLPROD01", "port": 14330, ...}, ...],
         "base_port": 20000,
         "groups": [{"prefix": "SQLS", "count": 4250, "databases": 5}, ...]}

    Keys of an instance or a group are InstanceConfig fields; ``logins`` is a list of
    ``{"name", "password", "view_server_state"}``; ``databases`` is a list of names or a count
    (system databases included).  A group makes ``count`` instances PREFIX0001.. on consecutive
    ports from ``base_port`` (0: any free port), cycling ``versions`` and ``editions`` when
    given.  ``defaults`` applies to every instance.
    """
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if isinstance(data, list):
        data = {"instances": data}
    defaults = data.get("defaults", {})
    configs = [InstanceConfig.from_dict({**defaults, **item}) for item in data.get("instances", [])]
    port = int(data.get("base_port", 0))
    for group in data.get("groups", []):
        group = dict(group)
        count = int(group.pop("count"))
        prefix = group.pop("prefix")
        version = group.pop("version", defaults.get("version", 2019))
        edition = group.pop("edition", defaults.get("edition", "enterprise"))
        versions = list(group.pop("versions", [version]))
        editions = list(group.pop("editions", [edition]))
        width = max(2, len(str(count)))
        for i in range(count):
            item = {
                **defaults,
                **group,
                "name": f"{prefix}{i + 1:0{width}d}",
                "port": port + i if port else 0,
                "version": versions[i % len(versions)],
                "edition": editions[i % len(editions)],
            }
            configs.append(InstanceConfig.from_dict(item))
        if port:
            port += count
    return configs


class Fleet:
    """Instances sharing one event loop.  Async methods must run on that loop."""

    def __init__(
        self,
        configs: Iterable[InstanceConfig],
        *,
        registry: Registry | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self.instances: dict[str, Instance] = {}
        for cfg in configs:
            key = cfg.server_name.upper()
            if key in self.instances:
                raise ValueError(f"duplicate instance {cfg.server_name}")
            self.instances[key] = Instance(cfg, registry)
        self._control: asyncio.base_events.Server | None = None
        self.control_port: int | None = None

    def __getitem__(self, name: str) -> Instance:
        key = name.upper()
        if key in self.instances:
            return self.instances[key]
        matches = [i for i in self.instances.values() if i.config.name.upper() == key]
        if len(matches) == 1:
            return matches[0]
        raise KeyError(f"no instance named {name}")

    async def start(self, control_port: int | None = None) -> None:
        raise_nofile_limit(len(self.instances) * 2 + 256)
        batch = 200
        items = list(self.instances.values())
        for i in range(0, len(items), batch):
            await asyncio.gather(
                *(
                    inst.start(self.host) if inst.config.running else inst.bind(self.host)
                    for inst in items[i : i + batch]
                )
            )
        if control_port is not None:
            self._control = await asyncio.start_server(
                self._control_handler, self.host, control_port
            )
            self.control_port = self._control.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        await asyncio.gather(*(inst.stop() for inst in self.instances.values()))

    # -- steering -------------------------------------------------------------------------------
    async def steer(self, name: str, **changes: Any) -> dict[str, Any]:
        """Apply run-time changes to one instance; returns its new description.

        Keys: ``cpu`` (percent, or None to clear) with optional ``seconds``; ``delay`` (seconds
        added to every answer); ``delays`` (seconds added to the answers of one step:
        ``{"prelogin": 8, "login": 8, "query": 8}``, missing steps get none); ``hang`` (accept
        connections, never answer); ``refuse_logins``;
        ``view_server_state`` (bool) with optional ``login`` (default: every SQL login, and
        Windows logins); ``running`` (False closes the listener and drops connections).
        """
        inst = self[name]
        s = inst.steering
        unknown = set(changes) - {
            "cpu",
            "seconds",
            "delay",
            "delays",
            "hang",
            "refuse_logins",
            "view_server_state",
            "login",
            "running",
        }
        if unknown:
            raise ValueError(f"unknown steering keys: {sorted(unknown)}")
        if "cpu" in changes:
            inst.state.advance()
            s.cpu_spike = None if changes["cpu"] is None else float(changes["cpu"])
            secs = changes.get("seconds")
            s.cpu_spike_until = time.monotonic() + float(secs) if secs else 0.0
        if "delay" in changes:
            s.delay = float(changes["delay"] or 0)
        if "delays" in changes:
            delays = dict(changes["delays"] or {})
            unknown_steps = set(delays) - {"prelogin", "login", "query"}
            if unknown_steps:
                raise ValueError(f"unknown steps in delays: {sorted(unknown_steps)}")
            s.step_delays = {step: float(sec or 0) for step, sec in delays.items()}
        if "hang" in changes:
            s.hang = bool(changes["hang"])
        if "refuse_logins" in changes:
            s.refuse_logins = bool(changes["refuse_logins"])
        if "view_server_state" in changes:
            value = bool(changes["view_server_state"])
            login = changes.get("login")
            for entry in inst.config.logins:
                if login is None or entry.name.lower() == str(login).lower():
                    entry.view_server_state = value
            if login is None or "\\" in str(login):
                inst.config.windows_view_server_state = value
        if "running" in changes:
            if changes["running"]:
                await inst.start(self.host)
            else:
                await inst.stop()
        return describe(inst)

    async def reset(self) -> None:
        """Undo all steering: back to each instance's configured state."""
        for inst in self.instances.values():
            await self.steer(
                inst.config.server_name,
                cpu=None,
                delay=0,
                delays={},
                hang=inst.config.hang,
                refuse_logins=False,
                running=inst.config.running,
            )
            for lg in inst.config.logins:
                lg.view_server_state = inst.baseline_vss.get(lg.name, lg.view_server_state)
            inst.config.windows_view_server_state = inst.baseline_windows_vss

    # -- control port: tiny JSON-over-HTTP ------------------------------------------------------
    async def _control_handler(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1").strip()
            headers: dict[str, str] = {}
            while True:
                line = (await reader.readline()).decode("latin-1").strip()
                if not line:
                    break
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            body = b""
            if int(headers.get("content-length", "0") or 0):
                body = await reader.readexactly(int(headers["content-length"]))
            method, path, _ = [*request_line.split(" "), "", ""][:3]
            status, payload = await self._route(method, path, body)
        except Exception as exc:
            status, payload = 400, {"error": str(exc)}
        data = json.dumps(payload, default=str).encode()
        writer.write(
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + data
        )
        with contextlib.suppress(Exception):
            await writer.drain()
            writer.close()

    async def _route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        parts = [p for p in path.split("?")[0].split("/") if p]
        args = json.loads(body) if body else {}
        if method == "GET" and parts == ["instances"]:
            return 200, [describe(i) for i in self.instances.values()]
        if method == "POST" and parts == ["reset"]:
            await self.reset()
            return 200, {"ok": True}
        if len(parts) >= 2 and parts[0] == "instances":
            name = parts[1].replace("%5C", "\\").replace("%5c", "\\")
            try:
                inst = self[name]
            except KeyError as exc:
                return 404, {"error": str(exc)}
            if method == "GET" and len(parts) == 2:
                return 200, {**describe(inst), "metrics": inst.state.snapshot()}
            if parts[2:] == ["statements"]:
                if method == "DELETE":
                    inst.received.clear()
                    return 200, {"ok": True}
                query = urllib.parse.parse_qs(path.partition("?")[2])
                since = int(query.get("since", ["0"])[0])
                return 200, {"statements": inst.statements(since)}
            if method == "POST" and len(parts) == 3:
                action = parts[2]
                if action == "steer":
                    return 200, await self.steer(name, **args)
                if action in ("stop", "start"):
                    return 200, await self.steer(name, running=action == "start")
        return 404, {"error": f"no route {method} {path}"}


def describe(inst: Instance) -> dict[str, Any]:
    cfg = inst.config
    s = inst.steering
    return {
        "name": cfg.name,
        "server_name": cfg.server_name,
        "instance_name": cfg.instance_name,
        "port": cfg.port,
        "version": cfg.version,
        "product_version": VERSIONS[cfg.version].product_version,
        "edition": EDITIONS[cfg.edition][0],
        "running": inst.running,
        "require_encryption": cfg.require_encryption,
        "windows_logins": cfg.windows_logins,
        "logins": [
            {"name": lg.name, "view_server_state": lg.view_server_state} for lg in cfg.logins
        ],
        "steering": {
            "cpu": s.cpu_spike,
            "delay": s.delay,
            "delays": dict(s.step_delays),
            "hang": s.hang,
            "refuse_logins": s.refuse_logins,
        },
        "stats": dict(inst.stats),
    }


class FleetThread(Steering):
    """Runs a Fleet on its own event loop in a daemon thread; every method is thread-safe."""

    def __init__(
        self,
        configs: Iterable[InstanceConfig],
        *,
        registry: Registry | None = None,
        control_port: int | None = None,
    ) -> None:
        self.fleet = Fleet(configs, registry=registry)
        self._control_port = control_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="sqlsim", daemon=True)
        self._started = False

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _call(self, coro: Any, timeout: float = 120) -> Any:
        fut: concurrent.futures.Future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    def start(self) -> FleetThread:
        self._thread.start()
        self._call(self.fleet.start(self._control_port))
        self._started = True
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self._call(self.fleet.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._started = False

    def __enter__(self) -> FleetThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- handles --------------------------------------------------------------------------------
    @property
    def control_url(self) -> str | None:
        port = self.fleet.control_port
        return f"http://127.0.0.1:{port}" if port else None

    def instance(self, name: str) -> Instance:
        return self.fleet[name]

    def port(self, name: str) -> int:
        return self.fleet[name].port

    def steer(self, name: str, **changes: Any) -> dict[str, Any]:
        return self._call(self.fleet.steer(name, **changes))

    def reset(self) -> None:
        self._call(self.fleet.reset())

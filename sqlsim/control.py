"""Steering a running fleet from another process, and running a fleet as a subprocess.

The control port speaks JSON over HTTP on 127.0.0.1 (``python -m sqlsim ... --control-port P``):

    GET  /instances                     every instance: name, port, version, running, steering,
                                        stats
    GET  /instances/NAME                one instance, plus current metrics
    POST /instances/NAME/steer          body: {"cpu": 95, "seconds": 60} | {"cpu": null}
                                        | {"delay": 3} | {"hang": true}
                                        | {"delays": {"prelogin": 8, "login": 8, "query": 8}}
                                        | {"refuse_logins": true}
                                        | {"view_server_state": false, "login": "dbtools"}
                                        | {"running": false}
    POST /instances/NAME/stop           close the listener and drop its connections
    POST /instances/NAME/start          listen again on the same port
    POST /reset                         undo every steering change
    GET  /instances/NAME/statements?since=SEQ
                                        SQL batches and RPCs received (newest last, the last
                                        5,000): seq, at, kind, spid, login, database, app_name,
                                        sql
    DELETE /instances/NAME/statements   forget them

NAME is the server name (``SQLPROD01`` or ``SQLNAMED01%5CINST1``).  From a shell::

    curl -s -XPOST localhost:14329/instances/SQLPROD01/steer -d '{"cpu": 97}'
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any

from .instance import InstanceConfig
from .steering import Steering


class ControlClient(Steering):
    """Python client of the control port; every method maps to one HTTP request."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(  # noqa: S310 - loopback http only
            self.url + path, data=data, method=method
        )
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise RuntimeError(f"sqlsim control {method} {path}: {exc.code} {detail}") from exc

    @staticmethod
    def _name(name: str) -> str:
        return urllib.parse.quote(name, safe="")

    def instances(self) -> list[dict[str, Any]]:
        return self._request("GET", "/instances")

    def info(self, name: str) -> dict[str, Any]:
        """Description, steering, stats and current metrics of one instance."""
        return self._request("GET", f"/instances/{self._name(name)}")

    def stats(self, name: str) -> dict[str, int]:
        return self.info(name)["stats"]

    def steer(self, name: str, **changes: Any) -> dict[str, Any]:
        return self._request("POST", f"/instances/{self._name(name)}/steer", changes)

    def reset(self) -> None:
        self._request("POST", "/reset", {})

    def statements(self, name: str, since: int = 0) -> list[dict[str, Any]]:
        """What the instance received after sequence number `since` (see the module doc)."""
        return self._request("GET", f"/instances/{self._name(name)}/statements?since={since}")[
            "statements"
        ]

    def last_seq(self, name: str) -> int:
        """The sequence number of the last statement received (0: none), for `since`."""
        got = self.statements(name)
        return got[-1]["seq"] if got else 0

    def clear_statements(self, name: str) -> None:
        self._request("DELETE", f"/instances/{self._name(name)}/statements")


def config_to_dict(cfg: InstanceConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def _package_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SubprocessFleet(ControlClient):
    """``python -m sqlsim`` in a child process, steered through its control port."""

    host = "127.0.0.1"

    def __init__(
        self,
        configs: Iterable[InstanceConfig],
        start_timeout: float = 120.0,
        load: Iterable[str] = (),
    ) -> None:
        """``load``: modules the child imports to register extra handlers (``--load``)."""
        configs = list(configs)
        fd, self._fleet_file = tempfile.mkstemp(prefix="sqlsim-fleet-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"instances": [config_to_dict(c) for c in configs]}, fh)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_package_root(), env.get("PYTHONPATH", "")) if p
        )
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sqlsim",
                "--fleet",
                self._fleet_file,
                "--control-port",
                "0",
                "--json",
                "--exit-with-parent",
                *[arg for module in load for arg in ("--load", module)],
            ],
            stdout=subprocess.PIPE,
            stderr=None,
            env=env,
            text=True,
        )
        line = self._read_ready_line(start_timeout)
        ready = json.loads(line)
        super().__init__(f"http://127.0.0.1:{ready['control_port']}")
        self._ports = {i["server_name"].upper(): i["port"] for i in ready["instances"]}
        self._by_machine = {i["name"].upper(): i["server_name"].upper() for i in ready["instances"]}
        self._names = [i["server_name"] for i in ready["instances"]]
        # keep draining stdout so the child never blocks on a full pipe
        threading.Thread(target=self._drain, daemon=True).start()

    def _read_ready_line(self, timeout: float) -> str:
        result: list[str] = []
        reader = threading.Thread(
            target=lambda: result.append(self.proc.stdout.readline() if self.proc.stdout else ""),
            daemon=True,
        )
        reader.start()
        reader.join(timeout)
        if not result or not result[0].startswith("{"):
            self.close()
            raise RuntimeError("sqlsim subprocess did not start")
        return result[0]

    def _drain(self) -> None:
        if self.proc.stdout is not None:
            for _ in self.proc.stdout:
                pass

    @property
    def control_url(self) -> str:
        return self.url

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def port(self, name: str) -> int:
        key = name.upper()
        key = self._by_machine.get(key, key) if key not in self._ports else key
        return self._ports[key]

    def address(self, name: str) -> tuple[str, int]:
        return self.host, self.port(name)

    def close(self, timeout: float = 15.0) -> int | None:
        """Stop the child (SIGTERM, then SIGKILL) and return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        with contextlib.suppress(OSError):
            os.unlink(self._fleet_file)
        return self.proc.returncode

    def __enter__(self) -> SubprocessFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

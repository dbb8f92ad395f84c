"""The steering vocabulary shared by every handle on a fleet (in-process or over the control
port): each method is one `steer(name, **changes)`."""

from __future__ import annotations

from typing import Any


class Steering:
    """Named steering changes; a subclass supplies `steer`."""

    def steer(self, name: str, **changes: Any) -> dict[str, Any]:
        raise NotImplementedError

    def spike_cpu(self, name: str, percent: float = 95.0, seconds: float | None = None) -> None:
        self.steer(name, cpu=percent, seconds=seconds)

    def clear_cpu(self, name: str) -> None:
        self.steer(name, cpu=None)

    def slow(self, name: str, delay: float) -> None:
        self.steer(name, delay=delay)

    def slow_steps(self, name: str, **delays: float) -> None:
        """Delay only some steps: ``slow_steps(name, prelogin=8, login=8, query=8)``."""
        self.steer(name, delays=delays)

    def hang(self, name: str, on: bool = True) -> None:
        self.steer(name, hang=on)

    def stop_instance(self, name: str) -> None:
        self.steer(name, running=False)

    def start_instance(self, name: str) -> None:
        self.steer(name, running=True)

    def refuse_logins(self, name: str, on: bool = True) -> None:
        self.steer(name, refuse_logins=on)

    def set_view_server_state(self, name: str, granted: bool, login: str | None = None) -> None:
        self.steer(name, view_server_state=granted, login=login)

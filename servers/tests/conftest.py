"""Fixtures shared by the servers app's tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connections

from servers import target_limits


@pytest.fixture
def hold_target_slots() -> Iterator[Callable[..., Callable[[], None]]]:
    """``release = hold_target_slots(user, n)``: n requests of ``user`` (None: of nobody in
    particular) busy with instances, each in its own thread and database session as requests in
    other threads and processes are, until ``release()`` or the end of the test."""
    holders: list[tuple[threading.Event, threading.Thread]] = []

    def hold(user: Any, n: int = 1) -> Callable[[], None]:
        mine: list[tuple[threading.Event, threading.Thread]] = []
        for _ in range(n):
            entered, stop = threading.Event(), threading.Event()
            failure: list[BaseException] = []

            def run(
                entered: threading.Event = entered,
                stop: threading.Event = stop,
                failure: list[BaseException] = failure,
            ) -> None:
                try:
                    with target_limits.target_slot(user):
                        entered.set()
                        stop.wait(60)
                except BaseException as exc:
                    failure.append(exc)
                    entered.set()
                finally:
                    connections.close_all()

            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            assert entered.wait(10), "the slot holder did not start"
            if failure:
                raise failure[0]
            mine.append((stop, thread))
        holders.extend(mine)

        def release() -> None:
            for stop, thread in mine:
                stop.set()
                thread.join(10)

        return release

    yield hold
    for stop, thread in holders:
        stop.set()
        thread.join(10)

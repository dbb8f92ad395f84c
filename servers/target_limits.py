"""How many web requests may wait on monitored SQL Server instances at once.

A connection test holds its request thread while the instance answers: up to the whole test's
time limit when the instance is slow or hung. gunicorn runs only a few threads per process, so
a handful of such tests, from one user or from several, would hold every thread, and every
other page and API call would queue behind them. Each request that contacts an instance takes
a slot first, with ``target_slot(user)``:

- per process, at most ``DBTOOLS_TARGET_REQUESTS_PER_PROCESS`` at once (default: one fewer
  than the web threads), so every process keeps a thread for everything else;
- per user, at most ``DBTOOLS_TARGET_REQUESTS_PER_USER`` at once over every process and node,
  counted with PostgreSQL advisory locks in the system database. A lock lasts as long as the
  database session that took it, so a process that dies never leaves a slot taken.

A request over either limit is refused at once with ``TargetsBusy``, never queued: waiting for
a slot would hold the thread just the same.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

# Seconds a refused client is told to wait (a test ends within about 10), drawn from a range:
# clients refused together would otherwise all come back in the same instant, again and again.
RETRY_AFTER = (3, 7)

# First key of the advisory locks, one per slot number: ("DB" << 16) + slot. The second key is
# the user's id. Nothing else in DbTools takes advisory locks in the system database.
_LOCK_SPACE = 0x4442 << 16

_process_lock = threading.Lock()
_process_running = 0


class TargetsBusy(Exception):
    """Too many requests already wait on instances; ``message`` says so to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = random.randint(*RETRY_AFTER)


def per_process_limit() -> int:
    return max(1, int(settings.DBTOOLS_TARGET_REQUESTS_PER_PROCESS))


def per_user_limit() -> int:
    return max(1, int(settings.DBTOOLS_TARGET_REQUESTS_PER_USER))


@contextlib.contextmanager
def target_slot(user: Any) -> Iterator[None]:
    """Hold one slot of this process and one of ``user`` while the block runs.

    Raises TargetsBusy at once when either limit is reached.
    """
    _take_process_slot()
    try:
        with _user_slot(getattr(user, "pk", None)):
            yield
    finally:
        _release_process_slot()


def _tests(n: int) -> str:
    return f"{n} connection test" if n == 1 else f"{n} connection tests"


def _take_process_slot() -> None:
    global _process_running
    limit = per_process_limit()
    with _process_lock:
        if _process_running >= limit:
            raise TargetsBusy(f"{_tests(limit)} already running; try again in a few seconds.")
        _process_running += 1


def _release_process_slot() -> None:
    global _process_running
    with _process_lock:
        _process_running -= 1


@contextlib.contextmanager
def _user_slot(user_id: int | None) -> Iterator[None]:
    if user_id is None:  # nobody to count against (the views let only members in)
        yield
        return
    limit = per_user_limit()
    connection = connections[DEFAULT_DB_ALIAS]
    held: int | None = None
    with connection.cursor() as cur:
        # One statement per slot, so exactly one lock is taken (a single query over all the
        # slots could take several before its LIMIT stops it).
        for slot in range(limit):
            cur.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_SPACE + slot, user_id])
            if cur.fetchone()[0]:
                held = slot
                break
    if held is None:
        raise TargetsBusy(f"You already have {_tests(limit)} running; try again in a few seconds.")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_SPACE + held, user_id])
        except DatabaseError:
            # The session is unusable (e.g. inside a failed transaction): ending it releases
            # its locks too.
            connection.close()

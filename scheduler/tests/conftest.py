"""Scheduler tests drive the engine's steps themselves. Task queueing is synchronous in tests, so
"run now" would otherwise run its job inside the action; tests that want the real path through
the clusters ask for the `dispatching` fixture."""

import pytest


@pytest.fixture
def dispatching() -> None:
    """Let actions queue their visits (run inline: Q_CLUSTER sync in tests)."""


@pytest.fixture(autouse=True)
def _hold_dispatch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    queued: list[tuple] = []
    if "dispatching" not in request.fixturenames:
        monkeypatch.setattr(
            "scheduler.actions.enqueue", lambda *args, **kw: queued.append((args, kw))
        )
    return queued

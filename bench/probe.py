"""A "run now" stand-in the engine benchmark queues on the interactive cluster (its own module:
workers import it, and importing bench/engine.py would set up a benchmark)."""

import time


def probe(queued_at: float) -> float:
    """How long the task waited between being queued and starting."""
    return time.time() - queued_at

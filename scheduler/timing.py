"""When a job runs: next run times for once, interval and cron schedules, and what to do after
downtime. Pure functions of their arguments (the clock is passed in), so the engine, the API's
next-runs preview and the wizard all agree, and the rules are tested without a database.

Cron expressions are evaluated in the job's own IANA time zone, on local wall-clock time, and then
mapped to real instants. Wall-clock time is not a line on DST days, so two rules are explicit:

- a local time that does not exist (the hour skipped in spring) runs once, at the first valid
  instant after the gap (02:30 on a 02:00 -> 03:00 change runs at 03:00);
- a local time that occurs twice (the hour repeated in autumn) runs once, at its first occurrence.

Interval schedules count real seconds from their anchor and ignore DST; a job every 24 h drifts
by an hour against the local clock across a change, as an interval should.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cron_descriptor import ExpressionDescriptor, Options
from croniter import CroniterBadCronError, CroniterBadDateError, croniter

UTC = dt.UTC
# An expression that matches (almost) never, such as 30 February, must not make the search spin.
_MAX_YEARS_BETWEEN_RUNS = 8


class ScheduleType(enum.StrEnum):
    ONCE = "once"
    INTERVAL = "interval"
    CRON = "cron"
    EVENT = "event"


class Misfire(enum.StrEnum):
    """After downtime: run the missed work once now, or skip to the next slot."""

    RUN_ONCE = "run_once"
    SKIP = "skip"


class ScheduleError(ValueError):
    """A schedule that cannot be evaluated; `field` names the offending input for a 400."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Schedule:
    type: ScheduleType
    tz: str = "UTC"
    expression: str = ""  # cron
    interval_seconds: int = 0  # interval
    anchor: dt.datetime | None = None  # interval: slots are anchor + k * interval; once: the run

    def zone(self) -> ZoneInfo:
        return zone(self.tz)


@dataclass(frozen=True)
class Slot:
    """A planned run: the instant, and a note when DST moved or merged it."""

    at: dt.datetime
    note: str = ""


def zone(name: str) -> ZoneInfo:
    if name not in _zones():
        raise ScheduleError("timezone", f"Unknown time zone {name!r}; use an IANA name.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError("timezone", f"Unknown time zone {name!r}; use an IANA name.") from exc


_ZONES: frozenset[str] | None = None


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


def validate(schedule: Schedule) -> None:
    """Raise ScheduleError (with the field) for a schedule that can never be evaluated."""
    schedule.zone()
    if schedule.type == ScheduleType.CRON:
        expr = schedule.expression.strip()
        # Five fields only: seconds or years in a sixth field are not cron as DBAs know it.
        if len(expr.split()) != 5:
            raise ScheduleError(
                "expression", "A cron expression has five fields: minute hour day month weekday."
            )
        try:
            croniter(expr, dt.datetime(2000, 1, 1))
        except (CroniterBadCronError, ValueError, KeyError) as exc:
            raise ScheduleError("expression", f"Not a valid cron expression: {exc}") from exc
        probe = Schedule(ScheduleType.CRON, tz=schedule.tz, expression=expr)
        if not slots_after(probe, dt.datetime(2000, 1, 1, tzinfo=UTC)):
            raise ScheduleError("expression", "This cron expression never matches a date.")
    elif schedule.type == ScheduleType.INTERVAL:
        if schedule.interval_seconds < 60:
            raise ScheduleError("interval_seconds", "The interval must be at least 60 seconds.")
        if schedule.interval_seconds > 366 * 86400:
            raise ScheduleError("interval_seconds", "The interval must be at most a year.")
    elif schedule.type == ScheduleType.ONCE and schedule.anchor is None:
        raise ScheduleError("run_at", "A one-off job needs the time it runs.")


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return value.astimezone(UTC)


def _exists(local: dt.datetime, tz: ZoneInfo) -> bool:
    there = local.replace(tzinfo=tz)
    return there.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local


def _gap_end(local: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The first valid instant after a nonexistent local time: the moment the clocks jumped."""
    lo = local.replace(tzinfo=tz, fold=1).astimezone(UTC)  # offset after the change: earlier
    hi = local.replace(tzinfo=tz, fold=0).astimezone(UTC)  # offset before the change: later
    lo, hi = min(lo, hi), max(lo, hi)
    after = hi.astimezone(tz).utcoffset()
    while hi - lo > dt.timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def _to_instant(local: dt.datetime, tz: ZoneInfo) -> Slot:
    if not _exists(local, tz):
        at = _gap_end(local, tz)
        return Slot(
            at,
            f"{local:%H:%M} does not exist on {local:%Y-%m-%d} (clocks go forward); "
            f"runs at {at.astimezone(tz):%H:%M}",
        )
    first = local.replace(tzinfo=tz, fold=0)
    second = local.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        return Slot(
            first.astimezone(UTC),
            f"{local:%H:%M} occurs twice on {local:%Y-%m-%d} (clocks go back); "
            "runs once, the first time",
        )
    return Slot(first.astimezone(UTC))


def iter_slots(schedule: Schedule, after: dt.datetime) -> Iterator[Slot]:
    """Runs strictly after `after` (an aware instant), in order, lazily."""
    after = _aware(after)
    if schedule.type == ScheduleType.EVENT:
        return
    if schedule.type == ScheduleType.ONCE:
        at = _aware(schedule.anchor) if schedule.anchor else None
        if at and at > after:
            yield Slot(at)
        return
    if schedule.type == ScheduleType.INTERVAL:
        step = dt.timedelta(seconds=schedule.interval_seconds)
        anchor = _aware(schedule.anchor) if schedule.anchor else after
        k = int((after - anchor) // step) + 1 if after >= anchor else 0
        while True:
            yield Slot(anchor + k * step)
            k += 1
    tz = schedule.zone()
    last: dt.datetime | None = None
    # Start an hour early in local time: a slot merged into the end of a DST gap can fall after
    # `after` although its local time is before it.
    local_after = after.astimezone(tz).replace(tzinfo=None) - dt.timedelta(hours=1)
    it = croniter(
        schedule.expression, local_after, max_years_between_matches=_MAX_YEARS_BETWEEN_RUNS
    )
    while True:
        try:
            local = it.get_next(dt.datetime)
        except CroniterBadDateError:
            return
        slot = _to_instant(local, tz)
        if slot.at <= after or (last is not None and slot.at <= last):
            continue  # before the start, or merged into the previous run by a DST gap
        last = slot.at
        yield slot


def slots_after(schedule: Schedule, after: dt.datetime, count: int = 1) -> list[Slot]:
    """The next `count` runs strictly after `after`."""
    return list(itertools.islice(iter_slots(schedule, after), count))


def next_run(schedule: Schedule, after: dt.datetime) -> dt.datetime | None:
    slots = slots_after(schedule, after, 1)
    return slots[0].at if slots else None


@dataclass(frozen=True)
class Plan:
    """What the engine does with a job whose run was due at `due` when it looks at `now`."""

    run_now: bool
    missed: int  # slots that passed unrun (recorded as missed, never as failures)
    next_at: dt.datetime | None  # the slot to wait for after this decision


def plan(
    schedule: Schedule,
    due: dt.datetime,
    now: dt.datetime,
    *,
    misfire: Misfire = Misfire.RUN_ONCE,
    grace_seconds: int = 60,
) -> Plan:
    """Decide what a due run does, never a burst: a run found within `grace_seconds` of its slot
    just runs; one found later (the engine was down) follows the misfire policy, and every other
    slot that passed meanwhile counts as missed."""
    due, now = _aware(due), _aware(now)
    if due > now:
        return Plan(run_now=False, missed=0, next_at=due)
    later = _count_between(schedule, due, now)
    following = next_run(schedule, now)
    if (now - due).total_seconds() <= grace_seconds:
        return Plan(run_now=True, missed=later, next_at=following)
    if misfire == Misfire.RUN_ONCE:
        return Plan(run_now=True, missed=later, next_at=following)
    return Plan(run_now=False, missed=later + 1, next_at=following)


def _count_between(
    schedule: Schedule, start: dt.datetime, end: dt.datetime, cap: int = 10_000
) -> int:
    """Slots strictly after `start` and at or before `end` (capped: only a count is needed)."""
    n = 0
    for slot in iter_slots(schedule, start):
        if slot.at > end or n >= cap:
            break
        n += 1
    return n


def describe(schedule: Schedule) -> str:
    """The schedule in words, as the job list and the wizard preview show it."""
    if schedule.type == ScheduleType.CRON:
        options = Options()
        options.use_24hour_time_format = True
        options.verbose = True
        words = ExpressionDescriptor(schedule.expression, options).get_description()
        return f"{words} ({schedule.tz})"
    if schedule.type == ScheduleType.INTERVAL:
        return "Every " + _duration(schedule.interval_seconds)
    if schedule.type == ScheduleType.ONCE and schedule.anchor:
        at = schedule.anchor.astimezone(schedule.zone())
        return f"Once, at {at:%Y-%m-%d %H:%M} ({schedule.tz})"
    return "When an event occurs"


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return unit if n == 1 else f"{n} {unit}s"
    return f"{seconds} seconds"

"""Seven days of a job's runs, day by day: the runs that happened (with their status) and the
runs its schedule will start (with DST notes), for the job's page and the fleet's timeline.

Days run midnight to midnight in one time zone (the job's on its page, UTC for the fleet). A
busy day (a job every few minutes) is summed up by status rather than listed run by run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from scheduler import timing
from scheduler.models import Job, JobRun

DAYS = 7
MARKS_PER_DAY = 6  # more than this in a day is shown as counts by status
SLOTS_PER_JOB = 1000  # upcoming slots looked at per job and window, so a per-minute job is cheap
RUNS_PER_WINDOW = 20_000
PLANNED = "planned"


@dataclass
class Mark:
    at: dt.datetime
    time: str  # local, HH:MM
    status: str  # a run's status, or "planned"
    run_id: int | None = None
    note: str = ""
    look: dict[str, str] = field(default_factory=dict)  # how the page shows the status


@dataclass
class Day:
    date: dt.date
    today: bool
    marks: list[Mark] = field(default_factory=list)
    more_planned: bool = False  # the schedule has more runs this day than were looked at
    count_looks: list[tuple[dict[str, str], int]] = field(default_factory=list)  # for the page

    @property
    def busy(self) -> bool:
        return len(self.marks) > MARKS_PER_DAY

    def counts(self) -> list[tuple[str, int]]:
        """(status, how many) in a stable order, for a busy day."""
        found: dict[str, int] = {}
        for m in self.marks:
            found[m.status] = found.get(m.status, 0) + 1
        return sorted(found.items(), key=lambda kv: (kv[0] == PLANNED, kv[0]))


@dataclass
class Row:
    job: Job
    days: list[Day]


@dataclass(frozen=True)
class Window:
    first: dt.date
    tz: ZoneInfo

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time(), self.tz).astimezone(dt.UTC)

    @property
    def end(self) -> dt.datetime:
        last = self.first + dt.timedelta(days=DAYS)
        return dt.datetime.combine(last, dt.time(), self.tz).astimezone(dt.UTC)

    def dates(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range(DAYS)]

    def earlier(self) -> dt.date:
        return self.first - dt.timedelta(days=DAYS)

    def later(self) -> dt.date:
        return self.first + dt.timedelta(days=DAYS)


def window(tz: ZoneInfo, now: dt.datetime, first: str | None = None) -> Window:
    """Seven days from `first` (YYYY-MM-DD), by default from today in `tz`."""
    try:
        day = dt.date.fromisoformat(first) if first else None
    except ValueError:
        day = None
    return Window(day or now.astimezone(tz).date(), tz)


def rows(jobs: Iterable[Job], win: Window, now: dt.datetime) -> list[Row]:
    """Each job's days in the window: its runs from the database, its planned runs after now."""
    jobs = list(jobs)
    runs = (
        JobRun.objects.filter(job__in=jobs, scheduled_for__gte=win.start, scheduled_for__lt=win.end)
        .order_by("scheduled_for", "id")
        .values_list("job_id", "pk", "scheduled_for", "status")[:RUNS_PER_WINDOW]
    )
    by_job: dict[int, list[Mark]] = {}
    for job_id, pk, at, status in runs:
        by_job.setdefault(job_id, []).append(_mark(at, win.tz, status, pk))
    out = []
    for job in jobs:
        marks = by_job.get(job.pk, [])
        planned, capped = _planned(job, win, now)
        out.append(Row(job, _days(marks + planned, win, now, capped)))
    return out


def _mark(
    at: dt.datetime, tz: ZoneInfo, status: str, run_id: int | None = None, note: str = ""
) -> Mark:
    return Mark(at, f"{at.astimezone(tz):%H:%M}", status, run_id, note)


def _planned(job: Job, win: Window, now: dt.datetime) -> tuple[list[Mark], dt.datetime | None]:
    """The schedule's runs from now (or the window's start) to its end; and where looking
    stopped early, if it did."""
    if not job.is_enabled or job.schedule_type == Job.ScheduleType.EVENT or job.deleted_at:
        return [], None
    marks: list[Mark] = []
    after = max(now, win.start)
    for slot in timing.iter_slots(job.schedule(), after):
        if slot.at >= win.end:
            return marks, None
        if len(marks) >= SLOTS_PER_JOB:
            return marks, slot.at
        marks.append(_mark(slot.at, win.tz, PLANNED, note=slot.note))
    return marks, None


def _days(
    marks: list[Mark], win: Window, now: dt.datetime, capped: dt.datetime | None
) -> list[Day]:
    today = now.astimezone(win.tz).date()
    days = {d: Day(d, d == today) for d in win.dates()}
    for m in sorted(marks, key=lambda m: m.at):
        day = days.get(m.at.astimezone(win.tz).date())
        if day is not None:
            day.marks.append(m)
    if capped is not None:
        stop = capped.astimezone(win.tz).date()
        for d, day in days.items():
            day.more_planned = d >= stop
    return list(days.values())

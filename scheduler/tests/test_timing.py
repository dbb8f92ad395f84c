"""Schedule arithmetic with a controllable clock: no database, no waiting."""

import datetime as dt

import pytest

from scheduler.timing import (
    Misfire,
    Schedule,
    ScheduleError,
    ScheduleType,
    next_run,
    plan,
    slots_after,
    validate,
)

UTC = dt.UTC
BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def cron(expr: str, tz: str = "UTC") -> Schedule:
    return Schedule(ScheduleType.CRON, tz=tz, expression=expr)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def local_times(schedule: Schedule, after: dt.datetime, count: int) -> list[str]:
    tz = schedule.zone()
    return [f"{s.at.astimezone(tz):%m-%d %H:%M%z}" for s in slots_after(schedule, after, count)]


def test_daily_cron_runs_at_local_time_in_the_jobs_zone():
    assert local_times(cron("0 2 * * *", NEW_YORK), utc(2026, 6, 1), 2) == [
        "06-01 02:00-0400",
        "06-02 02:00-0400",
    ]


def test_a_local_time_skipped_in_spring_runs_once_when_the_clocks_jump():
    # Berlin, 29 March 2026: 02:00 CET becomes 03:00 CEST, so 02:30 does not exist that day.
    s = cron("30 2 * * *", BERLIN)
    slots = slots_after(s, utc(2026, 3, 27), 4)
    assert [f"{x.at.astimezone(s.zone()):%m-%d %H:%M}" for x in slots] == [
        "03-27 02:30",
        "03-28 02:30",
        "03-29 03:00",
        "03-30 02:30",
    ]
    assert "does not exist" in slots[2].note
    assert slots[0].note == ""


def test_slots_inside_the_spring_gap_merge_into_one_run():
    # Every 15 minutes: 02:00, 02:15, 02:30 and 02:45 are all skipped, and 03:00 is the gap's
    # end: one run at 03:00, not five.
    s = cron("*/15 * * * *", BERLIN)
    assert local_times(s, utc(2026, 3, 29, 0, 40), 4) == [
        "03-29 01:45+0100",
        "03-29 03:00+0200",
        "03-29 03:15+0200",
        "03-29 03:30+0200",
    ]


def test_a_local_time_repeated_in_autumn_runs_once_the_first_time():
    # Berlin, 25 October 2026: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice.
    s = cron("30 2 * * *", BERLIN)
    slots = slots_after(s, utc(2026, 10, 24), 3)
    assert [x.at for x in slots] == [
        utc(2026, 10, 24, 0, 30),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
    ]
    assert "occurs twice" in slots[1].note


def test_the_repeated_hour_does_not_run_hourly_jobs_twice():
    s = cron("0 * * * *", NEW_YORK)  # 1 November 2026: 02:00 EDT becomes 01:00 EST
    got = local_times(s, utc(2026, 11, 1, 4, 30), 3)
    assert got == ["11-01 01:00-0400", "11-01 02:00-0500", "11-01 03:00-0500"]


def test_interval_counts_real_seconds_across_dst():
    s = Schedule(
        ScheduleType.INTERVAL, tz=BERLIN, interval_seconds=86400, anchor=utc(2026, 3, 28, 1)
    )
    assert [x.at for x in slots_after(s, utc(2026, 3, 28, 1), 2)] == [
        utc(2026, 3, 29, 1),
        utc(2026, 3, 30, 1),
    ]


def test_interval_slots_keep_their_anchor_after_a_pause():
    s = Schedule(ScheduleType.INTERVAL, interval_seconds=600, anchor=utc(2026, 1, 1))
    assert next_run(s, utc(2026, 1, 1, 5, 3)) == utc(2026, 1, 1, 5, 10)
    assert next_run(s, utc(2026, 1, 1, 5, 10)) == utc(2026, 1, 1, 5, 20)


def test_month_ends_and_leap_days():
    assert local_times(cron("0 3 31 * *"), utc(2026, 1, 31, 4), 3) == [
        "03-31 03:00+0000",
        "05-31 03:00+0000",
        "07-31 03:00+0000",
    ]
    assert next_run(cron("0 0 29 2 *"), utc(2026, 1, 1)) == utc(2028, 2, 29)


def test_once_runs_at_its_time_and_never_again():
    s = Schedule(ScheduleType.ONCE, anchor=utc(2026, 5, 1, 12))
    assert next_run(s, utc(2026, 5, 1)) == utc(2026, 5, 1, 12)
    assert next_run(s, utc(2026, 5, 1, 12)) is None


def test_event_schedules_have_no_clock_runs():
    assert slots_after(Schedule(ScheduleType.EVENT), utc(2026, 1, 1), 5) == []


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        (cron("61 * * * *"), "expression"),
        (cron("* * * *"), "expression"),
        (cron("0 0 * * * *"), "expression"),
        (cron("0 0 30 2 *"), "expression"),
        (cron("0 2 * * *", "Mars/Olympus"), "timezone"),
        (Schedule(ScheduleType.INTERVAL, interval_seconds=59), "interval_seconds"),
        (Schedule(ScheduleType.INTERVAL, interval_seconds=367 * 86400), "interval_seconds"),
        (Schedule(ScheduleType.ONCE), "run_at"),
    ],
)
def test_schedules_that_cannot_run_are_refused_with_the_field(schedule, field):
    with pytest.raises(ScheduleError) as err:
        validate(schedule)
    assert err.value.field == field


def test_limits_are_accepted_at_the_limit():
    validate(Schedule(ScheduleType.INTERVAL, interval_seconds=60))
    validate(Schedule(ScheduleType.INTERVAL, interval_seconds=366 * 86400))
    validate(cron("0 0 29 2 *"))


def test_a_run_found_on_time_just_runs():
    s = cron("0 * * * *")
    p = plan(s, utc(2026, 1, 1, 10), utc(2026, 1, 1, 10, 0, 20))
    assert p.run_now and p.missed == 0 and p.next_at == utc(2026, 1, 1, 11)


def test_after_downtime_run_once_coalesces_every_missed_slot():
    s = cron("*/5 * * * *")
    p = plan(s, utc(2026, 1, 1, 10), utc(2026, 1, 1, 11, 2), misfire=Misfire.RUN_ONCE)
    assert p.run_now
    assert p.missed == 12  # 10:05 ... 11:00: recorded as missed, not run in a burst
    assert p.next_at == utc(2026, 1, 1, 11, 5)


def test_after_downtime_skip_runs_nothing_until_the_next_slot():
    s = cron("*/5 * * * *")
    p = plan(s, utc(2026, 1, 1, 10), utc(2026, 1, 1, 11, 2), misfire=Misfire.SKIP)
    assert not p.run_now
    assert p.missed == 13
    assert p.next_at == utc(2026, 1, 1, 11, 5)


def test_grace_is_inclusive_at_its_limit_and_misfire_applies_past_it():
    s = cron("0 * * * *")
    at_limit = plan(s, utc(2026, 1, 1, 10), utc(2026, 1, 1, 10, 1), misfire=Misfire.SKIP)
    past = plan(s, utc(2026, 1, 1, 10), utc(2026, 1, 1, 10, 1, 1), misfire=Misfire.SKIP)
    assert at_limit.run_now
    assert not past.run_now and past.missed == 1


def test_a_week_of_minutely_downtime_is_counted_quickly_and_capped():
    s = cron("* * * * *")
    p = plan(s, utc(2026, 1, 1), utc(2026, 1, 8), misfire=Misfire.RUN_ONCE)
    assert p.missed == 10_000


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_run(cron("0 * * * *"), dt.datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        (cron("0 2 * * *", BERLIN), "At 02:00, every day (Europe/Berlin)"),
        (Schedule(ScheduleType.INTERVAL, interval_seconds=900), "Every 15 minutes"),
        (Schedule(ScheduleType.INTERVAL, interval_seconds=86400), "Every day"),
        (Schedule(ScheduleType.INTERVAL, interval_seconds=90), "Every 90 seconds"),
        (
            Schedule(ScheduleType.ONCE, tz=BERLIN, anchor=utc(2026, 7, 1, 10)),
            "Once, at 2026-07-01 12:00 (Europe/Berlin)",
        ),
    ],
)
def test_schedules_read_as_words(schedule, words):
    from scheduler.timing import describe

    assert describe(schedule) == words

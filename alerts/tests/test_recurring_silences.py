"""Maintenance windows that recur daily or weekly in a time zone: they follow the local wall
clock across daylight-saving changes, respect their weekdays and end date, and a recurring series
ends when a DBA ends it."""

import datetime as dt
import zoneinfo

import pytest

from alerts import actions
from alerts.models import Silence

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]
UTC = dt.UTC
LONDON = zoneinfo.ZoneInfo("Europe/London")


def at(*args):
    return dt.datetime(*args, tzinfo=UTC)


def window(servers, admin_user, **data):
    return actions.create_silence({"server": servers[0], **data}, acting_user=admin_user)


def test_a_weekly_window_keeps_its_local_hours_across_daylight_saving(servers, admin_user):
    # Sundays 00:30-02:30 in London, first on Sunday 1 March 2026 (GMT).
    s = window(
        servers,
        admin_user,
        repeat="weekly",
        weekdays=[7],
        time_zone="Europe/London",
        starts_at=dt.datetime(2026, 3, 1, 0, 30, tzinfo=LONDON),
        ends_at=dt.datetime(2026, 3, 1, 2, 30, tzinfo=LONDON),
    )
    # A GMT Sunday: 00:30-02:30 UTC.
    assert actions.is_open(s, at(2026, 3, 22, 0, 31))
    assert actions.is_open(s, at(2026, 3, 22, 2, 29))
    assert not actions.is_open(s, at(2026, 3, 22, 2, 31))
    # Monday: not a chosen day.
    assert not actions.is_open(s, at(2026, 3, 23, 1, 0))
    # 29 March, clocks go forward at 01:00 UTC: the window still ends at 02:30 on the wall
    # clock, which is 01:30 UTC (a window fixed in UTC would still be open at 01:45).
    assert actions.is_open(s, at(2026, 3, 29, 1, 15))
    assert not actions.is_open(s, at(2026, 3, 29, 1, 45))
    # A BST Sunday: 23:30 UTC Saturday to 01:30 UTC Sunday.
    assert actions.is_open(s, at(2026, 4, 4, 23, 45))
    assert not actions.is_open(s, at(2026, 4, 5, 1, 45))
    # 25 October, clocks go back at 01:00 UTC: 00:30 BST (23:30 UTC) to 02:30 GMT (02:30 UTC),
    # three real hours.
    assert actions.is_open(s, at(2026, 10, 24, 23, 45))
    assert actions.is_open(s, at(2026, 10, 25, 2, 15))
    assert not actions.is_open(s, at(2026, 10, 25, 2, 45))
    # Before the first window nothing is open.
    assert not actions.is_open(s, at(2026, 2, 22, 1, 0))


def test_a_daily_window_across_midnight_and_its_end_date(servers, admin_user):
    # Every night 23:00-01:00 New York time, until 10 January 2026.
    ny = zoneinfo.ZoneInfo("America/New_York")
    s = window(
        servers,
        admin_user,
        repeat="daily",
        time_zone="America/New_York",
        starts_at=dt.datetime(2026, 1, 1, 23, 0, tzinfo=ny),
        ends_at=dt.datetime(2026, 1, 2, 1, 0, tzinfo=ny),
        repeat_until=dt.date(2026, 1, 10),
    )
    # 00:30 New York on 6 January is 05:30 UTC: the window that began on the 5th.
    assert actions.is_open(s, at(2026, 1, 6, 5, 30))
    assert not actions.is_open(s, at(2026, 1, 6, 6, 30))
    # The last window starts on the 10th and runs past midnight into the 11th.
    assert actions.is_open(s, at(2026, 1, 11, 5, 30))
    assert not actions.is_open(s, at(2026, 1, 12, 4, 30))
    assert "daily 23:00-01:00 America/New_York" in s.schedule()


def test_recurring_windows_are_checked(servers, admin_user):
    start = dt.datetime(2026, 3, 1, 0, 30, tzinfo=UTC)
    cases = [
        ({"repeat": "weekly", "weekdays": []}, "weekdays"),
        ({"repeat": "weekly", "weekdays": [0, 8]}, "weekdays"),
        ({"repeat": "daily", "ends_at": start + dt.timedelta(hours=25)}, "ends_at"),
        ({"repeat": "daily", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"repeat": "daily", "repeat_until": dt.date(2026, 2, 1)}, "repeat_until"),
        ({"repeat_until": dt.date(2026, 4, 1)}, "repeat_until"),
    ]
    for extra, field in cases:
        data = {"starts_at": start, "ends_at": start + dt.timedelta(hours=2), **extra}
        with pytest.raises(actions.ActionError) as err:
            window(servers, admin_user, **data)
        assert field in err.value.errors, (extra, err.value.errors)
    assert not Silence.objects.exists()  # nothing half-written


def test_ending_a_recurring_window_ends_the_series(servers, admin_user):
    now = dt.datetime.now(UTC)
    s = window(
        servers,
        admin_user,
        repeat="daily",
        starts_at=now - dt.timedelta(days=3, minutes=30),
        ends_at=now - dt.timedelta(days=3) + dt.timedelta(minutes=30),
    )
    assert actions.is_open(s)
    actions.end_silence(s, acting_user=admin_user)
    s.refresh_from_db()
    assert not actions.is_open(s)
    assert not actions.is_open(s, now + dt.timedelta(days=1))
    assert actions.is_over(s)

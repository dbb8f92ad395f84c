"""Daily range partitions of the time-series tables: created ahead of time, dropped whole when
past retention (a DROP TABLE costs nothing next to DELETEing millions of rows)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.db import connections

# table -> partition key column
PARTITIONED = {
    "metrics": "collected_at",
    "metric_rollups_5m": "bucket",
    "server_snapshots": "collected_at",
    "wait_stats": "collected_at",
    "file_io_stats": "collected_at",
}
_NAME = re.compile(r"^(?P<table>[a-z0-9_]+)_p(?P<day>\d{8})$")


def partition_name(table: str, day: dt.date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def existing(cursor: Any) -> dict[str, set[dt.date]]:
    cursor.execute(
        """SELECT parent.relname, child.relname FROM pg_inherits
           JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
           JOIN pg_class child ON child.oid = pg_inherits.inhrelid
           WHERE parent.relname = ANY(%s)""",
        [list(PARTITIONED)],
    )
    found: dict[str, set[dt.date]] = {t: set() for t in PARTITIONED}
    for parent, child in cursor.fetchall():
        m = _NAME.match(child)
        if m and m["table"] == parent:
            found[parent].add(dt.datetime.strptime(m["day"], "%Y%m%d").date())
    return found


def ensure(alias: str, start: dt.date, end: dt.date) -> int:
    """Create the missing daily partitions for days start..end (inclusive)."""
    created = 0
    with connections[alias].cursor() as cur:
        have = existing(cur)
        day = start
        while day <= end:
            for table in PARTITIONED:
                if day in have[table]:
                    continue
                lo = dt.datetime.combine(day, dt.time(), dt.UTC)
                hi = lo + dt.timedelta(days=1)
                cur.execute(
                    f'CREATE TABLE IF NOT EXISTS "{partition_name(table, day)}" PARTITION OF '
                    f'"{table}" FOR VALUES FROM (%s) TO (%s)',
                    [lo, hi],
                )
                created += 1
            day += dt.timedelta(days=1)
    return created


def ensure_around(alias: str, now: dt.datetime | None = None, ahead: int = 2) -> int:
    today = (now or dt.datetime.now(dt.UTC)).date()
    return ensure(alias, today - dt.timedelta(days=1), today + dt.timedelta(days=ahead))


def drop_older_than(alias: str, cutoff: dt.date) -> list[str]:
    """Drop every partition whose whole day lies before `cutoff`. Returns the names dropped."""
    dropped = []
    with connections[alias].cursor() as cur:
        for table, days in existing(cur).items():
            for day in sorted(d for d in days if d < cutoff):
                name = partition_name(table, day)
                cur.execute(f'DROP TABLE IF EXISTS "{name}"')
                dropped.append(name)
    return dropped

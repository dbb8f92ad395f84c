"""Does a database meet its policy? Measured on what the server itself recorded (msdb backup
history, the last good CHECKDB), so backups another tool made count as much as DbTools' own.

The allowed age of each kind of backup follows the policy's schedule: the longest gap between two
scheduled runs plus a margin for the run itself. Copy-only backups are not part of the restore
chain and do not count. A database younger than the grace period is not judged yet; an exemption
(with its reason, expiry and who granted it) sets a database aside until it expires; one with
no database name sets the whole server aside.

Between the schedule's own gap and the allowed age a database is "warning": the run is late but
the policy is still met, so it counts as within the policy.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
from dataclasses import dataclass
from typing import Any

from policies import selection
from scheduler import timing

# Slack on top of a schedule's longest gap: the run itself takes time, and a run that starts a
# little late should not flap a database to non-compliant.
MARGIN = dt.timedelta(minutes=30)
LOG_MARGIN_FACTOR = 1.0  # a log backup may be one whole interval late before it counts
DEFAULT_GRACE = dt.timedelta(hours=24)


class Status(enum.StrEnum):
    COMPLIANT = "compliant"
    WARNING = "warning"
    NON_COMPLIANT = "non_compliant"
    GRACE = "grace"
    EXEMPT = "exempt"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class DatabaseFacts:
    server_id: int
    server_name: str
    name: str
    recovery_model: str
    state: str
    created: dt.datetime | None
    last_full: dt.datetime | None  # copy-only excluded
    last_diff: dt.datetime | None
    last_log: dt.datetime | None
    last_good_checkdb: dt.datetime | None
    in_availability_group: bool = False


@dataclass(frozen=True)
class Exemption:
    server_id: int
    database: str
    reason: str
    expires_at: dt.datetime
    granted_by: str


@dataclass(frozen=True)
class Verdict:
    server_id: int
    server_name: str
    database: str
    status: Status
    reasons: tuple[str, ...] = ()


def _words(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours and days < 3 else f"{days} days"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def longest_gap(expression: str, tz: str = "UTC", now: dt.datetime | None = None) -> dt.timedelta:
    """The longest time between two runs of a cron schedule over the coming five weeks."""
    now = now or dt.datetime.now(dt.UTC)
    schedule = timing.Schedule(timing.ScheduleType.CRON, tz=tz, expression=expression)
    slots = [s.at for s in timing.slots_after(schedule, now, 400)]
    horizon = now + dt.timedelta(days=35)
    slots = [s for s in slots if s <= horizon] or slots[:2]
    if len(slots) < 2:
        return dt.timedelta(days=366)
    return max(b - a for a, b in itertools.pairwise(slots))


@dataclass(frozen=True)
class Limits:
    """How old each kind of evidence may be under one policy version."""

    full: dt.timedelta | None = None
    full_or_diff: dt.timedelta | None = None
    log: dt.timedelta | None = None
    log_every: dt.timedelta | None = None
    checkdb: dt.timedelta | None = None
    databases: str = "USER_DATABASES"
    # The schedule's own gaps: past them a run is late (warning) though still within the limit.
    full_due: dt.timedelta | None = None
    full_or_diff_due: dt.timedelta | None = None
    checkdb_due: dt.timedelta | None = None


def limits_for(policy_type: str, config: dict[str, Any], tz: str = "UTC") -> Limits:
    if policy_type == "backup":
        full_due = longest_gap(config["full"]["schedule"], tz)
        diff = config.get("diff")
        diff_due = longest_gap(diff["schedule"], tz) if diff else None
        log = config.get("log")
        every = dt.timedelta(minutes=log["every_minutes"]) if log else None
        log_limit = every * (1 + LOG_MARGIN_FACTOR) if every else None
        return Limits(
            full=full_due + MARGIN,
            full_or_diff=diff_due + MARGIN if diff_due else None,
            log=log_limit,
            log_every=every,
            databases=config.get("databases", "USER_DATABASES"),
            full_due=full_due,
            full_or_diff_due=diff_due,
        )
    if policy_type == "integrity_check":
        due = longest_gap(config["schedule"], tz)
        return Limits(
            checkdb=due + MARGIN,
            databases=config.get("databases", "ALL_DATABASES"),
            checkdb_due=due,
        )
    return Limits(databases="")


def evaluate(
    limits: Limits,
    facts: list[DatabaseFacts],
    now: dt.datetime,
    *,
    exemptions: list[Exemption] = (),  # type: ignore[assignment]
    grace: dt.timedelta = DEFAULT_GRACE,
) -> list[Verdict]:
    """A verdict per database the policy selects, with the reasons a DBA can act on."""
    if not limits.databases:
        return []
    exempt = {(e.server_id, e.database.lower()): e for e in exemptions if e.expires_at > now}
    by_server: dict[int, list[DatabaseFacts]] = {}
    for f in facts:
        by_server.setdefault(f.server_id, []).append(f)
    verdicts = []
    for server_facts in by_server.values():
        dbs = [selection.Database(f.name, f.recovery_model, f.state) for f in server_facts]
        chosen = {d.name for d in selection.select(limits.databases, dbs)}
        for f in server_facts:
            if f.name not in chosen:
                continue
            verdicts.append(_verdict(limits, f, now, exempt, grace))
    return verdicts


def _verdict(
    limits: Limits,
    f: DatabaseFacts,
    now: dt.datetime,
    exempt: dict[tuple[int, str], Exemption],
    grace: dt.timedelta,
) -> Verdict:
    def verdict(status: Status, *reasons: str) -> Verdict:
        return Verdict(f.server_id, f.server_name, f.name, status, tuple(reasons))

    e = exempt.get((f.server_id, f.name.lower())) or exempt.get((f.server_id, ""))
    if e is not None:
        return verdict(
            Status.EXEMPT, f"exempt until {e.expires_at:%Y-%m-%d}: {e.reason} ({e.granted_by})"
        )
    if f.state != "ONLINE":
        return verdict(Status.NOT_APPLICABLE, f"{f.state.lower()}")
    if f.created and now - f.created < grace:
        return verdict(
            Status.GRACE, f"new database: judged from {f.created + grace:%Y-%m-%d %H:%M}"
        )
    reasons: list[str] = []
    late: list[str] = []

    def age(
        last: dt.datetime | None,
        limit: dt.timedelta,
        what: str,
        policy: str,
        due: dt.timedelta | None,
    ) -> None:
        if last is None:
            reasons.append(f"no {what} recorded; policy: {policy}")
        elif now - last > limit:
            reasons.append(f"no {what} for {_words(now - last)}; policy: {policy}")
        elif due is not None and now - last > due:
            late.append(f"{what} late: last {_words(now - last)} ago; policy: {policy}")

    if limits.full is not None:
        age(
            f.last_full,
            limits.full,
            "full backup",
            f"within {_words(limits.full)}",
            limits.full_due,
        )
    if limits.full_or_diff is not None:
        last = max((t for t in (f.last_full, f.last_diff) if t), default=None)
        age(
            last,
            limits.full_or_diff,
            "full or differential backup",
            f"within {_words(limits.full_or_diff)}",
            limits.full_or_diff_due,
        )
    if limits.log is not None and limits.log_every is not None:
        if f.recovery_model == "SIMPLE":
            reasons.append("simple recovery model: log backups impossible")
        else:
            age(
                f.last_log,
                limits.log,
                "log backup",
                f"every {_words(limits.log_every)}",
                limits.log_every,
            )
    if limits.checkdb is not None:
        if f.last_good_checkdb is None:
            reasons.append(f"no good CHECKDB recorded; policy: within {_words(limits.checkdb)}")
        elif now - f.last_good_checkdb > limits.checkdb:
            days = (now - f.last_good_checkdb).days
            reasons.append(f"last CHECKDB {days} days ago; policy: {_words(limits.checkdb)}")
        elif limits.checkdb_due is not None and now - f.last_good_checkdb > limits.checkdb_due:
            late.append(
                f"CHECKDB late: last {_words(now - f.last_good_checkdb)} ago; "
                f"policy: {_words(limits.checkdb)}"
            )
    if reasons:
        return verdict(Status.NON_COMPLIANT, *reasons)
    return verdict(Status.WARNING, *late) if late else verdict(Status.COMPLIANT)


def next_change(
    limits: Limits,
    facts: list[DatabaseFacts],
    now: dt.datetime,
    *,
    exemptions: list[Exemption] = (),  # type: ignore[assignment]
    grace: dt.timedelta = DEFAULT_GRACE,
) -> dt.datetime | None:
    """The first instant after `now` at which time alone would change a verdict of `evaluate`
    over the same facts: a backup or CHECKDB turning late or overdue, a grace period or an
    exemption ending. None: nothing changes until new facts arrive. It may be early (a database
    the policy does not select counts too), never late: the background fleet figure is
    recomputed then instead of on a fixed short period."""
    if not limits.databases:
        return None
    times = [e.expires_at for e in exemptions if e.expires_at > now]
    pairs = (
        (limits.full, limits.full_due, lambda f: [f.last_full]),
        (limits.full_or_diff, limits.full_or_diff_due, lambda f: [f.last_full, f.last_diff]),
        (limits.log, limits.log_every, lambda f: [f.last_log]),
        (limits.checkdb, limits.checkdb_due, lambda f: [f.last_good_checkdb]),
    )
    for f in facts:
        if f.created:
            times.append(f.created + grace)
        for limit, due, lasts in pairs:
            if limit is None:
                continue
            last = max((t for t in lasts(f) if t), default=None)
            if last is None:
                continue
            times += [last + gap for gap in (limit, due) if gap is not None]
    return min((t for t in times if t > now), default=None)


def summary(verdicts: list[Verdict]) -> dict[str, Any]:
    """Counts and the fleet figure: compliant share of the databases that are judged."""
    counts = {s.value: 0 for s in Status}
    for v in verdicts:
        counts[v.status.value] += 1
    within = counts["compliant"] + counts["warning"]
    judged = within + counts["non_compliant"]
    percent = round(100 * within / judged, 1) if judged else None
    return {"counts": counts, "judged": judged, "percent": percent}

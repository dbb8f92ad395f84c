"""The minimum set a DBA expects beyond CPU, memory, waits and I/O: blocking detail, availability
group health, space per volume and per database, SQL Agent job failures.

All of it comes in the collection's one round trip (`DbTools.usp_CollectMetrics`, version 12):
blocking and availability groups every collection (sets 8 and 9), space and Agent jobs only when
`@space = 1` (sets 10 to 12), which DbTools asks for every DBTOOLS_SPACE_INTERVAL_SECONDS
(300-900 s, default 600). Set 13 says what the call covered. Pure functions, no database: the
collector asks `procedure_call` what to send, `rates` hands the result sets to `parse` and the
parsed sets to `apply`, and `monitoring.store` keeps the latest detail per server
(`server_details`) and the figures as metrics (charts, alert rules).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.conf import settings

from monitoring.counter_state import CounterState

# The first version of the monitoring objects that returns sets 8 to 13.
EXTRA_VERSION = 12
COLLECT_SQL = (
    "EXEC DbTools.usp_CollectMetrics @last_cpu_record_id = ?, @last_cpu_ms_ticks = ?, "
    "@space = ?, @last_job_instance_id = ?"
)
SPACE_MIN_SECONDS, SPACE_MAX_SECONDS = 300, 900
# sysjobhistory.run_status and sysjobservers.last_run_outcome (version 13: 5 is unknown)
JOB_OUTCOMES = {
    0: "failed",
    1: "succeeded",
    2: "retry",
    3: "canceled",
    4: "in progress",
    5: "unknown",
}
# Statuses whose job rows were read (a stopped Agent's jobs are read, and run no more).
JOBS_READ = ("ok", "stopped")
AGENT_STATUS = {
    "ok": "collected",
    "stopped": "SQL Server Agent is not running: no job runs until it is started",
    "express": "not available: Express edition has no SQL Server Agent",
    "no_permission": "not available: the login cannot read msdb's job tables",
    "not_collected": "not collected in this call",
}
HEALTHY = "HEALTHY"
# Sets 8 to 11 (version 13): each read in its own TRY/CATCH, its status in set 13.
SETS = ("blocking", "availability", "volumes", "databases")


def agent_label(status: str) -> str:
    """What the page and `manage.py collect` say of the Agent status ('error:1222' included)."""
    if status.startswith("error:"):
        return f"not collected: msdb read failed with error {status[6:]}"
    return AGENT_STATUS.get(status, status)


def volume_label(key: str | None) -> str:
    """A volume's mount point; on Linux (no mount point) the procedure keys it by its size."""
    if key and key.startswith("#") and key[1:].isdigit():
        return f"volume of {int(key[1:]) / 2**30:.0f} GB (no mount point)"
    return key or "unknown volume"


def space_interval_seconds() -> int:
    value = int(getattr(settings, "DBTOOLS_SPACE_INTERVAL_SECONDS", 600))
    return max(SPACE_MIN_SECONDS, min(SPACE_MAX_SECONDS, value))


def space_due(previous: CounterState | None, interval: int) -> bool:
    """Whether this collection should read space and jobs: on the instance's own clock, the next
    collection (the last one's ms_ticks plus an interval) is at least the space interval after
    the last space read, less half an interval so the cadence does not slip by one collection.
    A first collection, a reboot (ms_ticks went down) or another instance read them at once."""
    if previous is None or previous.space_ms_ticks is None:
        return True
    since = previous.ms_ticks + interval * 1000 - previous.space_ms_ticks
    return since < 0 or since >= (space_interval_seconds() - interval / 2) * 1000


def procedure_call(
    deployed_version: int | None,
    previous: CounterState | None,
    last_cpu_record_id: int | None,
    interval: int,
) -> tuple[Any, ...] | None:
    """What the collector sends to a server whose objects are version 12 or later (None: an
    older version, called as before)."""
    if (deployed_version or 0) < EXTRA_VERSION:
        return None
    return (
        COLLECT_SQL,
        last_cpu_record_id or 0,
        previous.cpu_ms_ticks if previous else None,
        1 if space_due(previous, interval) else 0,
        previous.job_instance_id if previous else None,
    )


# -- rows as the procedure returns them ----------------------------------------------------------
class BlockerRow(NamedTuple):
    session_id: int
    login_name: str | None
    host_name: str | None
    program_name: str | None
    blocked_count: int
    longest_wait_ms: int | None
    wait_type: str | None
    wait_resource: str | None
    # version 13: a sleeping head with an open transaction is the usual culprit
    session_status: str | None = None
    open_transaction_count: int | None = None
    last_request_end_time: dt.datetime | None = None


class AgRow(NamedTuple):
    ag_name: str | None
    replica_server_name: str | None
    database_name: str | None
    role_desc: str | None
    synchronization_state_desc: str | None
    synchronization_health_desc: str | None
    log_send_queue_kb: int | None
    redo_queue_kb: int | None
    is_local: bool | None
    is_suspended: bool | None = None  # version 13
    suspend_reason_desc: str | None = None
    secondary_lag_seconds: int | None = None
    last_commit_time: dt.datetime | None = None


class VolumeRow(NamedTuple):
    volume_mount_point: str
    volume_name: str | None
    total_bytes: int | None
    available_bytes: int | None
    files: int


class DatabaseSpaceRow(NamedTuple):
    database_name: str
    state_desc: str | None
    recovery_model_desc: str | None
    log_reuse_wait_desc: str | None
    data_kb: int | None
    log_kb: int | None
    log_used_kb: int | None
    percent_log_used: int | None


class JobRow(NamedTuple):
    job_name: str
    enabled: bool
    last_run_status: int | None
    last_run_date: int | None
    last_run_time: int | None
    failures: int


class CoverageRow(NamedTuple):
    hadr_enabled: int | None
    space_collected: bool | None
    agent_status: str | None
    last_job_instance_id: int | None
    utc_offset_minutes: int | None
    agent_running: bool | None = None  # version 13
    blocking_status: str | None = None
    ag_status: str | None = None
    volumes_status: str | None = None
    databases_status: str | None = None
    volumes_truncated: bool | None = None


@dataclass
class Extra:
    """What sets 8 to 13 said, as stored in `server_details` (lists of plain dicts)."""

    blockers: list[dict[str, Any]] = field(default_factory=list)
    availability: list[dict[str, Any]] = field(default_factory=list)
    hadr_enabled: bool = False
    space_collected: bool = False
    volumes: list[dict[str, Any]] = field(default_factory=list)
    databases: list[dict[str, Any]] = field(default_factory=list)
    agent_status: str = "not_collected"
    jobs: list[dict[str, Any]] = field(default_factory=list)
    last_job_instance_id: int | None = None
    # version 13: a set of 8 to 11 that failed ('error:1222'), by SETS name; the others stand
    set_errors: dict[str, str] = field(default_factory=dict)
    volumes_truncated: bool = False


def _iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=value.tzinfo or dt.UTC).isoformat()
    return None


def _row[R: tuple](kind: type[R], values: tuple) -> R:
    return kind(*values[: len(kind._fields)])


def _run_at(date: int | None, time: int | None, offset_minutes: int) -> str | None:
    """msdb's run_date (yyyymmdd) and run_time (hhmmss), local to the instance, in UTC ISO."""
    if not date:
        return None
    d, t = int(date), int(time or 0)
    try:  # by arithmetic: strptime cost more than the rest of the set
        local = dt.datetime(
            d // 10000, d // 100 % 100, d % 100, t // 10000, t // 100 % 100, t % 100
        )
    except ValueError:
        return None
    return (local - dt.timedelta(minutes=offset_minutes)).replace(tzinfo=dt.UTC).isoformat()


def _pct(part: int | None, whole: int | None) -> float | None:
    return round(100.0 * part / whole, 1) if part is not None and whole else None


def parse(sets: list[list[tuple]]) -> Extra | None:
    """Sets 8 to 13, or None when the procedure is older than version 12."""
    if len(sets) < 13:
        return None
    blocking, ag, volumes, databases, jobs, coverage = sets[7:13]
    cov = _row(CoverageRow, coverage[0]) if coverage else CoverageRow(0, False, None, None, 0)
    offset = int(cov.utc_offset_minutes or 0)
    agent = str(cov.agent_status or "not_collected")
    if agent == "ok" and cov.agent_running is not None and not cov.agent_running:
        agent = "stopped"
    statuses = (cov.blocking_status, cov.ag_status, cov.volumes_status, cov.databases_status)
    out = Extra(
        hadr_enabled=bool(cov.hadr_enabled),
        space_collected=bool(cov.space_collected),
        agent_status=agent,
        last_job_instance_id=cov.last_job_instance_id,
        set_errors={
            name: str(st)
            for name, st in zip(SETS, statuses, strict=True)
            if st and st != "ok" and st != "not_collected"
        },
        volumes_truncated=bool(cov.volumes_truncated),
    )
    for r in (_row(BlockerRow, row) for row in blocking):
        out.blockers.append(
            {
                "session_id": int(r.session_id),
                "login": r.login_name,
                "host": r.host_name,
                "program": r.program_name,
                "blocked": int(r.blocked_count),
                "longest_wait_ms": int(r.longest_wait_ms or 0),
                "wait_type": r.wait_type,
                "wait_resource": r.wait_resource,
                "status": r.session_status,
                "open_transactions": r.open_transaction_count,
                "last_request_end_at": _iso(r.last_request_end_time),
            }
        )
    for r in (_row(AgRow, row) for row in ag):
        out.availability.append(
            {
                "group": r.ag_name,
                "replica": r.replica_server_name,
                "database": r.database_name,
                "role": r.role_desc,
                "state": r.synchronization_state_desc,
                "health": r.synchronization_health_desc,
                "log_send_queue_kb": r.log_send_queue_kb,
                "redo_queue_kb": r.redo_queue_kb,
                "local": bool(r.is_local),
                "suspended": bool(r.is_suspended),
                "suspend_reason": r.suspend_reason_desc,
                "lag_seconds": r.secondary_lag_seconds,
                "last_commit_at": _iso(r.last_commit_time),
            }
        )
    for r in (_row(VolumeRow, row) for row in volumes):
        out.volumes.append(
            {
                "volume": volume_label(r.volume_mount_point),
                "name": r.volume_name,
                "total_bytes": r.total_bytes,
                "free_bytes": r.available_bytes,
                "free_percent": _pct(r.available_bytes, r.total_bytes),
                "files": int(r.files or 0),
            }
        )
    out.volumes.sort(key=lambda v: v["volume"])
    for r in (_row(DatabaseSpaceRow, row) for row in databases):
        out.databases.append(
            {
                "database": r.database_name,
                "state": r.state_desc,
                "recovery": r.recovery_model_desc,
                "log_reuse_wait": r.log_reuse_wait_desc,
                "data_kb": r.data_kb,
                "log_kb": r.log_kb,
                "log_used_kb": r.log_used_kb,
                "log_used_percent": r.percent_log_used,
            }
        )
    for r in (_row(JobRow, row) for row in jobs):
        # sysjobservers says 0 for the date of a job that never ran
        ran = r.last_run_status is not None and bool(r.last_run_date)
        outcome = int(r.last_run_status) if ran else None
        out.jobs.append(
            {
                "job": r.job_name,
                "enabled": bool(r.enabled),
                "outcome": JOB_OUTCOMES.get(outcome, "never run") if outcome is not None else None,
                "last_run_at": _run_at(r.last_run_date, r.last_run_time, offset),
                "failures": int(r.failures or 0),
            }
        )
    out.jobs.sort(key=lambda j: (j["outcome"] != "failed", j["job"].lower()))
    return out


def figures(extra: Extra) -> dict[str, float | None]:
    """The metrics sets 8 to 13 give (alert rules and charts read them); space and job figures
    only in a collection that read them."""
    failed = extra.set_errors
    out: dict[str, float | None] = {}
    if "blocking" not in failed:  # a failed read is no proof of no blocking
        out["longest_block_seconds"] = round(
            max((b["longest_wait_ms"] for b in extra.blockers), default=0) / 1000.0, 1
        )
        out["head_blockers"] = len(extra.blockers)
    if extra.hadr_enabled and "availability" not in failed:
        ag = extra.availability
        # Replicas with an unhealthy database, not database rows (one per database replica).
        out["ag_unhealthy_replicas"] = len({a["replica"] for a in ag if a["health"] != HEALTHY})
        out["ag_log_send_queue_kb"] = max((a["log_send_queue_kb"] or 0 for a in ag), default=0)
        out["ag_redo_queue_kb"] = max((a["redo_queue_kb"] or 0 for a in ag), default=0)
    if extra.space_collected and "volumes" not in failed:
        free = [v["free_percent"] for v in extra.volumes if v["free_percent"] is not None]
        out["volume_free_min_percent"] = min(free) if free else None
    if extra.space_collected and "databases" not in failed:
        logs = [d["log_used_percent"] for d in extra.databases if d["log_used_percent"] is not None]
        out["log_used_max_percent"] = max(logs) if logs else None
        data = [d["data_kb"] for d in extra.databases if d["data_kb"] is not None]
        out["data_files_mb"] = round(sum(data) / 1024, 1) if data else None
        log_sizes = [d["log_kb"] for d in extra.databases if d["log_kb"] is not None]
        out["log_files_mb"] = round(sum(log_sizes) / 1024, 1) if log_sizes else None
    if extra.space_collected and extra.agent_status in JOBS_READ:
        enabled = [j for j in extra.jobs if j["enabled"]]
        out["agent_failed_jobs"] = sum(j["outcome"] == "failed" for j in enabled)
        out["agent_job_failures"] = sum(j["failures"] for j in extra.jobs)
    return out


@dataclass
class Kept:
    """What the counter state keeps of this call for the next one, and whether the detail is
    worth writing."""

    space_ms_ticks: int | None
    job_instance_id: int | None
    write_detail: bool
    detail_busy: bool


def apply(
    extra: Extra | None,
    previous: CounterState | None,
    ms_ticks: int,
    same_instance: bool,
    add: Callable[[str, float | None], None],
) -> Kept:
    """Add the figures as metrics and say what to keep. Another instance behind the same address
    (a failover) counts its job failures from its own history. The detail row is written when it
    says something: space was read, there are blockers or replicas, or the last one written had
    some (to clear them); a quiet minute of a server without HADR writes nothing."""
    keep_space = previous.space_ms_ticks if previous else None
    keep_job = previous.job_instance_id if previous and same_instance else None
    was_busy = previous.detail_busy if previous else True
    if extra is None:
        return Kept(keep_space, keep_job, False, was_busy)
    for name, value in figures(extra).items():
        add(name, value)
    busy = bool(extra.blockers or extra.availability)
    write = busy or was_busy or extra.space_collected or previous is None
    if not extra.space_collected:
        return Kept(keep_space, keep_job, write, busy)
    job = extra.last_job_instance_id if extra.agent_status in JOBS_READ else keep_job
    return Kept(ms_ticks, job, write, busy)

"""Sets 8 to 13 of DbTools' collection procedure (version 12) on a simulated instance: blocking
chains, availability groups, space per volume and per database, SQL Agent jobs, and what the call
covered; plus the deadlock counter of set 5.

Returned only when the deployed procedure's text has them (``@last_job_instance_id``), as SQL
Server would run what was deployed. Modelled as SQL Server behaves:

- blocking: requests blocked by a session form chains; the head blocks others and waits on no
  session; its wait resource is that of its longest-waiting direct victim.
- availability groups: nothing while HADR is off (most instances); with a group, one row per
  database replica (all replicas on the primary), queues in KB, health from the state.
- space: the volumes holding the database files (C: system databases, D: data, L: logs), and per
  database the Databases counters (data, log, log used, Percent Log Used) with
  ``log_reuse_wait_desc``; read only with ``@space = 1``.
- jobs: msdb's job history with growing ``instance_id``; failures counted after the id DbTools
  passes. Express edition: no Agent. A login without SELECT in msdb (``permissions: {"SELECT ON
  MSDB": false}``, or any login without ``can_deploy``): "no_permission", no error.

Steering (``Fleet.steer`` / ``POST /instances/NAME/steer``):

===============================================  ===============================================
``blocking={"head": 61, "blocked": 4, ...}``      a blocking chain (``login``, ``host``,
                                                  ``program``, ``wait_seconds``, ``wait_type``,
                                                  ``wait_resource``); ``None`` ends it
``deadlocks_per_minute=3``                        deadlocks from now on (the counter moves)
``volumes={"D:\\\\": {"free_percent": 4}}``       a volume filling up (or ``free_gb``)
``log_used={"AppDB": {"percent": 97,              a log filling up and why it is not reused
"reuse_wait": "LOG_BACKUP"}}``
``job_failures={"job": "...", "count": 2}``       failed runs appended to the job history
``availability_group={"name": "AG1",              HADR on with a group (``None``: HADR off);
"replicas": [...], "databases": [...],            ``lagging``: a replica falling behind
"lagging": {"replica": "...", "redo_queue_kb":    (``suspended``: NOT SYNCHRONIZING, health
500000, "log_send_queue_kb": 9000}}``             NOT_HEALTHY)
===============================================  ===============================================
"""

from __future__ import annotations

import datetime as dt
import random
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .engine import Context, ResultSet, col

if TYPE_CHECKING:
    from .server import Instance

STEERING_KEYS = (
    "blocking",
    "deadlocks_per_minute",
    "volumes",
    "log_used",
    "job_failures",
    "availability_group",
)
MSDB_PERMISSION = "SELECT ON MSDB"
DEFAULT_JOBS = (
    "DatabaseBackup - USER_DATABASES - FULL",
    "DatabaseBackup - USER_DATABASES - LOG",
    "DatabaseIntegrityCheck - USER_DATABASES",
    "IndexOptimize - USER_DATABASES",
    "syspolicy_purge_history",
)
GB = 2**30

SET8 = [
    col("session_id", "smallint"),
    col("login_name", "nvarchar", 128),
    col("host_name", "nvarchar", 128),
    col("program_name", "nvarchar", 128),
    col("blocked_count", "int"),
    col("longest_wait_ms", "int"),
    col("wait_type", "nvarchar", 60),
    col("wait_resource", "nvarchar", 256),
]
SET9 = [
    col("ag_name", "nvarchar", 128),
    col("replica_server_name", "nvarchar", 256),
    col("database_name", "nvarchar", 128),
    col("role_desc", "nvarchar", 60),
    col("synchronization_state_desc", "nvarchar", 60),
    col("synchronization_health_desc", "nvarchar", 60),
    col("log_send_queue_kb", "bigint"),
    col("redo_queue_kb", "bigint"),
    col("is_local", "bit"),
]
SET10 = [
    col("volume_mount_point", "nvarchar", 256),
    col("volume_name", "nvarchar", 256),
    col("total_bytes", "bigint"),
    col("available_bytes", "bigint"),
    col("files", "int"),
]
SET11 = [
    col("database_name", "nvarchar", 128),
    col("state_desc", "nvarchar", 60),
    col("recovery_model_desc", "nvarchar", 60),
    col("log_reuse_wait_desc", "nvarchar", 60),
    col("data_kb", "bigint"),
    col("log_kb", "bigint"),
    col("log_used_kb", "bigint"),
    col("percent_log_used", "bigint"),
]
SET12 = [
    col("job_name", "nvarchar", 128),
    col("enabled", "bit"),
    col("last_run_status", "int"),
    col("last_run_date", "int"),
    col("last_run_time", "int"),
    col("failures", "int"),
]
SET13 = [
    col("hadr_enabled", "int"),
    col("space_collected", "bit"),
    col("agent_status", "nvarchar", 20),  # varchar(20) on SQL Server: a str either way
    col("last_job_instance_id", "int"),
    col("utc_offset_minutes", "int"),
]


@dataclass
class Extra:
    """What one instance holds for sets 8 to 13 (created when first asked for)."""

    blocking: dict[str, Any] | None = None
    deadlocks_per_minute: float = 0.0
    deadlocks: float = 0.0
    deadlocks_at: float = 0.0  # ms_ticks the deadlock counter was last moved to
    volume_steer: dict[str, dict[str, float]] = field(default_factory=dict)
    log_steer: dict[str, dict[str, Any]] = field(default_factory=dict)
    log_percent: dict[str, int] = field(default_factory=dict)
    # msdb.dbo.sysjobhistory step 0 rows: (instance_id, job, run_status, local time)
    history: list[tuple[int, str, int, dt.datetime]] = field(default_factory=list)
    ag: dict[str, Any] | None = None


def state(inst: Instance) -> Extra:
    found = inst.__dict__.get("dbtools_extra")
    if found is None:
        found = inst.__dict__["dbtools_extra"] = Extra()
        rng = random.Random(zlib.crc32(inst.config.server_name.encode()) ^ 0xE47A)
        for db in inst.config.databases:
            found.log_percent[db] = rng.randint(3, 55)
        start = dt.datetime.now() - dt.timedelta(hours=6)
        for n, job in enumerate(DEFAULT_JOBS):
            found.history.append((n + 1, job, 1, start + dt.timedelta(minutes=7 * n)))
    return found


def apply_steering(inst: Instance, changes: dict[str, Any]) -> None:
    st = state(inst)
    if "blocking" in changes:
        st.blocking = dict(changes["blocking"]) if changes["blocking"] else None
    if "deadlocks_per_minute" in changes:
        _move_deadlocks(st, inst.state.ms_ticks)
        st.deadlocks_per_minute = float(changes["deadlocks_per_minute"] or 0)
    if changes.get("volumes"):
        for mount, how in dict(changes["volumes"]).items():
            st.volume_steer[mount.upper()] = dict(how)
    if changes.get("log_used"):
        for db, how in dict(changes["log_used"]).items():
            st.log_steer[db.lower()] = dict(how)
    if changes.get("job_failures"):
        spec = dict(changes["job_failures"])
        job = str(spec.get("job") or DEFAULT_JOBS[0])
        status = 1 if spec.get("succeeded") else 0
        for _ in range(int(spec.get("count", 1))):
            next_id = st.history[-1][0] + 1 if st.history else 1
            st.history.append((next_id, job, status, dt.datetime.now()))
    if "availability_group" in changes:
        ag = changes["availability_group"]
        st.ag = dict(ag) if ag else None


def reset(inst: Instance) -> None:
    inst.__dict__.pop("dbtools_extra", None)


def _move_deadlocks(st: Extra, ticks: int) -> None:
    if st.deadlocks_at and ticks > st.deadlocks_at:
        st.deadlocks += st.deadlocks_per_minute * (ticks - st.deadlocks_at) / 60_000
    st.deadlocks_at = ticks


def deadlock_counter(inst: Instance) -> int:
    """Number of Deadlocks/sec, _Total: cumulative since the service started."""
    st = state(inst)
    _move_deadlocks(st, inst.state.ms_ticks)
    return int(st.deadlocks)


def restart(inst: Instance) -> None:
    """A service restart: cumulative counters and sessions start again; msdb, files, groups
    stay."""
    st = state(inst)
    st.deadlocks, st.deadlocks_at, st.blocking = 0.0, 0.0, None


def blocked_requests(inst: Instance) -> int | None:
    """Requests blocked by a session while a chain is steered (None: none steered)."""
    st = state(inst)
    return int(st.blocking.get("blocked", 1)) if st.blocking else None


def _blocking_rows(st: Extra) -> list[tuple]:
    b = st.blocking
    if not b:
        return []
    return [
        (
            int(b.get("head", 61)),
            b.get("login", "CORP\\app_orders"),
            b.get("host", "WEB01"),
            b.get("program", "OrderService"),
            int(b.get("blocked", 1)),
            int(float(b.get("wait_seconds", 30)) * 1000),
            b.get("wait_type", "LCK_M_X"),
            b.get("wait_resource", "KEY: 7:72057594045136896 (8194443284a0)"),
        )
    ]


def _ag_rows(inst: Instance, st: Extra) -> list[tuple]:
    ag = st.ag
    if not ag:
        return []
    me = inst.config.server_name
    replicas = list(ag.get("replicas") or [me, f"{inst.config.name}B"])
    primary = ag.get("primary", replicas[0])
    databases = list(ag.get("databases") or [d for d in inst.config.databases[4:5]])
    lag = dict(ag.get("lagging") or {})
    rows = []
    for replica in replicas:
        # The primary lists every replica's databases; a secondary only its own.
        if me != primary and replica != me:
            continue
        role = "PRIMARY" if replica == primary else "SECONDARY"
        for db in databases:
            state_desc, health = "SYNCHRONIZED", "HEALTHY"
            send = redo = 0
            if role == "SECONDARY" and replica == lag.get("replica"):
                send = int(lag.get("log_send_queue_kb", 0))
                redo = int(lag.get("redo_queue_kb", 0))
                if lag.get("suspended"):
                    state_desc, health = "NOT SYNCHRONIZING", "NOT_HEALTHY"
                else:
                    state_desc = "SYNCHRONIZING"
                    health = "PARTIALLY_HEALTHY" if lag.get("synchronous") else "HEALTHY"
            if role == "PRIMARY":
                send = redo = None
            rows.append(
                (ag.get("name", "AG1"), replica, db, role, state_desc, health, send, redo,
                 replica == me)
            )  # fmt: skip
    return rows


def _volumes(inst: Instance, st: Extra, data_sizes: Any) -> list[tuple]:
    """(mount, name, total, available, files): C: for the system databases, D: data, L: logs."""
    cfg = inst.config
    used = {"C:\\": 0, "D:\\": 0, "L:\\": 0}
    files = {"C:\\": 0, "D:\\": 0, "L:\\": 0}
    for n, db in enumerate(cfg.databases):
        size = int(data_sizes[n]) if n < len(data_sizes) else GB
        if db.lower() in ("master", "tempdb", "model", "msdb"):
            used["C:\\"] += size + size // 8
            files["C:\\"] += 2
        else:
            used["D:\\"] += size
            used["L:\\"] += size // 8
            files["D:\\"] += 1
            files["L:\\"] += 1
    names = {"C:\\": "System", "D:\\": "Data", "L:\\": "Logs"}
    rows = []
    for mount, used_bytes in used.items():
        if not files[mount]:
            continue
        # Sized with room to spare: a third free, at least 50 GB.
        total = max(128 * GB, int(used_bytes * 1.5) + 50 * GB)
        free = total - used_bytes
        steer = st.volume_steer.get(mount)
        if steer:
            if "free_percent" in steer:
                free = int(total * float(steer["free_percent"]) / 100)
            elif "free_gb" in steer:
                free = int(float(steer["free_gb"]) * GB)
        rows.append((mount, names[mount], total, max(0, min(total, free)), files[mount]))
    return rows


def _database_rows(inst: Instance, st: Extra, data_sizes: Any) -> list[tuple]:
    rows = []
    for n, db in enumerate(inst.config.databases):
        size = int(data_sizes[n]) if n < len(data_sizes) else GB
        low = db.lower()
        simple = low in ("master", "tempdb", "msdb")
        steer = st.log_steer.get(low, {})
        percent = int(steer.get("percent", st.log_percent.get(db, 10)))
        wait = steer.get("reuse_wait", "NOTHING")
        log_kb = size // 8 // 1024
        rows.append(
            (db, "ONLINE", "SIMPLE" if simple else "FULL", wait, size // 1024, log_kb,
             log_kb * percent // 100, percent)
        )  # fmt: skip
    return rows


def _job_rows(st: Extra, last_job: int | None) -> list[tuple]:
    rows = []
    for job in sorted({h[1] for h in st.history} | set(DEFAULT_JOBS)):
        mine = [h for h in st.history if h[1] == job]
        last = mine[-1] if mine else None
        failures = sum(
            1 for h in mine if h[2] == 0 and last_job is not None and h[0] > int(last_job)
        )
        rows.append(
            (
                job,
                True,
                last[2] if last else None,
                int(last[3].strftime("%Y%m%d")) if last else None,
                int(last[3].strftime("%H%M%S")) if last else None,
                failures,
            )
        )
    return rows


def extra_sets(
    ctx: Context,
    space: bool,
    last_job: int | None,
    data_sizes: Any,
    msdb_readable: bool,
) -> list[ResultSet]:
    inst = ctx.instance
    st = state(inst)
    hadr = st.ag is not None
    agent, max_id = "not_collected", None
    volumes = databases = jobs = []
    if space:
        volumes = _volumes(inst, st, data_sizes)
        databases = _database_rows(inst, st, data_sizes)
        if inst.config.edition == "express":
            agent = "express"
        elif not msdb_readable:
            agent = "no_permission"
        else:
            agent = "ok"
            jobs = _job_rows(st, last_job)
            max_id = st.history[-1][0] if st.history else None
    local = dt.datetime.now()
    offset = round((local - dt.datetime.now(dt.UTC).replace(tzinfo=None)).total_seconds() / 60)
    coverage = [(int(hadr), space, agent, max_id if max_id is not None else last_job, offset)]
    return [
        ResultSet(SET8, _blocking_rows(st)),
        ResultSet(SET9, _ag_rows(inst, st)),
        ResultSet(SET10, volumes),
        ResultSet(SET11, databases),
        ResultSet(SET12, jobs),
        ResultSet(SET13, coverage),
    ]

"""Sets 8 to 13 of DbTools' collection procedure (version 12) on a simulated instance: blocking
chains, availability groups, space per volume and per database, SQL Agent jobs, and what the call
covered; plus the deadlock counter of set 5.

Returned only when the deployed procedure's text has them (``@last_job_instance_id``), as SQL
Server would run what was deployed; how they are read (``ExtraShape``, from the deployed text)
decides what comes back, so a defect in the T-SQL shows here as it would on a real server.
Modelled as SQL Server behaves:

- blocking: requests blocked by a session form chains; the head blocks others and waits on no
  session; its wait resource is that of its longest-waiting direct victim.
- availability groups: nothing while HADR is off (most instances); with a group, one row per
  database replica (all replicas on the primary), queues in KB, health from the state.
- space: the volumes holding the database files (C: system databases, D: data, L: logs), and per
  database the Databases counters (data, log, log used, Percent Log Used) with
  ``log_reuse_wait_desc``; read only with ``@space = 1``.
- jobs: msdb's job history with growing ``instance_id``, purged as Agent does (100 rows per
  job, 1,000 in all), and each job's last outcome in ``sysjobservers`` (never purged); failures
  counted after the id DbTools passes. Express edition: no Agent. A login without SELECT in msdb
  (``permissions: {"SELECT ON MSDB": false}``, or any login without ``can_deploy``): error 229
  when the read runs. A login with no user in msdb (``{"ACCESS MSDB": false}``, guest disabled):
  error 916 when the statement compiles, which fails the whole procedure unless the read is
  dynamic SQL behind ``HAS_DBACCESS``.
- blocking: only a chain read once and filtered on a 1 s wait shows sub-second waits as nothing;
  the head's session status, open transactions and last request end come back when asked for.
- sets 8 to 11 each guarded by TRY/CATCH or not: ``lock_timeout`` raises 1222 in a set, which
  loses the set (guarded) or the whole call (not).
- volumes: ``sys.dm_os_volume_stats`` is counted per file given (``volume_calls``); on Linux the
  mount point is NULL, so grouping by it collapses every filesystem into one row.

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
500000, "log_send_queue_kb": 9000}}``             NOT_HEALTHY; ``unknown_state``: its row of
                                                  dm_hadr_availability_replica_states missing)
``agent_running=False``                           SQL Server Agent stopped (no SQLAgent session)
``msdb_error=1222``                               the msdb read fails with that error
``msdb_rebuilt=True``                             msdb rebuilt: job history ids start again
``lock_timeout=["databases"]``                    1222 in those of sets 8 to 11 (``blocking``,
                                                  ``availability``, ``volumes``, ``databases``)
``linux_volumes=True``                            volume_mount_point NULL (SQL Server on Linux)
===============================================  ===============================================
"""

from __future__ import annotations

import datetime as dt
import random
import re
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .engine import Context, ResultSet, SqlError, col

if TYPE_CHECKING:
    from .server import Instance

STEERING_KEYS = (
    "blocking",
    "deadlocks_per_minute",
    "volumes",
    "log_used",
    "job_failures",
    "availability_group",
    "agent_running",
    "msdb_error",
    "msdb_rebuilt",
    "lock_timeout",
    "linux_volumes",
)
MSDB_PERMISSION = "SELECT ON MSDB"
MSDB_ACCESS = "ACCESS MSDB"  # a user in msdb (guest enabled by default)
# Agent's default history limits (SQL Server Agent properties, History page)
HISTORY_PER_JOB, HISTORY_TOTAL = 100, 1000
VOLUME_FILES_CAP = 100
DEFAULT_JOBS = (
    "DatabaseBackup - USER_DATABASES - FULL",
    "DatabaseBackup - USER_DATABASES - LOG",
    "DatabaseIntegrityCheck - USER_DATABASES",
    "IndexOptimize - USER_DATABASES",
    "syspolicy_purge_history",
)
GB = 2**30


@dataclass(frozen=True)
class ExtraShape:
    """How the deployed procedure reads sets 8 to 13 (version 12 as first shipped: all False)."""

    msdb_dynamic: bool = False  # HAS_DBACCESS, then the msdb reads through sp_executesql
    msdb_error_numbers: bool = False  # CATCH tells 229/916 from other errors
    job_servers: bool = False  # last outcome from msdb.dbo.sysjobservers
    job_reset: bool = False  # failures from the start when the last id is above the newest
    agent_running: bool = False  # set 13 says whether Agent runs
    blocking_threshold: bool = False  # requests read once, chains waiting at least 1 s
    head_session: bool = False  # the head's status, open transactions, last request end
    guarded_sets: bool = False  # sets 8 to 11 each in TRY/CATCH, with a status
    volume_cap: bool = False  # one file per directory, at most 100, to dm_os_volume_stats
    volume_null_key: bool = False  # grouped by ISNULL(volume_mount_point, ...)
    ag_left_joins: bool = False
    ag_columns: bool = False  # is_suspended, suspend_reason_desc, lag, last commit


def shape_of(text: str) -> ExtraShape:
    low = re.sub(r"\s+", " ", text.lower())
    return ExtraShape(
        msdb_dynamic="has_dbaccess(n'msdb')" in low and "sp_executesql" in low,
        msdb_error_numbers="in (229, 916)" in low,
        job_servers="msdb.dbo.sysjobservers" in low,
        job_reset="@last_job_instance_id > @max_job_instance_id" in low,
        agent_running="as agent_running" in low,
        blocking_threshold="from @waiting" in low and "having max(wait_time) >= 1000" in low,
        head_session="open_transaction_count" in low,
        guarded_sets="@databases_status" in low,
        volume_cap="delete from @files where n > 100" in low,
        volume_null_key="group by isnull(vs.volume_mount_point" in low,
        ag_left_joins="left join sys.dm_hadr_availability_replica_states" in low,
        ag_columns="secondary_lag_seconds" in low,
    )


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
SET8_HEAD = [
    col("session_status", "nvarchar", 30),
    col("open_transaction_count", "int"),
    col("last_request_end_time", "datetime"),
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
SET9_MORE = [
    col("is_suspended", "bit"),
    col("suspend_reason_desc", "nvarchar", 60),
    col("secondary_lag_seconds", "bigint"),
    col("last_commit_time", "datetime"),
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
SET13_MORE = [
    col("agent_running", "bit"),
    col("blocking_status", "nvarchar", 20),
    col("ag_status", "nvarchar", 20),
    col("volumes_status", "nvarchar", 20),
    col("databases_status", "nvarchar", 20),
    col("volumes_truncated", "bit"),
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
    # msdb.dbo.sysjobservers: job -> (last_run_outcome, local time), never purged
    job_servers: dict[str, tuple[int, dt.datetime]] = field(default_factory=dict)
    next_job_id: int = 1
    agent_running: bool = True
    msdb_error: int | None = None
    lock_timeout: frozenset[str] = frozenset()
    linux_volumes: bool = False
    volume_calls: int = 0  # files given to sys.dm_os_volume_stats by the last read


def state(inst: Instance) -> Extra:
    found = inst.__dict__.get("dbtools_extra")
    if found is None:
        found = inst.__dict__["dbtools_extra"] = Extra()
        rng = random.Random(zlib.crc32(inst.config.server_name.encode()) ^ 0xE47A)
        for db in inst.config.databases:
            found.log_percent[db] = rng.randint(3, 55)
        start = dt.datetime.now() - dt.timedelta(hours=6)
        for n, job in enumerate(DEFAULT_JOBS):
            _run(found, job, 1, start + dt.timedelta(minutes=7 * n))
    return found


def _run(st: Extra, job: str, status: int, at: dt.datetime) -> None:
    """A job run as Agent records it: a history row, the job's last outcome in sysjobservers,
    then the history purged to Agent's limits (oldest rows first)."""
    st.history.append((st.next_job_id, job, status, at))
    st.next_job_id += 1
    st.job_servers[job] = (status, at)
    mine = [h for h in st.history if h[1] == job]
    if len(mine) > HISTORY_PER_JOB:
        drop = {h[0] for h in mine[: len(mine) - HISTORY_PER_JOB]}
        st.history = [h for h in st.history if h[0] not in drop]
    if len(st.history) > HISTORY_TOTAL:
        st.history = st.history[len(st.history) - HISTORY_TOTAL :]


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
            _run(st, job, status, dt.datetime.now())
    if "availability_group" in changes:
        ag = changes["availability_group"]
        st.ag = dict(ag) if ag else None
    if "agent_running" in changes:
        st.agent_running = bool(changes["agent_running"])
    if "msdb_error" in changes:
        st.msdb_error = int(changes["msdb_error"]) if changes["msdb_error"] else None
    if changes.get("msdb_rebuilt"):
        st.history, st.next_job_id = [], 1  # jobs scripted back in, history from scratch
    if "lock_timeout" in changes:
        st.lock_timeout = frozenset(changes["lock_timeout"] or ())
    if "linux_volumes" in changes:
        st.linux_volumes = bool(changes["linux_volumes"])


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


def _blocking_rows(st: Extra, shape: ExtraShape) -> list[tuple]:
    b = st.blocking
    if not b:
        return []
    wait_ms = int(float(b.get("wait_seconds", 30)) * 1000)
    if shape.blocking_threshold and wait_ms < 1000:
        return []  # a sub-second lock wait: normal work, not a blocking chain
    row = (
        int(b.get("head", 61)),
        b.get("login", "CORP\\app_orders"),
        b.get("host", "WEB01"),
        b.get("program", "OrderService"),
        int(b.get("blocked", 1)),
        wait_ms,
        b.get("wait_type", "LCK_M_X"),
        b.get("wait_resource", "KEY: 7:72057594045136896 (8194443284a0)"),
    )
    if shape.head_session:
        # The usual head blocker: a session that ran its statement and sleeps in an open
        # transaction (sys.dm_exec_sessions.status, open_transaction_count).
        idle = float(b.get("idle_seconds", wait_ms / 1000 + 1))
        row += (
            b.get("status", "sleeping"),
            int(b.get("open_transactions", 1)),
            dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
            - dt.timedelta(seconds=idle),
        )
    return [row]


def _ag_rows(inst: Instance, st: Extra, shape: ExtraShape) -> list[tuple]:
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
            suspended = (
                role == "SECONDARY" and replica == lag.get("replica") and bool(lag.get("suspended"))
            )
            unknown = replica == ag.get("unknown_state")
            if unknown and not shape.ag_left_joins:
                continue  # its dm_hadr_availability_replica_states row is missing: INNER JOIN
            row: tuple = (ag.get("name", "AG1"), replica, db, None if unknown else role,
                          state_desc, health, send, redo, replica == me)  # fmt: skip
            if shape.ag_columns:
                lag_seconds = int(lag.get("lag_seconds", 0)) if replica == lag.get("replica") else 0
                commit = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
                row += (
                    suspended,
                    "SUSPEND_FROM_USER" if suspended else None,
                    lag_seconds if role == "PRIMARY" or replica == lag.get("replica") else None,
                    commit - dt.timedelta(seconds=lag_seconds),
                )
            rows.append(row)
    return rows


def _volumes(
    inst: Instance, st: Extra, data_sizes: Any, shape: ExtraShape, sees_files: bool
) -> tuple[list[tuple], bool]:
    """(mount, name, total, available, files): C: for the system databases, D: data, L: logs;
    and whether the files given to sys.dm_os_volume_stats were capped. Every file given is an
    OS call (``volume_calls``)."""
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
        rows.append([mount, names[mount], total, max(0, min(total, free)), files[mount]])
    every_file = sum(files.values())
    truncated = False
    if shape.volume_cap:
        # One file per directory (three here) when sys.master_files shows its rows, else the
        # data and log file of each database; at most 100 either way.
        given = len(rows) if sees_files else every_file
        truncated = given > VOLUME_FILES_CAP
        st.volume_calls = min(given, VOLUME_FILES_CAP)
        for r in rows:
            r[4] = 1 if sees_files else r[4]
        if truncated:
            scale = VOLUME_FILES_CAP / given
            for r in rows:
                r[4] = max(1, int(r[4] * scale))
    else:
        st.volume_calls = every_file
    if st.linux_volumes:
        for n, r in enumerate(rows):
            r[0] = r[1] = None  # Linux: no mount point, no volume label (documented)
            r[2] += n * GB  # filesystems of different sizes
        if shape.volume_null_key:
            for r in rows:
                r[0] = f"#{r[2]}"
        else:  # GROUP BY a NULL mount point: every filesystem in one row
            rows = [[None, None, max(r[2] for r in rows), min(r[3] for r in rows),
                     sum(r[4] for r in rows)]]  # fmt: skip
    return [tuple(r) for r in rows], truncated


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


def _job_rows(st: Extra, last_job: int | None, shape: ExtraShape) -> list[tuple]:
    rows = []
    since = last_job
    newest = st.history[-1][0] if st.history else None
    if shape.job_reset and since is not None and newest is not None and since > newest:
        since = 0  # msdb rebuilt: its ids started again
    for job in sorted({h[1] for h in st.history} | set(DEFAULT_JOBS) | set(st.job_servers)):
        mine = [h for h in st.history if h[1] == job]
        if shape.job_servers:
            outcome = st.job_servers.get(job)
            last = (None, job, outcome[0], outcome[1]) if outcome else None
        else:  # the newest history row left after Agent's purge
            last = mine[-1] if mine else None
        failures = sum(1 for h in mine if h[2] == 0 and since is not None and h[0] > int(since))
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


def _lock_timeout() -> SqlError:
    return SqlError(1222, "Lock request time out period exceeded.", 51, 16)


def extra_sets(
    ctx: Context,
    space: bool,
    last_job: int | None,
    data_sizes: Any,
    msdb_readable: bool,
    shape: ExtraShape | None = None,
    msdb_access: bool = True,
    sees_files: bool = True,
) -> list[ResultSet]:
    inst = ctx.instance
    st = state(inst)
    shape = shape or ExtraShape()
    edition = inst.config.edition
    if not msdb_access and edition != "express" and not shape.msdb_dynamic:
        # A static msdb read compiles with the procedure: 916 before any TRY runs.
        raise SqlError(
            916,
            f'The server principal "{ctx.session.login}" is not able to access the database '
            '"msdb" under the current security context.',
            2,
            14,
        )
    status = {"blocking": "ok", "availability": "ok", "volumes": "not_collected"}
    status["databases"] = "not_collected"

    def guarded(name: str, read: Any) -> Any:
        if name in st.lock_timeout:
            if not shape.guarded_sets:
                raise _lock_timeout()
            status[name] = "error:1222"
            return [] if name != "volumes" else ([], False)
        return read()

    hadr = st.ag is not None
    agent, max_id, running = "not_collected", None, None
    volumes: list[tuple] = []
    databases: list[tuple] = []
    jobs: list[tuple] = []
    truncated = False
    blocking = guarded("blocking", lambda: _blocking_rows(st, shape))
    ag = guarded("availability", lambda: _ag_rows(inst, st, shape))
    if space:
        volumes, truncated = guarded(
            "volumes", lambda: _volumes(inst, st, data_sizes, shape, sees_files)
        )
        databases = guarded("databases", lambda: _database_rows(inst, st, data_sizes))
        for name in ("volumes", "databases"):
            status[name] = "ok" if status[name] == "not_collected" else status[name]
        if edition == "express":
            agent = "express"
        elif not msdb_access or not msdb_readable:
            agent = "no_permission"  # HAS_DBACCESS = 0, or 229 caught
        elif st.msdb_error:
            agent = f"error:{st.msdb_error}" if shape.msdb_error_numbers else "no_permission"
        else:
            agent = "ok"
            running = st.agent_running
            jobs = _job_rows(st, last_job, shape)
            max_id = st.history[-1][0] if st.history else None
    local = dt.datetime.now()
    offset = round((local - dt.datetime.now(dt.UTC).replace(tzinfo=None)).total_seconds() / 60)
    coverage: tuple = (int(hadr), space, agent, max_id if max_id is not None else last_job, offset)
    set13 = SET13
    if shape.agent_running:
        set13 = SET13 + SET13_MORE
        coverage += (
            running,
            status["blocking"],
            status["availability"],
            status["volumes"],
            status["databases"],
            truncated,
        )
    return [
        ResultSet(SET8 + SET8_HEAD if shape.head_session else SET8, blocking),
        ResultSet(SET9 + SET9_MORE if shape.ag_columns else SET9, ag),
        ResultSet(SET10, volumes),
        ResultSet(SET11, databases),
        ResultSet(SET12, jobs),
        ResultSet(set13, [coverage]),
    ]

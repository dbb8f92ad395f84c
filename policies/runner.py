"""Running a policy version on one server for the scheduler: ask the server what it has, render
the commands, send them one at a time.

One database failing (a full disk, a corrupt page) is logged and the others go on; a backup that
failed is not verified or cleaned up after; no command starts after the policy's time limit; a
cancelled run stops the statement in flight on the server. The execution's output lists every
command with its outcome and duration, like Ola Hallengren's CommandLog.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from django.utils import timezone

from policies import facts, render
from policies.models import FactsCollection, Policy, PolicyVersion
from policies.selection import Database
from scheduler import job_types
from scheduler.engine import Outcome
from scheduler.models import OUTPUT_LIMIT, JobExecution, RunStatus
from servers import actions as server_actions
from servers import sqlclient

SERVER_SQL = """SELECT
    CAST(SERVERPROPERTY('ServerName') AS nvarchar(128)) AS server_name,
    CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition,
    CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition,
    CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS product_version"""


def server_facts(conn: sqlclient.SqlConnection) -> render.ServerFacts:
    row = conn.query_dicts(SERVER_SQL)[0]
    edition = (row["edition"] or "").lower()
    major = int(str(row["product_version"] or "0").split(".")[0] or 0)
    return render.ServerFacts(
        name=row["server_name"],
        major_version=major,
        # Express and Web have no backup compression; online index operations need Enterprise
        # (engine edition 3 also covers Developer and Evaluation).
        supports_compression=not any(e in edition for e in ("express", "web")),
        supports_online_rebuild=row["engine_edition"] == 3,
    )


def databases(conn: sqlclient.SqlConnection) -> list[Database]:
    return [
        Database(
            name=r["name"],
            recovery_model=r["recovery_model_desc"],
            state=r["state_desc"],
            is_read_only=bool(r["is_read_only"]),
            in_availability_group=bool(r["in_availability_group"]),
            preferred_backup_replica=bool(r["preferred_backup_replica"]),
            is_primary_replica=bool(r["is_primary_replica"]),
            log_chain=bool(r["log_chain"]),
            has_full_backup=bool(r["has_full_backup"]),
            last_full_or_diff=r["last_full_or_diff"],
            is_snapshot=bool(r["is_snapshot"]),
        )
        for r in conn.query_dicts(render.DATABASES_SQL)
    ]


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.size = 0

    def add(self, text: str) -> None:
        if self.size < OUTPUT_LIMIT:
            self.lines.append(text)
            self.size += len(text) + 1

    def text(self) -> str:
        out = "\n".join(self.lines)
        return out if len(out) <= OUTPUT_LIMIT else out[:OUTPUT_LIMIT] + "\n[output truncated]"


def _commands(
    conn: sqlclient.SqlConnection,
    policy: Policy,
    config: dict[str, Any],
    task: str,
    facts: render.ServerFacts,
    dbs: list[Database],
    deadline: float,
) -> list[render.Command | render.Skip]:
    now = dt.datetime.now()
    if policy.policy_type == Policy.Type.BACKUP:
        return render.backup_commands(config, task, facts, dbs, now)
    if policy.policy_type == Policy.Type.INTEGRITY_CHECK:
        return render.integrity_commands(config, dbs)
    items: list[render.Command | render.Skip] = []
    from policies import selection

    for db in selection.select(config.get("databases", "USER_DATABASES"), dbs):
        if db.state != "ONLINE":
            items.append(render.Skip(db.name, f"{db.state.lower()}: not maintained"))
            continue
        sqlclient.run_script(conn, [f"USE {render.quote_name(db.name)}"], deadline=deadline)
        indexes = [
            render.IndexFacts(*row)
            for row in conn.query(render.INDEXES_SQL, config["min_number_of_pages"])
        ]
        stats = [render.StatisticsFacts(*row) for row in conn.query(render.STATISTICS_SQL)]
        items += render.index_commands(db.name, indexes, stats, config, facts)
    return items


def run(execution: JobExecution, deadline: float, cancel: threading.Event) -> Outcome:
    """The scheduler's handler for policy_execution jobs."""
    try:
        return _run(execution, deadline, cancel)
    finally:
        # What the run changed (new backups, a good CHECKDB) shows in compliance at the next
        # facts tick instead of up to a whole collection interval later.
        if execution.server_id is not None:
            FactsCollection.objects.filter(server_id=execution.server_id).update(attempted_at=None)
            facts.mark_due_on_commit()


def _run(execution: JobExecution, deadline: float, cancel: threading.Event) -> Outcome:
    ref = execution.job.configuration
    version = PolicyVersion.objects.select_related("policy").get(
        policy_id=ref["policy_id"], number=ref["policy_version"]
    )
    policy, config = version.policy, version.configuration
    task = ref.get("task", policy.policy_type)
    server = execution.server
    if server is None:
        raise sqlclient.QueryFailed("The server was deleted.")
    log = _Log()
    log.add(f"Policy {policy.name} v{version.number} ({task}) on {server.name}")
    limit = config.get("time_limit_seconds")
    stop_at = time.monotonic() + limit if limit else deadline
    timeout = max(1, min(sqlclient.default_timeout(), int(deadline - time.monotonic())))
    done = failed = 0
    failures: list[dict[str, str]] = []
    skipped: list[dict[str, str]] = []
    with sqlclient.connect(server_actions.target_for(server), timeout=timeout) as conn:
        if policy.policy_type == Policy.Type.CUSTOM_SCRIPT:
            from servers import tsql

            script = sqlclient.run_script(
                conn,
                [
                    f"USE {render.quote_name(config['database'])}",
                    *tsql.split_batches(config["script"]),
                ],
                deadline=deadline,
                cancel=cancel,
                limit=OUTPUT_LIMIT,
            )
            return Outcome(
                RunStatus.SUCCEEDED,
                {"policy": policy.name, "version": version.number},
                script.output,
            )
        facts = server_facts(conn)
        items = _commands(conn, policy, config, task, facts, databases(conn), deadline)
        broken: set[str] = set()  # databases whose backup failed: no verify or cleanup after
        current_db = ""
        for item in items:
            if isinstance(item, render.Skip):
                skipped.append({"database": item.database, "reason": item.reason})
                log.add(f"-- {item.database}: skipped ({item.reason})")
                continue
            if item.database in broken:
                continue
            if time.monotonic() >= stop_at:
                left = len([i for i in items if isinstance(i, render.Command)]) - done - failed
                log.add(f"-- time limit reached: {left} command(s) not started")
                skipped.append({"database": "", "reason": f"time limit: {left} not started"})
                break
            if cancel.is_set():
                raise sqlclient.Cancelled("The run was cancelled.")
            batches = [item.sql]
            if item.kind in ("ALTER_INDEX", "UPDATE_STATISTICS") and item.database != current_db:
                batches.insert(0, f"USE {render.quote_name(item.database)}")
                current_db = item.database
            started = time.monotonic()
            stamp = timezone.localtime().strftime("%H:%M:%S")
            log.add(f"{stamp} {item.sql}" + (f"  -- {item.note}" if item.note else ""))
            try:
                sqlclient.run_script(conn, batches, deadline=deadline, cancel=cancel)
            except (sqlclient.Timeout, sqlclient.Cancelled):
                raise
            except sqlclient.TargetError as exc:
                failed += 1
                broken.add(item.database)
                failures.append(
                    {"database": item.database, "command": item.kind, "error": exc.message}
                )
                log.add(f"   failed after {time.monotonic() - started:.1f} s: {exc.message}")
                continue
            done += 1
            log.add(f"   ok in {time.monotonic() - started:.1f} s")
    result = {
        "policy": policy.name,
        "version": version.number,
        "task": task,
        "commands": done,
        "failed": failures,
        "skipped": skipped,
    }
    if failures:
        first = failures[0]
        message = (
            f"{len(failures)} command(s) failed; first on {first['database']}: " + first["error"]
        )
        return Outcome(RunStatus.FAILED, result, log.text(), "query_failed", message)
    return Outcome(RunStatus.SUCCEEDED, result, log.text())


TASK_WORDS = {"full": "full backup", "diff": "differential backup", "log": "log backup"}


def picks() -> list[job_types.Pick]:
    """What the job wizard offers for a policy job: each active policy's latest version, one
    entry per part it runs (a backup policy's full, differential and log backups)."""
    found = []
    for policy in Policy.objects.alive().filter(status=Policy.Status.ACTIVE).order_by("name"):
        version = policy.versions.filter(number=policy.version).first()
        if version is None:
            continue
        config = version.configuration or {}
        tasks = (
            [t for t in ("full", "diff", "log") if config.get(t)]
            if policy.policy_type == Policy.Type.BACKUP
            else [policy.policy_type]
        )
        for task in tasks:
            words = TASK_WORDS.get(task, policy.get_policy_type_display().lower())
            found.append(
                job_types.Pick(
                    value=f"{policy.pk}:{task}",
                    label=f"{policy.name} v{version.number} ({words})",
                    configuration={
                        "policy_id": policy.pk,
                        "policy_version": version.number,
                        "task": task,
                    },
                )
            )
    return found

"""Scheduler benchmark: the routine and interactive Django-Q2 clusters started as `scripts/run.sh`
starts them (ORM broker, default worker counts), with the job dispatcher and its tick, over N
tenants holding J enabled jobs in all. Prints:

- dispatch delay p50/p95/max: single jobs made due at a known instant every few seconds, from that
  instant to the worker beginning the execution (`started_at`), while every other job waits for
  its 02:00 slot;
- the start spread when K jobs (spread over the tenants) are due at the same instant: p50, p95 and
  the last start after it;
- the CPU of the routine cluster's processes (dispatcher included) as a share of one core while
  nothing is due.

The jobs are `alert_check` jobs: this version ends them at once ("cannot run yet"), so the figures
are the scheduler's own path (due index, dispatcher, runs, claims, the queue, the worker), not a
target's work. A job made due gets `next_run_at` and its tenant's due-index row set to the chosen
instant, which is what the index holds for a job whose slot comes then.

Everything runs in its own system database (`bench_sched_system`) and `bench_sched_` tenant
databases (copies of one migrated template, as bench/engine.py does), dropped at the end.

Usage: .venv/bin/python bench/scheduler.py [--tenants 100] [--jobs 10000] [--burst 1000]
       [--probes 40] [--idle 60]
"""

import argparse
import contextlib
import datetime as dt
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_DB = "bench_sched_system"
PREFIX = "bench_sched_"
os.environ["DATABASE_URL"] = f"postgres://dbtools:dbtools@127.0.0.1:5432/{SYSTEM_DB}"
os.environ["DBTOOLS_TENANT_DB_PREFIX"] = PREFIX

import psycopg
from psycopg import sql


def _admin(dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(
        dbname=dbname, user="dbtools", password="dbtools", host="127.0.0.1", autocommit=True
    )


def _drop_database(cur: psycopg.Cursor, name: str, owner: str) -> None:
    if owner != "dbtools":
        cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(owner)))
    # A drop interrupted earlier leaves an invalid database that only DROP accepts.
    with contextlib.suppress(psycopg.errors.ObjectNotInPrerequisiteState):
        cur.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(sql.Identifier(name)))
    cur.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    cur.execute("RESET ROLE")


def drop_bench_databases() -> None:
    with _admin() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT datname, datdba::regrole::text FROM pg_database "
            "WHERE datname LIKE 'bench\\_sched\\_%'"
        )
        for name, owner in cur.fetchall():
            _drop_database(cur, name, owner.strip('"'))
        cur.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'bench\\_sched\\_%'")
        for (name,) in cur.fetchall():
            cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


drop_bench_databases()
with _admin() as _c:
    _c.execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE dbtools_template").format(sql.Identifier(SYSTEM_DB))
    )

import _setup
from _setup import pct
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from dbtools import crypto, tenancy
from engine import due
from engine.models import DueWork
from scheduler.models import Job, JobExecution
from servers.models import Server
from tenants import provisioning
from tenants.models import Tenant

TEMPLATE_ROLE = f"{PREFIX}template"
TEMPLATE_DB = f"{PREFIX}template"
CLUSTERS = ("dbtools", "interactive")
assert _setup


def make_template() -> None:
    with _admin(SYSTEM_DB) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'tpl'").format(sql.Identifier(TEMPLATE_ROLE))
        )
        provisioning._grant_to_system_role(cur, TEMPLATE_ROLE)
        cur.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(TEMPLATE_DB), sql.Identifier(TEMPLATE_ROLE)
            )
        )
    tpl = Tenant(
        slug="template",
        name="template",
        db_name=TEMPLATE_DB,
        db_user=TEMPLATE_ROLE,
        db_password_encrypted=crypto.encrypt("tpl"),
        db_host="127.0.0.1",
        db_port=5432,
    )
    tpl.pk = 0
    provisioning.migrate_tenant(tpl)
    tenancy.unregister("template")
    connections.close_all()
    with _admin(SYSTEM_DB) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(TEMPLATE_ROLE)))
        cur.execute(
            sql.SQL("ALTER DATABASE {} IS_TEMPLATE true").format(sql.Identifier(TEMPLATE_DB))
        )


def make_tenant(slug: str) -> Tenant:
    name = f"{PREFIX}{slug}"
    password = secrets.token_urlsafe(16)
    with _admin(SYSTEM_DB) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                sql.Identifier(name), sql.Literal(password), sql.Identifier(TEMPLATE_ROLE)
            )
        )
        provisioning._grant_to_system_role(cur, name)
        cur.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(TEMPLATE_DB), sql.Identifier(name)
            )
        )
    return Tenant.objects.create(
        slug=slug,
        name=slug,
        db_name=name,
        db_user=name,
        db_password_encrypted=crypto.encrypt(password),
        db_host="127.0.0.1",
        db_port=5432,
    )


def add_jobs(tenants: list[Tenant], total: int) -> dict[int, list[int]]:
    """`total` enabled jobs spread over the tenants, all waiting for 02:00; returns their ids by
    tenant."""
    per = max(1, total // len(tenants))
    tomorrow_2am = (timezone.now() + dt.timedelta(days=1)).replace(
        hour=2, minute=0, second=0, microsecond=0
    )
    ids: dict[int, list[int]] = {}
    for tenant in tenants:
        with tenancy.use_tenant(tenant):
            server = Server.objects.create(name="SQL1", host="sql1.corp", username="u")
            jobs = Job.objects.bulk_create(
                Job(
                    name=f"job {n}",
                    job_type="alert_check",
                    schedule_type="cron",
                    schedule_config={"expression": "0 2 * * *"},
                    next_run_at=tomorrow_2am,
                    created_at=timezone.now(),
                )
                for n in range(per)
            )
            Job.servers.through.objects.bulk_create(
                Job.servers.through(job_id=j.pk, server_id=server.pk) for j in jobs
            )
            ids[tenant.pk] = [j.pk for j in jobs]
            due.refresh(tenant.pk, due.JOBS)
    return ids


def make_due(tenant: Tenant, job_ids: list[int], at: dt.datetime) -> None:
    with tenancy.use_tenant(tenant):
        Job.objects.filter(pk__in=job_ids).update(next_run_at=at)
    DueWork.objects.filter(tenant=tenant, kind=due.JOBS).update(due_at=at)


def starts(tenant: Tenant, job_ids: list[int]) -> list[dt.datetime]:
    with tenancy.use_tenant(tenant):
        return list(
            JobExecution.objects.filter(job_id__in=job_ids, started_at__isnull=False).values_list(
                "started_at", flat=True
            )
        )


def start_node(log_dir: Path) -> dict[str, subprocess.Popen]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dbtools.settings",
        "DBTOOLS_LOG_LEVEL": "WARNING",
    }
    env.pop("DBTOOLS_REDIS_URL", None)
    procs = {}
    for name in CLUSTERS:
        out = (log_dir / f"{name}.log").open("wb")
        procs[name] = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env={**env, "Q_CLUSTER_NAME": name},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return procs


def stop_node(procs: dict[str, subprocess.Popen]) -> None:
    for p in procs.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 8
    for p in procs.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def group_cpu(pid: int) -> float:
    out = subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True).stdout
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in out.split():
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / ticks


def wait_for(
    tenants: list[Tenant], wanted: dict[int, list[int]], count: int, timeout: float
) -> list[dt.datetime]:
    deadline = time.monotonic() + timeout
    while True:
        got = [s for t in tenants if wanted.get(t.pk) for s in starts(t, wanted[t.pk])]
        if len(got) >= count or time.monotonic() > deadline:
            return got
        # Asking every tenant database is load of its own: not too often.
        time.sleep(1 if len(tenants) == 1 else 5)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--burst", type=int, default=1000)
    ap.add_argument("--probes", type=int, default=40)
    ap.add_argument("--idle", type=float, default=60)
    args = ap.parse_args()
    call_command("migrate", verbosity=0)
    call_command("setup_schedules", verbosity=0)
    log_dir = Path(tempfile.mkdtemp(prefix="bench_sched_"))
    procs: dict[str, subprocess.Popen] = {}
    try:
        t0 = time.monotonic()
        make_template()
        with ThreadPoolExecutor(4) as pool:
            tenants = list(pool.map(make_tenant, [f"t{i:04d}" for i in range(args.tenants)]))
        connections.close_all()
        ids = add_jobs(tenants, args.jobs)
        total = sum(len(v) for v in ids.values())
        print(
            f"{len(tenants)} tenants, {total} enabled jobs "
            f"(set up in {time.monotonic() - t0:.0f} s); worker logs in {log_dir}",
            flush=True,
        )
        procs = start_node(log_dir)
        from scheduler import dispatch

        routine = procs["dbtools"].pid

        def idle_cpu() -> float:
            c0, w0 = group_cpu(routine), time.monotonic()
            time.sleep(args.idle)
            return 100 * (group_cpu(routine) - c0) / (time.monotonic() - w0)

        # The cluster's own cost (sentinel, broker polling, idle workers) with no dispatcher yet.
        time.sleep(15)
        baseline = idle_cpu()
        dispatch.queue_dispatcher()  # as the first tick would
        time.sleep(5)  # the dispatcher takes its lock
        assert dispatch.running(), "no dispatcher started"
        with_dispatcher = idle_cpu()
        print(
            f"idle (nothing due until 02:00), routine cluster CPU over {args.idle:.0f} s: "
            f"{baseline:.2f} % of one core without the dispatcher, {with_dispatcher:.2f} % "
            f"with it (the dispatcher's share {with_dispatcher - baseline:.2f} %)",
            flush=True,
        )

        # Dispatch delay: one job at a time, due 2 s after it is set.
        delays = []
        for n in range(args.probes):
            tenant = tenants[(n * 7) % len(tenants)]
            job_id = ids[tenant.pk][n % len(ids[tenant.pk])]
            at = timezone.now() + dt.timedelta(seconds=2)
            make_due(tenant, [job_id], at)
            got = wait_for([tenant], {tenant.pk: [job_id]}, 1, 60)
            if got:
                delays.append((max(got) - at).total_seconds())
            time.sleep(1)
        if delays:
            print(
                f"dispatch delay (due -> worker begins) over {len(delays)} jobs: "
                f"p50 {pct(delays, 50):.2f} s, p95 {pct(delays, 95):.2f} s, "
                f"max {max(delays):.2f} s",
                flush=True,
            )

        # Burst: `burst` jobs due at the same instant, spread over the tenants.
        at = (timezone.now() + dt.timedelta(seconds=20)).replace(microsecond=0)
        wanted: dict[int, list[int]] = {}
        per = max(1, args.burst // len(tenants))
        for tenant in tenants:
            # Jobs the probes did not touch.
            chosen = ids[tenant.pk][-per:]
            if sum(len(v) for v in wanted.values()) + len(chosen) > args.burst:
                chosen = chosen[: args.burst - sum(len(v) for v in wanted.values())]
            if chosen:
                wanted[tenant.pk] = chosen
                make_due(tenant, chosen, at)
        count = sum(len(v) for v in wanted.values())
        got = wait_for(tenants, wanted, count, 900)
        spread = sorted((s - at).total_seconds() for s in got)
        if spread:
            print(
                f"burst: {len(spread)} of {count} jobs due at the same instant started; "
                f"after it p50 {pct(spread, 50):.1f} s, p95 {pct(spread, 95):.1f} s, "
                f"last {spread[-1]:.1f} s",
                flush=True,
            )
    finally:
        stop_node(procs)
        for tenant in Tenant.objects.all():
            tenancy.unregister(tenant.slug)
        connections.close_all()
        drop_bench_databases()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Engine benchmark: the three Django-Q2 clusters started as `scripts/run.sh` starts them (one
`manage.py qcluster` process group per cluster, ORM broker, default worker counts), collecting a
sqlsim fleet on this machine spread over 1, 100 and 1,000 tenants at a 60 s interval. Prints per
shape:

- collections on time (started within 5 s of due) and the worst lateness, from the running
  counts each slot task keeps on its row (`engine_collector_slots.stats`), after a warm-up (workers
  starting, first TLS sessions to every target);
- start delay p50/p95 of deploys and of "run now" probes queued on the interactive cluster every
  few seconds while the fleet is collected (queued -> the worker starts it);
- total RSS of all worker processes, peak PostgreSQL connections of the bench databases, peak TDS
  connections per target (established TCP connections per sqlsim port);
- CPU of the collect cluster's processes as a share of one core.

Everything runs in its own system database (`bench_engine_system`) and `bench_engine_` tenant
databases, dropped at the end. Tenants are copies of one migrated template database (CREATE
DATABASE ... TEMPLATE): migrating 1,000 databases one by one would take the better part of an hour.
The copies' tables belong to a template role each tenant role is a member of (a bench shortcut:
product tenants own their objects). Compliance facts start as a running node has them (each
server read within the last 15 minutes), so the window measures steady state, not the one-off
first reading of 5,000 servers' msdb history; likewise each server is first due at a random
moment of the coming minute, as on a running node, not all at once.

Usage: .venv/bin/python bench/engine.py [--servers 5000] [--shapes 1,100,1000] [--minutes 5]
       [--warmup 90] [--fleet-file FILE]
"""

import argparse
import datetime as dt
import contextlib
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_DB = "bench_engine_system"
PREFIX = "bench_engine_"
os.environ["DATABASE_URL"] = f"postgres://dbtools:dbtools@127.0.0.1:5432/{SYSTEM_DB}"
os.environ["DBTOOLS_TENANT_DB_PREFIX"] = PREFIX

import psycopg
from psycopg import sql


def _admin(dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(
        dbname=dbname, user="dbtools", password="dbtools", host="127.0.0.1", autocommit=True
    )


def _drop_database(cur: psycopg.Cursor, name: str, owner: str) -> None:
    # The system role does not inherit tenant roles' rights: act as the owner.
    if owner != "dbtools":
        cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(owner)))
    cur.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(sql.Identifier(name)))
    cur.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    cur.execute("RESET ROLE")


def _drop_many(pairs: list[tuple[str, str]], roles: bool = False) -> None:
    """Drop (database, owner) pairs eight at a time: each DROP DATABASE waits for a checkpoint,
    and drops running together share one."""

    def drop(chunk: list[tuple[str, str]]) -> None:
        with _admin() as conn, conn.cursor() as cur:
            for name, owner in chunk:
                _drop_database(cur, name, owner)
                if roles:
                    cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(owner)))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(drop, [pairs[i::8] for i in range(8)]))


def _drop_bench_databases() -> None:
    with _admin() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT datname, datdba::regrole::text FROM pg_database "
            "WHERE datname LIKE 'bench\\_engine\\_%'"
        )
        _drop_many([(name, owner.strip('"')) for name, owner in cur.fetchall()])
    with _admin() as conn, conn.cursor() as cur:
        cur.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'bench\\_engine\\_%'")
        for (name,) in cur.fetchall():
            cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


_drop_bench_databases()
with _admin() as _c:
    # The system database as the tests get it: a copy of the prepared, migrated template.
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
from engine.models import CollectorSlot
from monitoring.models import CollectorState
from policies.models import ComplianceSnapshot, FactsCollection
from servers import deployment, monitoring_objects
from servers.models import Server
from sqlsim.control import SubprocessFleet
from sqlsim.fleet import load_fleet_file, make_configs
from tenants import provisioning
from tenants.models import Tenant

TEMPLATE_ROLE = f"{PREFIX}template"
TEMPLATE_DB = f"{PREFIX}template"
LATE_SECONDS = 5
CLUSTERS = ("dbtools", "interactive", "collect")


# -- tenants from a template ----------------------------------------------------------------------
def make_template() -> None:
    """A migrated, seeded tenant database any CREATEDB role may copy (IS_TEMPLATE)."""
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
    name = f"{PREFIX}{slug.replace('-', '_')}"
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


def provision(count: int) -> list[Tenant]:
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(make_tenant, [f"t{i:04d}" for i in range(count)]))


def drop_tenants() -> None:
    for tenant in Tenant.objects.all():
        tenancy.unregister(tenant.slug)
    connections.close_all()
    tenants = list(Tenant.objects.all())
    _drop_many([(t.db_name, t.db_user) for t in tenants])
    # Databases a tenant role made for itself (restore tests of tenant backups) go before roles.
    with _admin() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT datname, datdba::regrole::text FROM pg_database "
            "WHERE datdba::regrole::text = ANY(%s)",
            [[t.db_user for t in tenants]],
        )
        _drop_many([(name, owner.strip('"')) for name, owner in cur.fetchall()])
        for t in tenants:
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(t.db_user)))
    Tenant.objects.all().delete()


def add_servers(tenants: list[Tenant], ports: list[int]) -> None:
    """Servers round-robin over the tenants, monitoring already deployed (the fleet's instances
    got the objects once, at the start)."""
    password = crypto.encrypt("DbTools!2026")
    by_tenant: dict[int, list[int]] = {t.pk: [] for t in tenants}
    for i, port in enumerate(ports):
        by_tenant[tenants[i % len(tenants)].pk].append(port)
    for tenant in tenants:
        with tenancy.use_tenant(tenant):
            Server.objects.bulk_create(
                [
                    Server(
                        name=f"S{port}",
                        host="127.0.0.1",
                        port=port,
                        username="dbtools",
                        password_encrypted=password,
                        encrypt="on",
                        monitoring_status=Server.Monitoring.MONITORED,
                        deployed_version=monitoring_objects.SCRIPT_VERSION,
                    )
                    for port in by_tenant[tenant.pk]
                ]
            )
            steady_collection()
            due.refresh(tenant.pk)
            steady_facts(tenant.pk)


def steady_collection() -> None:
    """Each server due once in the coming minute, spread, as on a node that has been running:
    a fresh fleet is all due at once, and the minutes a node takes to work through that one-off
    backlog are a cold start, not the steady state this bench measures."""
    now = timezone.now()
    CollectorState.objects.bulk_create(
        [
            CollectorState(
                server_id=pk,
                next_due_at=now + dt.timedelta(seconds=random.uniform(5, 65)),
                last_attempt_at=now - dt.timedelta(seconds=60),
                last_success_at=now - dt.timedelta(seconds=60),
            )
            for pk in Server.objects.values_list("pk", flat=True)
        ]
    )


def steady_facts(tenant_id: int) -> None:
    """Compliance facts as a node in steady state has them: each server read within the last
    15 minutes (spread), the fleet figure within the last 5. A fresh fleet would otherwise read
    every server's msdb history in the first minutes, on the same cores, and the window would
    measure that one-off wave rather than a running node."""
    now = timezone.now()
    FactsCollection.objects.bulk_create(
        [
            FactsCollection(
                server_id=pk,
                attempted_at=now - dt.timedelta(seconds=random.uniform(0, 14 * 60)),
                collected_at=now - dt.timedelta(seconds=random.uniform(0, 14 * 60)),
            )
            for pk in Server.objects.values_list("pk", flat=True)
        ]
    )
    ComplianceSnapshot.objects.create(
        computed_at=now - dt.timedelta(seconds=random.uniform(0, 4.5 * 60))
    )
    due.refresh(tenant_id, due.FACTS)


def deploy_fleet(ports: list[int]) -> None:
    tenant = make_tenant("deploy")
    with tenancy.use_tenant(tenant):
        Server.objects.bulk_create(
            [
                Server(
                    name=f"S{p}",
                    host="127.0.0.1",
                    port=p,
                    username="dbtools",
                    password_encrypted=crypto.encrypt("DbTools!2026"),
                    encrypt="on",
                )
                for p in ports
            ]
        )
        todo = list(Server.objects.all())

    def one(server: Server) -> str:
        with tenancy.use_tenant(tenant):
            try:
                return deployment.deploy(server)["monitoring_status"]
            finally:
                connections.close_all()

    with ThreadPoolExecutor(16) as pool:
        failed = sum(s != "monitored" for s in pool.map(one, todo))
    if failed:
        print(f"  warning: {failed} deployments failed")
    drop_tenants()


# -- the node -----------------------------------------------------------------------------------
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
        # As run.sh does: whatever is left of the group (a worker still draining) goes now.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def group_pids(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def pss_mb(pids: list[int]) -> float:
    """Proportional set size: pages shared by forked workers counted once, not per process."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / ticks


def pg_connections() -> int:
    with _admin() as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'bench\\_engine\\_%' "
            "AND pid <> pg_backend_pid()"
        ).fetchone()[0]


def tds_per_target(ports: set[int]) -> int:
    out = subprocess.run(
        ["ss", "-Htn", "state", "established"], capture_output=True, text=True
    ).stdout
    count: Counter[int] = Counter()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            peer = parts[3].rsplit(":", 1)[-1]
            if peer.isdigit() and int(peer) in ports:
                count[int(peer)] += 1
    return max(count.values(), default=0)


# -- one shape ------------------------------------------------------------------------------------
def postgres_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-u", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def cpu_by_part(procs: dict[str, subprocess.Popen], sim_pid: int) -> dict[str, float]:
    """CPU seconds so far of each part of the machine's load (where two cores go)."""
    parts = {name: cpu_seconds(group_pids(p.pid)) for name, p in procs.items()}
    parts["sqlsim"] = cpu_seconds([sim_pid])
    # Backends that ended in the window are missed: a floor for PostgreSQL.
    parts["postgres"] = cpu_seconds(postgres_pids())
    return parts


def measure(
    tenants: list[Tenant],
    ports: list[int],
    minutes: float,
    warmup: float,
    log_dir: Path,
    sim_pid: int,
) -> dict[str, Any]:
    from django_q.models import Task

    from dbtools.tasks import enqueue
    from monitoring import collector

    Task.objects.all().delete()
    procs = start_node(log_dir)
    try:
        time.sleep(3)
        collector.tick()  # as run.sh does at start (the schedule would within a minute)
        time.sleep(warmup)
        started = timezone.now()
        t_end = time.monotonic() + minutes * 60
        cpu0 = cpu_seconds(group_pids(procs["collect"].pid))
        parts0 = cpu_by_part(procs, sim_pid)
        wall0 = time.monotonic()
        rss: list[float] = []
        pss: list[float] = []
        pg: list[int] = []
        tds: list[int] = []
        deploys: list[tuple[str, float]] = []
        probes = 0
        port_set = set(ports)
        first: dict[str, dict] = {}  # slot task (owner) -> its counts when first seen
        last: dict[str, dict] = {}
        worst = 0.0
        n = 0
        while time.monotonic() < t_end:
            for owner, stats in CollectorSlot.objects.exclude(owner="").values_list(
                "owner", "stats"
            ):
                if owner not in first:
                    # A task already running when the window opened counts from here; one
                    # started inside the window counts from zero.
                    first[owner] = stats if n == 0 else {}
                else:
                    worst = max(worst, stats.get("recent_max_late_s", 0.0))
                last[owner] = stats
            pids = [p for proc in procs.values() for p in group_pids(proc.pid)]
            rss.append(rss_mb(pids))
            pss.append(pss_mb(pids))
            pg.append(pg_connections())
            tds.append(tds_per_target(port_set))
            # Alternate a real deploy (of a random tenant's server) and a "run now" probe.
            if n % 2 == 0:
                tenant = tenants[n // 2 % len(tenants)]
                with tenancy.use_tenant(tenant):
                    server = Server.objects.order_by("?").first()
                    Server.objects.filter(pk=server.pk).update(monitoring_status="monitored")
                    server.refresh_from_db()
                    queued = time.time()
                    deployment.request_deploy([server])
                deploys.append((f"deploy {tenant.slug}/{server.pk}", queued))
            else:
                enqueue(
                    "bench.probe.probe", time.time(), kind="interactive", task_name=f"probe {n}"
                )
                probes += 1
            tenancy.trim_connections(0)
            n += 1
            time.sleep(2.5)
        wall = time.monotonic() - wall0
        cpu = (cpu_seconds(group_pids(procs["collect"].pid)) - cpu0) / wall
        parts1 = cpu_by_part(procs, sim_pid)
        shares = {k: 100 * (parts1[k] - parts0[k]) / wall for k in parts1}
    finally:
        stop_node(procs)
    totals: Counter[str] = Counter()
    for owner, stats in last.items():
        for key in ("collected", "failed", "late", "stolen", "db_s"):
            totals[key] += stats.get(key, 0) - first[owner].get(key, 0)
    totals["crashed"] = Task.objects.filter(
        func="monitoring.collector.slot_task", started__gte=started, success=False
    ).count()
    # Independent of the slots' own counts: snapshots written in the window, over all tenants.
    from monitoring.models import ServerSnapshot

    window_end = started + dt.timedelta(minutes=minutes)
    snapshots = 0
    for tenant in tenants:
        with tenancy.use_tenant(tenant):
            snapshots += ServerSnapshot.objects.filter(
                collected_at__gte=started, collected_at__lt=window_end
            ).count()
    deploy_delay = []
    for name, queued in deploys:
        task = Task.objects.filter(name=name).order_by("-started").first()
        if task:
            deploy_delay.append(task.started.timestamp() - queued)
    probe_delay = [
        t.result
        for t in Task.objects.filter(func="bench.probe.probe")
        if isinstance(t.result, float)
    ]
    return {
        "snapshots": snapshots,
        "totals": totals,
        "worst": worst,
        "deploy": deploy_delay,
        "probe": probe_delay,
        "probes": probes,
        "rss": max(rss, default=0),
        "pss": max(pss, default=0),
        "pg": max(pg, default=0),
        "tds": max(tds, default=0),
        "cpu": cpu * 100,
        "shares": shares,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=5000)
    ap.add_argument("--shapes", default="1,100,1000")
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=90)
    ap.add_argument("--base-port", type=int, default=16000)
    ap.add_argument("--fleet-file", default="")
    args = ap.parse_args()
    call_command("migrate", verbosity=0)
    call_command("setup_schedules", verbosity=0)  # the collector tick and the due-index repair
    # Not what is measured here: a fresh installation would back up and restore-test every
    # tenant at once in the first hour, competing with collection for the same two cores.
    from django_q.models import Schedule

    Schedule.objects.filter(name="tenant backups").delete()
    configs = (
        load_fleet_file(args.fleet_file)
        if args.fleet_file
        else make_configs(args.servers, args.base_port)
    )
    fleet = SubprocessFleet(configs[: args.servers], start_timeout=600)
    log_dir = Path(tempfile.mkdtemp(prefix="bench_engine_"))
    print(f"worker logs in {log_dir}")
    rows = []
    try:
        ports = [fleet.port(n) for n in fleet.names][: args.servers]
        t0 = time.monotonic()
        make_template()
        deploy_fleet(ports)
        print(
            f"{len(ports)} sqlsim instances deployed in {time.monotonic() - t0:.0f} s; "
            f"{args.minutes} min per shape after {args.warmup:.0f} s warm-up"
        )
        for shape in [int(s) for s in args.shapes.split(",")]:
            t0 = time.monotonic()
            tenants = provision(shape)
            add_servers(tenants, ports)
            print(
                f"\n{shape} tenant(s) x {len(ports) // shape} servers "
                f"(provisioned in {time.monotonic() - t0:.0f} s)",
                flush=True,
            )
            r = measure(tenants, ports, args.minutes, args.warmup, log_dir, fleet.proc.pid)
            n = r["totals"]["collected"] + r["totals"]["failed"]
            on_time = 100.0 * (n - r["totals"]["late"]) / n if n else 0.0
            line = {
                "shape": f"{shape} x {len(ports) // shape}",
                "collections": n,
                "failed": r["totals"]["failed"],
                "on_time": on_time,
                "worst": r["worst"],
                "deploy": (pct(r["deploy"], 50), pct(r["deploy"], 95)) if r["deploy"] else None,
                "probe": (pct(r["probe"], 50), pct(r["probe"], 95)) if r["probe"] else None,
                "rss": r["rss"],
                "pss": r["pss"],
                "pg": r["pg"],
                "tds": r["tds"],
                "cpu": r["cpu"],
            }
            rows.append(line)
            print(
                f"  collections counted by the slot tasks in the window {n} "
                f"({line['failed']} failed, {r['totals']['stolen']} tenant visits by a slot "
                f"other than their part's, {r['totals']['crashed']} slot tasks crashed); "
                f"snapshots stored in the window {r['snapshots']}, "
                f"needed {len(ports) * args.minutes:.0f}; on time {on_time:.2f} %, "
                f"worst lateness {r['worst']:.1f} s"
            )
            for label, key in (("deploy", "deploy"), ("run now", "probe")):
                if line[key]:
                    print(
                        f"  {label} start delay p50 {line[key][0]:.2f} s, "
                        f"p95 {line[key][1]:.2f} s (n={len(r[key])})"
                    )
            print(
                f"  worker RSS {r['rss']:.0f} MB (PSS {r['pss']:.0f} MB); "
                f"peak PostgreSQL connections {r['pg']}; "
                f"peak TDS connections per target {r['tds']}; "
                f"collector CPU {r['cpu']:.0f} % of one core; database work (slot and "
                f"database threads) {100 * r['totals']['db_s'] / (args.minutes * 60):.0f} %"
                f" of one thread, summed over slots",
                flush=True,
            )
            print(
                "  CPU by part, % of one core (of 100 per core): "
                + ", ".join(f"{k} {v:.0f}" for k, v in r["shares"].items())
                + f"; machine load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            drop_tenants()
    finally:
        fleet.close()
        drop_tenants()
        connections.close_all()
        _drop_bench_databases()
        with _admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(SYSTEM_DB))
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(TEMPLATE_ROLE)))
    print(
        "\n| tenants x servers | on time | worst late | deploy p50/p95 | run-now p50/p95 "
        "| worker RSS (PSS) | PG conns | TDS/target | collector CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        d = f"{r['deploy'][0]:.2f} / {r['deploy'][1]:.2f} s" if r["deploy"] else "-"
        p = f"{r['probe'][0]:.2f} / {r['probe'][1]:.2f} s" if r["probe"] else "-"
        print(
            f"| {r['shape']} | {r['on_time']:.2f} % | {r['worst']:.1f} s | {d} | {p} "
            f"| {r['rss']:.0f} ({r['pss']:.0f}) MB | {r['pg']} | {r['tds']} | {r['cpu']:.0f} % |"
        )
    return 0


if __name__ == "__main__":
    assert _setup
    raise SystemExit(main())

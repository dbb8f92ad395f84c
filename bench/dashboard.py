"""Dashboard benchmark (issues 5 and 17). Prints server-side p50/p95 of the dashboard page (with
every panel: recent alerts, compliance, failed jobs, platform health), the server list page, a
server's page and a group's page, the health API and a 30-day metrics query, with 100, 500 and
1,000 servers.

Data: every server has 30 days of snapshots every 5 minutes (8,640 per server) and a collector
state; raw CPU metrics every minute for the last 24 h; 5-minute rollups of CPU, memory and
connections for 30 days on 20 servers (the 30-day query reads one server's rollups through the
primary key, so the other servers' rollups would not change its time). For the panels: 5
databases per server with compliance facts (a full backup overdue on every tenth server) under a
backup policy deployed to all 10 groups, and the fleet figure computed once as the background
work keeps it; 3 alert rules with one alert firing per 20 servers and one resolved in the last
day per 10; the policy's jobs with 48 runs each over the last day, a quarter of them failed;
the collector slots beating; a tenant backup. Requests go through the real middleware and views
with Django's test client (no network).

Usage: .venv/bin/python bench/dashboard.py [--sizes 100,500,1000] [--runs 30]
"""

import argparse
import time

import _setup  # noqa: F401 - sets up Django
from _setup import drop_tenant, fresh_tenant, summary
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client

from dbtools import tenancy
from monitoring import partitions
from servers.models import Server, ServerGroup, ServerGroupMember

PANEL_POLICY = "Bench backups"

SLUG = "bench-dash"


def grow_fleet(alias: str, target: int) -> None:
    have = Server.objects.count()
    if have >= target:
        return
    Server.objects.bulk_create(
        [
            Server(
                name=f"SQL{n:05}",
                host=f"10.0.{n // 250}.{n % 250}",
                username="dbtools",
                monitoring_status="monitored",
                status="online",
            )
            for n in range(have, target)
        ]
    )
    groups = list(ServerGroup.objects.all()) or ServerGroup.objects.bulk_create(
        [ServerGroup(name=f"Group {g}") for g in range(10)]
    )
    new = Server.objects.filter(name__gte=f"SQL{have:05}")
    ServerGroupMember.objects.bulk_create(
        [ServerGroupMember(group=groups[s.pk % 10], server=s) for s in new]
    )
    with connections[alias].cursor() as cur:
        cur.execute(
            """INSERT INTO server_snapshots (server_id, collected_at, status, cpu_percent,
                 cpu_other_percent, memory_percent, connection_count, batch_requests_sec,
                 duration_ms)
               SELECT s.id, t, 'online', 20 + 60 * random(), 5 * random(), 50 + 45 * random(),
                      (50 + 200 * random())::int, 1000 * random(), 12
               FROM servers s,
                    generate_series(date_trunc('minute', now()) - interval '30 days',
                                    now(), interval '5 minutes') AS t
               WHERE s.id > %s""",
            [have],
        )
        cur.execute(
            """INSERT INTO metrics (server_id, metric_type_id, collected_at, value)
               SELECT s.id, mt.id, t, 20 + 60 * random()
               FROM servers s, metric_types mt,
                    generate_series(date_trunc('minute', now()) - interval '24 hours', now(),
                                    interval '1 minute') AS t
               WHERE s.id > %s AND mt.name = 'cpu_percent'""",
            [have],
        )
        cur.execute(
            """INSERT INTO metric_rollups_5m (server_id, metric_type_id, bucket, samples, total,
                 minimum, maximum)
               SELECT s.id, mt.id, t, 5, 5 * (20 + 60 * random()), 10, 95
               FROM servers s, metric_types mt,
                    generate_series(date_bin('5 minutes', now() - interval '30 days',
                                             '2000-01-01'), now(), interval '5 minutes') AS t
               WHERE s.id > %s AND s.id <= 20
                 AND mt.name IN ('cpu_percent', 'memory_percent', 'connection_count')""",
            [have],
        )
        cur.execute(
            """INSERT INTO collector_state (server_id, next_due_at, last_attempt_at,
                 last_success_at, counters, consecutive_failures, last_error, last_error_kind)
               SELECT id, now(), now(), now(), ''::bytea, 0, '', '' FROM servers WHERE id > %s""",
            [have],
        )
        cur.execute("ANALYZE")
    panel_data(alias, have)


def panel_data(alias: str, have: int) -> None:
    """What the dashboard's panels read, for the servers added since `have`."""
    import datetime as dt

    from django.utils import timezone

    from alerts.models import Alert, AlertRule
    from engine.models import CollectorSlot
    from policies import actions as policy_actions
    from policies import standing
    from policies.models import DatabaseState, FactsCollection, Policy
    from scheduler.models import Job, JobRun

    now = timezone.now()
    new = list(Server.objects.filter(pk__gt=have).order_by("pk"))
    policy = Policy.objects.filter(name=PANEL_POLICY).first()
    if policy is None:
        policy = policy_actions.create_policy(
            {
                "name": PANEL_POLICY,
                "policy_type": "backup",
                "status": "active",
                "configuration": {"destination_path": "D:\\Backup"},
            },
            acting_user=None,
        )
        policy_actions.deploy(policy, list(ServerGroup.objects.all()), acting_user=None)
        CollectorSlot.objects.bulk_create(
            [CollectorSlot(slot=n) for n in range(2)], ignore_conflicts=True
        )
        CollectorSlot.objects.update(
            owner="bench",
            heartbeat_at=now + dt.timedelta(days=1),
            stats={"collected": 5000, "late": 12, "recent_max_late_s": 1.5},
        )
        tenancy.tenant_model().objects.get(pk=tenancy.current().id).backups.create(
            path="bench.dump", size_bytes=1
        )
    states = []
    for s in new:
        late = s.pk % 10 == 0
        for d in range(5):
            states.append(
                DatabaseState(
                    server=s,
                    name=f"db{d}",
                    database_id=5 + d,
                    recovery_model="FULL",
                    state="ONLINE",
                    created=now - dt.timedelta(days=400),
                    last_full=now - dt.timedelta(days=9 if late else 1),
                    last_diff=now - dt.timedelta(hours=3),
                    last_log=now - dt.timedelta(minutes=5),
                    last_good_checkdb=now - dt.timedelta(days=2),
                    collected_at=now,
                )
            )
    DatabaseState.objects.bulk_create(states, batch_size=2000)
    FactsCollection.objects.bulk_create(
        [FactsCollection(server=s, collected_at=now, attempted_at=now) for s in new]
    )
    rules = list(AlertRule.objects.filter(enabled=True)[:3])
    alerts = []
    for s in new:
        if s.pk % 20 == 0:
            alerts.append(
                Alert(
                    rule=rules[0],
                    server=s,
                    severity=rules[0].severity,
                    value=95,
                    last_value=95,
                    threshold=90,
                    triggered_at=now - dt.timedelta(minutes=s.pk % 60),
                )
            )
        if s.pk % 10 == 1:
            alerts.append(
                Alert(
                    rule=rules[1],
                    server=s,
                    severity=rules[1].severity,
                    status="resolved",
                    value=95,
                    last_value=80,
                    threshold=90,
                    triggered_at=now - dt.timedelta(hours=5),
                    resolved_at=now - dt.timedelta(hours=s.pk % 20),
                )
            )
    Alert.objects.bulk_create(alerts)
    if not JobRun.objects.exists():
        runs = []
        for job in Job.objects.all():
            for i in range(48):
                at = now - dt.timedelta(minutes=30 * i)
                runs.append(
                    JobRun(
                        job=job,
                        trigger="schedule",
                        scheduled_for=at,
                        started_at=at,
                        finished_at=at + dt.timedelta(minutes=5),
                        status="failed" if i % 4 == 0 else "succeeded",
                        reason="1 of 100 servers failed" if i % 4 == 0 else "",
                    )
                )
        JobRun.objects.bulk_create(runs)
    standing.refresh_snapshot()
    with connections[alias].cursor() as cur:
        cur.execute("ANALYZE")


def parts(user, runs: int) -> dict[str, list[float]]:
    """Where the dashboard's time goes, in-process: the status board, then each panel."""
    from django.test import RequestFactory

    from dbtools import sections
    from monitoring import views

    request = RequestFactory().get("/")
    request.user = user
    steps = {"  board (health, tiles, groups)": views._board}
    for s in sections.sections(sections.DASHBOARD):
        steps[f"  panel {s.key}"] = lambda s=s: s.context(request, None)
    out: dict[str, list[float]] = {}
    for label, step in steps.items():
        step()  # warm
        out[label] = []
        for _ in range(runs):
            started = time.perf_counter()
            step()
            out[label].append((time.perf_counter() - started) * 1000)
    return out


def timed(client: Client, url: str, runs: int, **headers: str) -> list[float]:
    client.get(url, headers=headers)  # warm
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        r = client.get(url, headers=headers)
        out.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, (url, r.status_code)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,500,1000")
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    tenant = fresh_tenant(SLUG, "Bench Dashboard")
    user = get_user_model().objects.filter(username="bench-dash").first()
    if user is None:
        user = get_user_model().objects.create_superuser("bench-dash", "b@example.com", "x")
    client = Client()
    client.force_login(user)
    session = client.session
    session["tenant_slug"] = SLUG
    session.save()
    try:
        with tenancy.use_tenant(tenant) as ctx:
            partitions.ensure(ctx.alias, *_days())
            for size in (int(s) for s in args.sizes.split(",")):
                started = time.perf_counter()
                grow_fleet(ctx.alias, size)
                print(f"\n{size} servers (data generated in {time.perf_counter() - started:.0f} s)")
                sample = Server.objects.order_by("pk").first().pk
                group = ServerGroup.objects.order_by("pk").first().pk
                metrics = f"/api/servers/{sample}/metrics?metric=cpu&range="
                api = {"HTTP_X_TENANT_SLUG": SLUG}
                for label, url, headers in [
                    ("dashboard page", "/", {}),
                    ("dashboard live refresh (HTMX)", "/", {"HX-Request": "true"}),
                    ("server list page", "/servers/", {}),
                    ("server page (alerts, policies, jobs)", f"/servers/{sample}/", {}),
                    ("group page (members, sections)", f"/groups/{group}/", {}),
                    (
                        "group metrics, 24 h, worst member",
                        f"/groups/{group}/metrics?range=24h&agg=max",
                        {},
                    ),
                    ("GET /api/servers/health", "/api/servers/health", {}),
                    ("GET /api/servers/{id}/metrics?range=30d", metrics + "30d", {}),
                    ("GET /api/servers/{id}/metrics?range=24h", metrics + "24h", {}),
                ]:
                    if url.startswith("/api/"):
                        client.defaults.update(api)
                    print(f"  {label:<42} {summary(timed(client, url, args.runs, **headers))}")
                    client.defaults.pop("HTTP_X_TENANT_SLUG", None)
                for label, values in parts(user, args.runs).items():
                    print(f"  {label:<42} {summary(values)}")
    finally:
        drop_tenant(SLUG)
        get_user_model().objects.filter(username="bench-dash").delete()
    return 0


def _days():
    import datetime as dt

    today = dt.datetime.now(dt.UTC).date()
    return today - dt.timedelta(days=31), today + dt.timedelta(days=1)


if __name__ == "__main__":
    raise SystemExit(main())

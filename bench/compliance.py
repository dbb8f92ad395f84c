"""Compliance benchmark. Prints the time to judge the whole fleet (1,000 servers x 20 databases
by default, under a backup and an integrity policy deployed to ten groups), the time of the
fleet figure a dashboard card shows, and of the pages and API that show it.

Usage: .venv/bin/python bench/compliance.py [--servers 1000] [--databases 20] [--runs 15]
"""

import argparse
import datetime as dt
import random
import time

import _setup  # noqa: F401 - sets up Django
from _setup import drop_tenant, fresh_tenant, summary
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from dbtools import tenancy
from policies import actions, standing
from policies.models import DatabaseState
from servers.models import Server, ServerGroup, ServerGroupMember

SLUG = "bench-compliance"
GROUPS = 10


def grow(servers: int, databases: int) -> None:
    now = timezone.now()
    Server.objects.bulk_create(
        [
            Server(name=f"SQL{n:05}", host=f"10.2.{n // 250}.{n % 250}", username="u")
            for n in range(servers)
        ]
    )
    groups = [ServerGroup.objects.create(name=f"Group {g}") for g in range(GROUPS)]
    ids = list(Server.objects.order_by("pk").values_list("pk", flat=True))
    ServerGroupMember.objects.bulk_create(
        [ServerGroupMember(group=groups[i % GROUPS], server_id=sid) for i, sid in enumerate(ids)]
    )
    rnd = random.Random(7)
    rows = []
    for sid in ids:
        for d in range(databases):
            name = ("master", "model", "msdb", "tempdb")[d] if d < 4 else f"App{d:02}"
            late = rnd.random() < 0.03  # about 3 % miss their log backups
            rows.append(
                DatabaseState(
                    server_id=sid,
                    name=name,
                    recovery_model="SIMPLE" if d < 4 or rnd.random() < 0.1 else "FULL",
                    state="ONLINE",
                    created=now - dt.timedelta(days=200),
                    last_full=now - dt.timedelta(hours=rnd.randint(1, 150)),
                    last_diff=now - dt.timedelta(hours=rnd.randint(1, 20)),
                    last_log=now - dt.timedelta(minutes=300 if late else rnd.randint(1, 14)),
                    last_good_checkdb=now - dt.timedelta(hours=rnd.randint(1, 160)),
                    collected_at=now,
                )
            )
    DatabaseState.objects.bulk_create(rows, batch_size=5000)
    backup = actions.create_policy(
        {
            "name": "Backups",
            "policy_type": "backup",
            "status": "active",
            "configuration": {"destination_path": "D:\\Backup"},
        },
        acting_user=None,
    )
    integrity = actions.create_policy(
        {"name": "CHECKDB", "policy_type": "integrity_check", "status": "active"},
        acting_user=None,
    )
    for policy in (backup, integrity):
        actions.deploy(policy, groups, acting_user=None)


def timed(fn, runs: int) -> list[float]:
    fn()  # warm
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    # Pages name their static files; without collectstatic the manifest storage cannot.
    settings.STORAGES["staticfiles"] = {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
    }
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=1000)
    ap.add_argument("--databases", type=int, default=20)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    tenant = fresh_tenant(SLUG, "Bench compliance")
    user = get_user_model().objects.filter(username="bench-compliance").first()
    if user is None:
        user = get_user_model().objects.create_superuser("bench-compliance", "b@example.com", "x")
    client = Client()
    client.force_login(user)
    session = client.session
    session["tenant_slug"] = SLUG
    session.save()
    try:
        with tenancy.use_tenant(tenant):
            started = time.perf_counter()
            grow(args.servers, args.databases)
            n = args.servers * args.databases
            took = time.perf_counter() - started
            print(
                f"{args.servers} servers x {args.databases} databases = {n} databases, "
                f"2 policies on {GROUPS} groups (data in {took:.0f} s)"
            )
            group = ServerGroup.objects.order_by("pk").first().pk
            result = standing.fleet_summary()
            print(f"  fleet figure: {result['percent']} % of {result['databases']} databases")
            every = lambda: standing.standings(standing.live_deployments())  # noqa: E731
            print(f"  {'judge every deployment':<44} {summary(timed(every, args.runs))}")
            compute = standing.refresh_snapshot  # what the routine task does
            print(
                f"  {'compute + store the fleet figure':<44} {summary(timed(compute, args.runs))}"
            )
            card = standing.fleet_card
            print(f"  {'card: read the fleet figure':<44} {summary(timed(card, args.runs))}")
            client.defaults["HTTP_X_TENANT_SLUG"] = SLUG
            for label, url in [
                ("GET /api/compliance/summary", "/api/compliance/summary"),
                ("dashboard page (without the card)", "/"),
                (
                    "compliance page, one group, failing",
                    f"/policies/compliance?group={group}&compliance=non_compliant",
                ),
            ]:

                def get(url=url):
                    r = client.get(url)
                    assert r.status_code == 200, (url, r.status_code)

                print(f"  {label:<44} {summary(timed(get, args.runs))}")
    finally:
        drop_tenant(SLUG)
        get_user_model().objects.filter(username="bench-compliance").delete()


if __name__ == "__main__":
    main()

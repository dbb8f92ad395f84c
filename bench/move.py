"""Moving a tenant full of metrics: write freeze, verification time and total time.

Starts two throw-away PostgreSQL clusters (the source with wal_level=logical), fills a tenant's
`metrics` table directly (SERVERS servers x METRIC TYPES x DAYS at one sample per INTERVAL
seconds), then moves it by logical replication, and a second such tenant by dump and restore.

    .venv/bin/python bench/move.py                       # 100 servers, 30 days, 60 s samples
    .venv/bin/python bench/move.py --days 1 --interval 300

The default is the issue's size (about 56 million rows, several GB): it needs a machine with
the disk and the time for it.
"""

import argparse
import datetime as dt
import os
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tenants.tests import pgcluster  # no Django needed: clusters start before the set-up


def setup_django(system_cluster) -> None:
    """The system database lives on the throw-away target cluster, migrated here: the bench
    never touches the shared server."""
    import psycopg

    with psycopg.connect(
        f"host=127.0.0.1 port={system_cluster.port} user=postgres dbname=postgres", autocommit=True
    ) as conn:
        conn.execute("CREATE DATABASE dbtools_bench")
    os.environ["DATABASE_URL"] = (
        f"postgres://postgres@127.0.0.1:{system_cluster.port}/dbtools_bench"
    )
    import _setup  # noqa: F401 - django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_tenant(cluster, slug: str, servers: int, days: int, interval: int):
    from dbtools import crypto, tenancy
    from tenants import provisioning
    from tenants.models import Tenant
    from tenants.pgadmin import Endpoint, create_tenant_database

    name = tenancy.database_name(slug)
    password = secrets.token_urlsafe(16)
    create_tenant_database(Endpoint.from_url(cluster.admin_url), name, password, name)
    Tenant.objects.filter(slug=slug).delete()
    tenant = Tenant.objects.create(
        slug=slug,
        name=slug,
        db_name=name,
        db_user=name,
        db_password_encrypted=crypto.encrypt(password),
        db_host="127.0.0.1",
        db_port=cluster.port,
    )
    provisioning.migrate_tenant(tenant)
    from monitoring import partitions

    today = dt.datetime.now(dt.UTC).date()
    with tenancy.use_tenant(tenant) as ctx:
        partitions.ensure(ctx.alias, today - dt.timedelta(days=days), today + dt.timedelta(days=1))
    start = dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time(), dt.UTC)
    with Endpoint.of_tenant(tenant).connect() as conn:
        types = [r[0] for r in conn.execute("SELECT id FROM metric_types ORDER BY id")]
        began = time.monotonic()
        for day in range(days):
            lo = start + dt.timedelta(days=day)
            conn.execute(
                """INSERT INTO metrics (server_id, metric_type_id, collected_at, value)
                   SELECT s, t, ts, random() * 100
                   FROM generate_series(1, %s) s, unnest(%s::smallint[]) t,
                        generate_series(%s::timestamptz, %s::timestamptz - interval '1 second',
                                        make_interval(secs => %s)) ts""",
                [servers, types, lo, lo + dt.timedelta(days=1), interval],
            )
        rows = conn.execute("SELECT count(*) FROM metrics").fetchone()[0]
        conn.execute("VACUUM ANALYZE")
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    print(
        f"  {slug}: {rows} metric rows, {size / 2**20:.0f} MB, generated in "
        f"{time.monotonic() - began:.1f} s"
    )
    return tenant, rows


def run_move(tenant, source, target, method: str):
    from tenants import move as mover

    move, pf = mover.start(
        tenant, target.admin_url, source_admin_url=source.admin_url, method=method
    )
    if move is None:
        raise SystemExit("preflight failed: " + "; ".join(pf.lines()))
    mover.run(move)
    move.refresh_from_db()
    return move


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--interval", type=int, default=60, help="seconds between samples")
    args = parser.parse_args()
    source, target = pgcluster.start("logical"), pgcluster.start()
    made = []
    try:
        setup_django(target)
        from dbtools import tenancy
        from tenants.models import Tenant

        print(f"{args.servers} servers, {args.days} days, one sample per {args.interval} s")
        for method in ("logical", "dump"):
            slug = f"bench-move-{method}"
            tenant, _ = make_tenant(source, slug, args.servers, args.days, args.interval)
            made.append(slug)
            move = run_move(tenant, source, target, method)
            print(
                f"{method:>8}: write freeze {move.freeze_seconds:.2f} s, verification "
                f"{move.verify_seconds:.2f} s, total {move.total_seconds:.2f} s "
                f"({move.report['verification']['rows']} rows verified)"
            )
    finally:
        for slug in made:
            tenancy.unregister(slug)
            Tenant.objects.filter(slug=slug).delete()
        source.stop()
        target.stop()


if __name__ == "__main__":
    main()

"""Two worker nodes for real: a Redis broker (Debian's redis-server on a free port) and two
`manage.py qcluster` processes for the collect cluster, against one tenant's sqlsim fleet. Every
server is collected once per cycle; then one node is SIGKILLed and the other takes over its share
within one lease period."""

import contextlib
import datetime as dt
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from dbtools import tenancy
from engine.models import CollectorSlot
from monitoring.models import CollectionConfig, ServerSnapshot
from servers import actions, deployment

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server is not installed"),
]
ROOT = Path(__file__).resolve().parents[2]
INTERVAL = 5  # below the product's 30 s minimum, set directly: cycles the test can wait for
LEASE = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # Own session: a SIGKILL to the group takes the whole node (sentinel and workers) at once.
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # Django-Q2's cluster can hang on SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def group_pids(proc: subprocess.Popen) -> set[int]:
    out = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def collections_since(since: dt.datetime) -> dict[int, list[dt.datetime]]:
    seen: dict[int, list[dt.datetime]] = defaultdict(list)
    rows = ServerSnapshot.objects.filter(collected_at__gt=since).order_by("collected_at")
    for server_id, at in rows.values_list("server_id", "collected_at"):
        seen[server_id].append(at)
    return seen


def wait_for(check, timeout: float, step: float = 0.5):
    give_up = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > give_up:
            return value
        time.sleep(step)


@pytest.fixture
def fleet(tenant_alpha, sqlsim, settings):
    # As on the nodes: every process of a deployment agrees on the number of collector parts.
    settings.DBTOOLS_COLLECT_SLOTS = 2
    with tenancy.use_tenant(tenant_alpha):
        servers = []
        for n in range(8):
            host, port = sqlsim.address(f"SQLPROD0{n % 4 + 1}")
            server = actions.create_server(
                {
                    "name": f"NODE{n}",
                    "host": host,
                    "port": port,
                    "auth_type": "sql",
                    "username": sqlsim.login,
                    "password": sqlsim.password,
                }
            )
            assert deployment.deploy(server)["monitoring_status"] == "monitored"
            CollectionConfig.objects.create(server=server, interval_seconds=INTERVAL)
            servers.append(server)
        yield servers


def test_two_nodes_share_a_fleet_and_one_takes_over_when_the_other_dies(fleet, tmp_path):
    redis_port = free_port()
    redis = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    db = connections["default"].settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dbtools.settings",
        # The same (test) system database as this process: tenant rows name their databases.
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "DBTOOLS_ENCRYPTION_KEYS": settings.DBTOOLS_ENCRYPTION_KEYS,
        "DBTOOLS_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "Q_CLUSTER_NAME": "collect",
        "DBTOOLS_COLLECT_SLOTS": "2",
        "DBTOOLS_COLLECT_WORKERS": "1",  # one slot per node: both nodes get a share
        "DBTOOLS_COLLECTOR_RUN_SECONDS": "10",  # slots hand over to successors during the test
        "DBTOOLS_COLLECTOR_LOOKAHEAD": "1",
        "DBTOOLS_COLLECTOR_TIMEOUT": "3",
        "DBTOOLS_COLLECTOR_LEASE_SECONDS": str(LEASE),
        "DBTOOLS_LOG_LEVEL": "INFO",
    }
    python = sys.executable
    nodes = [
        start([python, "manage.py", "qcluster"], env, tmp_path / f"node{n}.log") for n in (0, 1)
    ]
    try:
        # The minute tick (normally a schedule of the main cluster) queues the two slots.
        tick_env = {k: v for k, v in env.items() if k != "Q_CLUSTER_NAME"}
        subprocess.run(
            [
                python,
                "manage.py",
                "shell",
                "-c",
                "from monitoring import collector; print(collector.tick())",
            ],
            cwd=ROOT,
            env=tick_env,
            check=True,
            timeout=60,
        )

        def owners_by_node():
            pids = [group_pids(n) for n in nodes]
            owners = CollectorSlot.objects.exclude(owner="").values_list("owner", flat=True)
            held = [int(o.split(":")[1]) for o in owners]
            return {i for i, p in enumerate(pids) for pid in held if pid in p}

        assert wait_for(lambda: owners_by_node() == {0, 1}, 120), (
            tmp_path / "node0.log"
        ).read_text()[-3000:]
        ids = {s.pk for s in fleet}
        with tenancy.use_tenant(_alpha()):
            # Three cycles with both nodes up: every server collected, never twice in a cycle.
            since = timezone.now()
            time.sleep(3 * INTERVAL + 1)
            seen = collections_since(since)
            assert set(seen) == ids, (tmp_path / "node0.log").read_text()[-4000:]
            for server_id, times in seen.items():
                gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
                assert len(times) >= 2, (server_id, times)
                assert min(gaps) > INTERVAL / 2, (server_id, times)  # never twice in a cycle

            kill_group(nodes[0])  # SIGKILL: no chance to release its claims
            killed = timezone.now()
            # The survivor collects every server, the dead node's share included, once their
            # claims run out: within one lease period (plus one interval to fall due).
            time.sleep(LEASE + INTERVAL + 3)
            after = collections_since(killed)
            assert set(after) == ids, after
            late = {s: (t[0] - killed).total_seconds() for s, t in after.items()}
            assert max(late.values()) <= LEASE + INTERVAL + 2, late
            for server_id, times in collections_since(since).items():
                gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
                assert min(gaps) > INTERVAL / 2, (server_id, times)
    finally:
        for node in nodes:
            if node.poll() is None:
                kill_group(node, signal.SIGTERM)
        redis.terminate()
        redis.wait(timeout=10)


def _alpha():
    from tenants.models import Tenant

    return Tenant.objects.get(slug="alpha")

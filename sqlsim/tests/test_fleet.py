"""Fleet scale, the command line, the control port, and the instance state model."""

from __future__ import annotations

import gc
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from typing import TYPE_CHECKING

import pytest

from sqlsim.control import ControlClient
from sqlsim.fleet import FleetThread, make_configs
from sqlsim.instance import InstanceConfig, InstanceState
from sqlsim.pytest_plugin import SharedFleetError
from sqlsim.tests.helpers import connect

if TYPE_CHECKING:
    from sqlsim.pytest_plugin import SqlsimFleet

pytest_plugins = ["sqlsim.pytest_plugin"]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def prelogin_probe(port: int, timeout: float = 2.0) -> bytes:
    """Send a minimal PRELOGIN and return the raw answer payload."""
    payload = struct.pack(">BHH", 1, 6, 1) + b"\xff" + b"\x02"
    packet = struct.pack(">BBHHBB", 0x12, 1, len(payload) + 8, 0, 1, 0) + payload
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(packet)
        header = sock.recv(8)
        length = struct.unpack(">H", header[2:4])[0]
        body = b""
        while len(body) < length - 8:
            body += sock.recv(length - 8 - len(body))
        return header + body


def port_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def open_fds() -> int:
    gc.collect()  # sockets earlier tests dropped must not close in the middle of a count
    return len(os.listdir("/proc/self/fd"))


def listening_sockets_of_this_process(ports: set[int]) -> int:
    """Listening TCP sockets on `ports` held by this process (whatever else it has open)."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[8:-1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                port = int(cols[1].rsplit(":", 1)[1], 16)
                if cols[3] == "0A" and port in ports and cols[9] in mine:  # 0A: LISTEN
                    count += 1
    return count


def test_two_thousand_ports_start_and_stop_cleanly() -> None:
    fds_before = open_fds()
    fleet = FleetThread(make_configs(2000, 0))
    started = time.monotonic()
    fleet.start()
    start_secs = time.monotonic() - started
    try:
        ports = [inst.port for inst in fleet.fleet.instances.values()]
        assert len(set(ports)) == 2000
        assert all(inst.running for inst in fleet.fleet.instances.values())
        assert listening_sockets_of_this_process(set(ports)) == 2000
        for port in random.Random(1).sample(ports, 25):
            answer = prelogin_probe(port)
            assert answer[0] == 0x04  # tabular result: a PRELOGIN answer
        names = list(fleet.fleet.instances)
        assert names[0] == "SQLPROD0001" and names[-1] == "SQLPROD2000"
    finally:
        stopped = time.monotonic()
        fleet.stop()
        stop_secs = time.monotonic() - stopped
    assert all(port_closed(p) for p in random.Random(2).sample(ports, 25))
    assert listening_sockets_of_this_process(set(ports)) == 0
    assert open_fds() <= fds_before + 5
    assert start_secs < 30 and stop_secs < 30, (start_secs, stop_secs)


def _free_port_block(count: int) -> int:
    for _ in range(50):
        base = random.randrange(20000, 30000 - count)
        socks = []
        try:
            for p in range(base, base + count):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port block")


def test_command_line_fleet_with_control_port() -> None:
    base = _free_port_block(2001)
    control = base + 2000
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sqlsim",
            "--count",
            "2000",
            "--base-port",
            str(base),
            "--control-port",
            str(control),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("sqlsim: 2000 instances"), line
        with connect(base + 1999) as conn:
            assert conn.cursor().execute("SELECT @@SERVERNAME").fetchone()[0] == "SQLPROD2000"
        client = ControlClient(f"http://127.0.0.1:{control}")
        assert len(client.instances()) == 2000
        client.stop_instance("SQLPROD0002")
        assert port_closed(base + 1)
        client.start_instance("SQLPROD0002")
        assert prelogin_probe(base + 1)[0] == 0x04
    finally:
        proc.terminate()
        code = proc.wait(30)
    assert code == 0
    assert port_closed(base) and port_closed(control)


def test_fleet_file(tmp_path: os.PathLike, sqlsim_factory) -> None:
    from sqlsim.fleet import load_fleet_file

    spec = {
        "defaults": {"edition": "standard"},
        "instances": [
            {"name": "SQLFILE01", "port": 0, "version": 2016},
            {
                "name": "SQLFILE02",
                "port": 0,
                "version": 2022,
                "logins": [{"name": "monitor", "password": "M0nitor!", "view_server_state": False}],
            },
        ],
    }
    path = os.path.join(tmp_path, "fleet.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(spec, fh)
    configs = load_fleet_file(path)
    assert [c.edition for c in configs] == ["standard", "standard"]
    fleet = sqlsim_factory(configs)
    with connect(fleet.port("SQLFILE02"), uid="monitor", pwd="M0nitor!") as conn:
        row = (
            conn.cursor()
            .execute(
                "SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)),"
                " HAS_PERMS_BY_NAME(NULL, NULL, 'VIEW SERVER STATE')"
            )
            .fetchone()
        )
        assert tuple(row) == ("16.0.4135.4", 0)


def test_fleet_file_groups_and_the_mixed_bench_fleet(tmp_path: os.PathLike) -> None:
    from sqlsim.fleet import load_fleet_file

    spec = {
        "base_port": 30000,
        "instances": [
            {
                "name": "SQLONE",
                "port": 0,
                "databases": ["master", "tempdb", "model", "msdb", "Sales"],
            }
        ],
        "groups": [
            {"prefix": "SQLS", "count": 3, "databases": 5, "versions": [2019, 2016]},
            {"prefix": "SQLL", "count": 2, "databases": 300, "edition": "standard"},
        ],
    }
    path = os.path.join(tmp_path, "fleet.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(spec, fh)
    configs = load_fleet_file(path)
    assert [c.name for c in configs] == ["SQLONE", "SQLS01", "SQLS02", "SQLS03", "SQLL01", "SQLL02"]
    assert [c.port for c in configs] == [0, 30000, 30001, 30002, 30003, 30004]
    assert [c.version for c in configs[1:4]] == [2019, 2016, 2019]
    big = configs[4]
    assert big.edition == "standard" and len(big.databases) == len(set(big.databases)) == 300
    assert big.databases[:4] == ["master", "tempdb", "model", "msdb"]
    assert configs[5].databases[10] is big.databases[10]  # names shared, not copied
    mixed = load_fleet_file(os.path.join(ROOT, "bench", "fleet-mixed.json"))
    sizes = {n: sum(1 for c in mixed if len(c.databases) == n) for n in (5, 50, 300)}
    assert sizes == {5: 4250, 50: 600, 300: 150}
    with pytest.raises(ValueError, match="system databases"):
        InstanceConfig(name="X", port=0, databases=3)


def test_control_interface(sqlsim: SqlsimFleet) -> None:
    url = sqlsim.control_url
    with urllib.request.urlopen(url + "/instances", timeout=5) as resp:  # noqa: S310
        listing = json.loads(resp.read())
    assert {i["server_name"] for i in listing} >= {"SQLPROD01", "SQLNAMED01\\INST1"}
    down = next(i for i in listing if i["name"] == "SQLDOWN01")
    assert down["running"] is False

    sqlsim.spike_cpu("SQLPROD01", 97)
    assert sqlsim.info("SQLPROD01")["metrics"]["cpu_percent"] == 97.0
    sqlsim.clear_cpu("SQLPROD01")
    assert sqlsim.info("SQLPROD01")["metrics"]["cpu_percent"] != 97.0

    port = sqlsim.port("SQLPROD02")
    sqlsim.hang("SQLPROD02")
    with pytest.raises(TimeoutError):
        prelogin_probe(port, timeout=0.5)
    sqlsim.hang("SQLPROD02", on=False)
    assert prelogin_probe(port)[0] == 0x04

    sqlsim.stop_instance("SQLPROD02")
    assert port_closed(port)
    sqlsim.start_instance("SQLPROD02")
    assert not port_closed(port)

    sqlsim.slow("SQLPROD02", 0.6)
    started = time.monotonic()
    prelogin_probe(port)
    assert time.monotonic() - started >= 0.5

    with pytest.raises(RuntimeError, match="404"):
        sqlsim.steer("NOSUCH", cpu=1)
    with pytest.raises(RuntimeError, match="unknown steering keys"):
        sqlsim.steer("SQLPROD01", colour="blue")

    # reset() (run by the fixture after each test) restores the configured state
    sqlsim.reset()
    info = sqlsim.info("SQLPROD02")
    assert info["steering"] == {
        "cpu": None,
        "delay": 0.0,
        "delays": {},
        "hang": False,
        "refuse_logins": False,
    }
    assert sqlsim.info("SQLHANG01")["steering"]["hang"] is True
    assert sqlsim.info("SQLDOWN01")["running"] is False


def test_steering_existing_connections(sqlsim: SqlsimFleet) -> None:
    """A stopped instance drops its sessions; a revoked permission applies to new sessions."""
    conn = connect(sqlsim.port("SQLPROD04"))
    try:
        assert conn.cursor().execute("SELECT 1").fetchone()[0] == 1
        sqlsim.stop_instance("SQLPROD04")
        with pytest.raises(Exception):  # noqa: B017,PT011 - the driver's error text varies
            conn.cursor().execute("SELECT 1").fetchone()
    finally:
        conn.close()
    sqlsim.start_instance("SQLPROD04")
    sqlsim.set_view_server_state("SQLPROD04", False)
    with connect(sqlsim.port("SQLPROD04")) as conn:
        perms = "SELECT HAS_PERMS_BY_NAME(NULL, NULL, 'VIEW SERVER STATE')"
        assert conn.cursor().execute(perms).fetchone()[0] == 0


def test_state_counters_drift_and_only_grow() -> None:
    state = InstanceState(InstanceConfig(name="SQLSTATE01", port=1, seed=7))
    first = state.snapshot()
    waits_before = dict(first["waits"])
    time.sleep(0.05)
    second = state.snapshot()
    assert second["batch_requests"] >= first["batch_requests"]
    assert second["ms_ticks"] > first["ms_ticks"]
    for wait, (ms, count) in second["waits"].items():
        assert ms >= waits_before[wait][0] and count >= waits_before[wait][1]
    assert 0 < second["cpu_percent"] < 100
    assert len(state.cpu_ring) == 256  # one record per minute, newest last
    ticks = [r[0] for r in state.cpu_ring]
    assert ticks == sorted(ticks)
    state.steering.cpu_spike = 99
    assert state.cpu_percent() == 99
    mem = second["memory"]
    assert mem["committed_mb"] <= mem["committed_target_mb"] <= mem["physical_memory_mb"]


def test_registry_extension_loaded_into_the_child(sqlsim_factory) -> None:
    fleet = sqlsim_factory(
        [InstanceConfig(name="SQLEXT01", port=0)], load=["sqlsim.tests.extra_handlers"]
    )
    with connect(fleet.port("SQLEXT01")) as conn:
        cur = conn.cursor()
        with pytest.raises(Exception, match="2812"):
            cur.execute("EXEC dbo.usp_sqlsim_probe")
        cur.execute(
            "CREATE OR ALTER PROCEDURE dbo.usp_sqlsim_probe AS\nBEGIN\n  SET NOCOUNT ON;\n"
            "  SELECT 1;\nEND"
        )
        fleet.spike_cpu("SQLEXT01", 88)
        row = cur.execute("EXEC dbo.usp_sqlsim_probe @tag = ?", "hello").fetchone()
        assert (row[0], row[2]) == (88, "hello")
        # as an RPC by name (what pyodbc's {CALL ...} sends)
        row = cur.execute("{CALL dbo.usp_sqlsim_probe (?)}", "rpc").fetchone()
        assert row[2] == "rpc"


@pytest.mark.parametrize(
    "change",
    [
        lambda fleet: fleet.restart("SQLPROD01"),
        lambda fleet: fleet.advance_clock("SQLPROD01", 60),
        lambda fleet: fleet.clear_wait_stats("SQLPROD01"),
        lambda fleet: fleet.steer("SQLPROD01", restart=True),
    ],
    ids=["restart", "advance_clock", "clear_wait_stats", "steer"],
)
def test_shared_fleet_refuses_changes_no_reset_undoes(sqlsim, change):
    with pytest.raises(SharedFleetError, match="sqlsim_factory"):
        change(sqlsim)
    with connect(sqlsim.port("SQLPROD01")) as conn:
        ticks = conn.cursor().execute("SELECT ms_ticks FROM sys.dm_os_sys_info").fetchone()[0]
    assert ticks > 3_600_000  # still the long uptime the standard fleet starts with


def test_step_delays_slow_only_the_steered_step(sqlsim_factory) -> None:
    fleet = sqlsim_factory([InstanceConfig(name="SQLSTEPS01", port=0)])
    port = fleet.port("SQLSTEPS01")
    fleet.slow_steps("SQLSTEPS01", query=0.6)
    assert fleet.info("SQLSTEPS01")["steering"]["delays"] == {"query": 0.6}
    started = time.monotonic()
    with connect(port) as conn:
        connected = time.monotonic()
        conn.cursor().execute("SELECT 1").fetchone()
        queried = time.monotonic()
    # FreeTDS runs a few statements of its own while connecting, so only the handshake is fast
    assert prelogin_probe(port) and time.monotonic() - queried < 0.4
    assert queried - connected >= 0.5
    assert connected - started >= 0.5

    fleet.slow_steps("SQLSTEPS01", prelogin=0.6)
    started = time.monotonic()
    prelogin_probe(port)
    assert time.monotonic() - started >= 0.5

    with pytest.raises(RuntimeError, match="unknown steps"):
        fleet.slow_steps("SQLSTEPS01", handshake=1)
    fleet.reset()
    assert fleet.info("SQLSTEPS01")["steering"]["delays"] == {}

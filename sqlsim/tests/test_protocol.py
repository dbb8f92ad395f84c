"""sqlsim through the real client stack: pyodbc + FreeTDS over TCP."""

from __future__ import annotations

import datetime as dt
import decimal
import threading
import time
from typing import TYPE_CHECKING

import pyodbc
import pytest

from sqlsim.tests.helpers import connect

if TYPE_CHECKING:
    from sqlsim.pytest_plugin import SqlsimFleet

# The root conftest registers this plugin too; naming it here keeps the module self-sufficient.
pytest_plugins = ["sqlsim.pytest_plugin"]


def test_connect_and_identity_queries(sqlsim: SqlsimFleet) -> None:
    with connect(sqlsim.port("SQLPROD02")) as conn:
        cur = conn.cursor()
        version = cur.execute("SELECT @@VERSION").fetchone()[0]
        assert version.startswith("Microsoft SQL Server 2022 (RTM-CU")
        assert "Standard Edition (64-bit)" in version
        row = cur.execute(
            "SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)),"
            " CAST(SERVERPROPERTY('Edition') AS nvarchar(128)),"
            " CAST(SERVERPROPERTY('ProductLevel') AS nvarchar(128)),"
            " CAST(SERVERPROPERTY('EngineEdition') AS int),"
            " CAST(SERVERPROPERTY('MachineName') AS nvarchar(128)),"
            " CAST(SERVERPROPERTY('ServerName') AS nvarchar(128)),"
            " CAST(SERVERPROPERTY('InstanceName') AS nvarchar(128)),"
            " HAS_PERMS_BY_NAME(NULL, NULL, 'VIEW SERVER STATE')"
        ).fetchone()
        assert tuple(row) == (
            "16.0.4135.4",
            "Standard Edition (64-bit)",
            "RTM",
            2,
            "SQLPROD02",
            "SQLPROD02",
            None,
            1,
        )
        assert [tuple(r) for r in cur.execute("SELECT 1").fetchall()] == [(1,)]


def test_uncast_serverproperty_is_sql_variant(sqlsim: SqlsimFleet) -> None:
    """As on SQL Server, SERVERPROPERTY returns sql_variant, which FreeTDS cannot fetch."""
    with connect(sqlsim.port("SQLPROD01")) as conn:
        cur = conn.cursor()
        with pytest.raises(pyodbc.Error) as err:
            cur.execute("SELECT SERVERPROPERTY('ProductVersion')").fetchall()
        assert "HY091" in str(err.value) or "variant" in str(err.value).lower()


def test_named_instance(sqlsim: SqlsimFleet) -> None:
    port = sqlsim.port("SQLNAMED01\\INST1")
    with connect(port, server="127.0.0.1\\INST1") as conn:
        assert tuple(conn.cursor().execute("SELECT @@SERVERNAME, @@SERVICENAME").fetchone()) == (
            "SQLNAMED01\\INST1",
            "INST1",
        )
    with pytest.raises(pyodbc.Error):
        connect(port, server="127.0.0.1\\WRONG")


def test_result_types_and_nulls(sqlsim: SqlsimFleet) -> None:
    with connect(sqlsim.port("SQLPROD01")) as conn:
        row = (
            conn.cursor()
            .execute(
                "SELECT CAST(5 AS int) AS i, CAST(9000000000 AS bigint) AS b, CAST(1.25 AS float),"
                " CAST(12.345 AS decimal(10,3)), N'Zürich ✓', CAST(1 AS bit),"
                " CAST(NULL AS int), CAST(NULL AS nvarchar(10)), SYSDATETIME()"
            )
            .fetchone()
        )
        assert tuple(row[:8]) == (
            5,
            9000000000,
            1.25,
            decimal.Decimal("12.345"),
            "Zürich ✓",
            True,
            None,
            None,
        )
        assert isinstance(row[8], dt.datetime)
        assert abs((row[8] - dt.datetime.now()).total_seconds()) < 5


def test_parameterised_queries(sqlsim: SqlsimFleet) -> None:
    """pyodbc sends sp_prepexec (RPC 13), then sp_execute for the same SQL, then sp_unprepare."""
    with connect(sqlsim.port("SQLPROD01")) as conn:
        cur = conn.cursor()
        when = dt.datetime(2026, 1, 2, 3, 4, 5, 123000)
        row = cur.execute(
            "SELECT ? AS a, ? AS b, ? AS c, ? AS d, ? AS e, ? AS f, ? AS g",
            42,
            2**40,
            2.5,
            decimal.Decimal("3.14"),
            "héllo",
            None,
            when,
        ).fetchone()
        assert tuple(row[:6]) == (42, 2**40, 2.5, decimal.Decimal("3.14"), "héllo", None)
        assert abs(row[6] - when) < dt.timedelta(milliseconds=5)
        for i in range(3):  # same SQL again: prepared handle reused
            assert cur.execute("SELECT ? + 1", i).fetchone()[0] == i + 1
        long_text = "x" * 6000  # sent as NTEXT / nvarchar(max)
        assert cur.execute("SELECT LEN(?)", long_text).fetchone()[0] == 6000


def test_result_set_over_many_packets(sqlsim: SqlsimFleet) -> None:
    with connect(sqlsim.port("SQLPROD01")) as conn:
        rows = conn.cursor().execute("SELECT TOP 20000 value FROM sqlsim_series").fetchall()
        assert [r[0] for r in rows] == list(range(1, 20001))
        # four bytes + headers per row: far more than one 4096-byte packet


def test_multiple_result_sets_in_one_batch(sqlsim: SqlsimFleet) -> None:
    with connect(sqlsim.port("SQLPROD01")) as conn:
        cur = conn.cursor()
        cur.execute("SET NOCOUNT ON; SELECT 1 AS one; SELECT N'two' AS two, 3 AS three")
        assert [tuple(r) for r in cur.fetchall()] == [(1,)]
        assert cur.nextset()
        assert [tuple(r) for r in cur.fetchall()] == [("two", 3)]
        assert not cur.nextset()


def test_sql_server_errors(sqlsim: SqlsimFleet) -> None:
    with connect(sqlsim.port("SQLPROD01")) as conn:
        cur = conn.cursor()
        with pytest.raises(pyodbc.ProgrammingError, match=r"Invalid object name 'dbo\.Nope'.*208"):
            cur.execute("SELECT * FROM dbo.Nope")
        with pytest.raises(pyodbc.Error, match=r"Could not find stored procedure 'usp_x'.*2812"):
            cur.execute("EXEC usp_x 1")
        with pytest.raises(pyodbc.Error, match=r"Could not find stored procedure 'FLARP'"):
            cur.execute("FLARP WIBBLE;")  # as on SQL Server: a bare first word is an EXEC
        with pytest.raises(pyodbc.Error, match=r"Incorrect syntax"):
            cur.execute("SELECT 1 +")
        # the connection is still usable after errors
        assert cur.execute("SELECT 7").fetchone()[0] == 7


def test_dmv_needs_view_server_state(sqlsim: SqlsimFleet) -> None:
    with connect(sqlsim.port("SQLNOPERM01")) as conn:
        cur = conn.cursor()
        assert (
            cur.execute("SELECT HAS_PERMS_BY_NAME(NULL, NULL, 'VIEW SERVER STATE')").fetchone()[0]
            == 0
        )
        with pytest.raises(pyodbc.Error, match=r"permission"):
            cur.execute("SELECT ms_ticks FROM sys.dm_os_sys_info")
    with connect(sqlsim.port("SQLPROD01")) as conn:
        ticks = conn.cursor().execute("SELECT ms_ticks FROM sys.dm_os_sys_info").fetchone()[0]
        assert ticks > 3_600_000


def test_attention_mid_query(sqlsim: SqlsimFleet) -> None:
    """A query timeout makes FreeTDS send ATTENTION; the server acks and the session lives on."""
    before = sqlsim.stats("SQLPROD03")["attentions"]
    with connect(sqlsim.port("SQLPROD03")) as conn:
        conn.timeout = 1
        cur = conn.cursor()
        started = time.monotonic()
        with pytest.raises(pyodbc.OperationalError, match="HYT00"):
            cur.execute("WAITFOR DELAY '00:00:30'")
        assert time.monotonic() - started < 5
        assert cur.execute("SELECT 2").fetchone()[0] == 2
    assert sqlsim.stats("SQLPROD03")["attentions"] > before


def test_cancel_from_another_thread(sqlsim: SqlsimFleet) -> None:
    with connect(sqlsim.port("SQLPROD03")) as conn:
        cur = conn.cursor()
        timer = threading.Timer(0.5, cur.cancel)
        timer.start()
        started = time.monotonic()
        with pytest.raises(pyodbc.Error):
            cur.execute("WAITFOR DELAY '00:00:20'")
        assert time.monotonic() - started < 5
        assert conn.cursor().execute("SELECT 3").fetchone()[0] == 3


def test_several_clients_at_once(sqlsim: SqlsimFleet) -> None:
    names = ["SQLPROD01", "SQLPROD02", "SQLPROD03", "SQLPROD04"]
    errors: list[BaseException] = []
    results: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        name = names[i % len(names)]
        try:
            for _ in range(5):
                with connect(
                    sqlsim.port(name), encryption=("off", "request", "require")[i % 3]
                ) as c:
                    got = c.cursor().execute("SELECT @@SERVERNAME, ? * 2", i).fetchone()
                    assert tuple(got) == (name, i * 2)
                    with lock:
                        results.append(name)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(results) == 80


def test_tls_modes_are_negotiated(sqlsim: SqlsimFleet) -> None:
    stats = sqlsim.stats("SQLPROD04")
    for mode in ("off", "request", "require"):
        with connect(sqlsim.port("SQLPROD04"), encryption=mode) as conn:
            assert conn.cursor().execute("SELECT 1").fetchone()[0] == 1
    after = sqlsim.stats("SQLPROD04")
    assert after["tls_login_only"] == stats["tls_login_only"] + 1
    assert after["tls_full"] == stats["tls_full"] + 1


def test_server_forcing_encryption(sqlsim: SqlsimFleet) -> None:
    port = sqlsim.port("SQLSECURE01")
    with pytest.raises(pyodbc.Error):
        connect(port, encryption="off")
    full_before = sqlsim.stats("SQLSECURE01")["tls_full"]
    with connect(port, encryption="request") as conn:  # server upgrades to full encryption
        assert conn.cursor().execute("SELECT 1").fetchone()[0] == 1
    assert sqlsim.stats("SQLSECURE01")["tls_full"] == full_before + 1


def test_windows_login_ntlmv2(sqlsim: SqlsimFleet) -> None:
    port = sqlsim.port("SQLWIN01")
    for enc in ("off", "request", "require"):
        with connect(port, uid="CORP\\alice", pwd="Alice!2026", encryption=enc) as conn:
            assert conn.cursor().execute("SELECT SUSER_SNAME()").fetchone()[0] == "CORP\\alice"
    with pytest.raises(pyodbc.Error, match=r"Login failed for user 'CORP\\+alice'.*18456"):
        connect(port, uid="CORP\\alice", pwd="wrong")
    with pytest.raises(pyodbc.Error, match=r"18452"):
        connect(sqlsim.port("SQLSQLONLY01"), uid="CORP\\alice", pwd="Alice!2026")


def test_sql_login_failures(sqlsim: SqlsimFleet) -> None:
    port = sqlsim.port("SQLPROD01")
    with pytest.raises(pyodbc.Error, match=r"Login failed for user 'dbtools'.*18456"):
        connect(port, pwd="wrong")
    with pytest.raises(pyodbc.Error, match=r"Login failed for user 'nobody'"):
        connect(port, uid="nobody")


def test_transactions_with_autocommit_off(sqlsim: SqlsimFleet) -> None:
    """FreeTDS drives transactions with transaction-manager packets (type 0x0E)."""
    conn = connect(sqlsim.port("SQLPROD01"), autocommit=False)
    try:
        cur = conn.cursor()
        assert cur.execute("SELECT @@TRANCOUNT").fetchone()[0] == 1
        conn.commit()
        assert cur.execute("SELECT 5").fetchone()[0] == 5
        conn.rollback()
    finally:
        conn.close()


def test_use_database_and_unknown_database(sqlsim: SqlsimFleet) -> None:
    with connect(sqlsim.port("SQLPROD01")) as conn:
        cur = conn.cursor()
        cur.execute("USE msdb")
        assert cur.execute("SELECT DB_NAME()").fetchone()[0] == "msdb"
        with pytest.raises(pyodbc.Error, match="911"):
            cur.execute("USE nosuchdb")


def test_cursor_closed_early_sends_attention(sqlsim: SqlsimFleet) -> None:
    with connect(sqlsim.port("SQLPROD02")) as conn:
        cur = conn.cursor()
        cur.execute("SELECT TOP 5000 value FROM sqlsim_series")
        assert cur.fetchone()[0] == 1
        cur.close()
        assert conn.cursor().execute("SELECT 9").fetchone()[0] == 9

"""servers.sqlclient through pyodbc + FreeTDS against sqlsim over TCP (no database needed)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from servers import sqlclient
from servers.sqlclient import Target

if TYPE_CHECKING:
    from sqlsim.pytest_plugin import SqlsimFleet

# The root conftest registers this plugin too; naming it here keeps the module self-sufficient.
pytest_plugins = ["sqlsim.pytest_plugin"]

FAST = 2  # seconds: login/query timeout used where a test waits for one


def target(fleet: SqlsimFleet, name: str, **kw: Any) -> Target:
    kw.setdefault("username", "dbtools")
    kw.setdefault("password", "DbTools!2026")
    return Target(host="127.0.0.1", port=fleet.port(name), **kw)


# -- connection strings -----------------------------------------------------------------------
def test_freetds_connection_string() -> None:
    t = Target(
        host="db1.corp.example",
        port=1433,
        instance_name="SALES",
        username="CORP\\svc_dbtools",
        password="p;w}d",
        auth_type="windows",
    )
    cs = sqlclient.connection_string(t, driver="FreeTDS", timeout=10)
    assert cs.startswith("DRIVER={FreeTDS};SERVER=db1.corp.example\\SALES;PORT=1433;")
    assert "TDS_Version=7.4;" in cs
    assert "ClientCharset=UTF-8;" in cs
    assert "Encryption=require;" in cs
    assert "UID=CORP\\svc_dbtools;" in cs
    assert "PWD={p;w}}d};" in cs
    assert "APP=DbTools;" in cs
    assert "Encrypt=" not in cs  # FreeTDS ignores Encrypt=; it takes Encryption=
    login_only = Target(host="h", encrypt="login")
    assert "Encryption=request;" in sqlclient.connection_string(login_only, driver="FreeTDS")
    off = Target(host="h", encrypt=False)
    assert "Encryption=off;" in sqlclient.connection_string(off, driver="FreeTDS")


def test_microsoft_driver_connection_string() -> None:
    t = Target(
        host="db1", port=14330, username="dbtools", password="x", trust_server_certificate=True
    )
    cs = sqlclient.connection_string(t, driver="ODBC Driver 18 for SQL Server", timeout=10)
    assert "DRIVER={ODBC Driver 18 for SQL Server};SERVER=tcp:db1,14330;" in cs
    assert "Encrypt=yes;" in cs
    assert "TrustServerCertificate=yes;" in cs
    assert "LoginTimeout=10;" in cs
    assert "Encryption=" not in cs
    strict = Target(host="db1", encrypt="strict")
    assert "Encrypt=strict;" in sqlclient.connection_string(strict, driver="ODBC Driver 18")
    windows = Target(host="db1", instance_name="I1", port=None, auth_type="windows")
    cs = sqlclient.connection_string(windows, driver="ODBC Driver 17 for SQL Server")
    assert "SERVER=tcp:db1\\I1;" in cs
    assert "Trusted_Connection=yes;" in cs


def test_default_driver_without_django_settings() -> None:
    assert sqlclient.default_driver()  # FreeTDS, or settings.DBTOOLS_ODBC_DRIVER when set


def test_target_validation() -> None:
    with pytest.raises(ValueError, match="encrypt"):
        Target(host="h", encrypt="maybe")
    with pytest.raises(ValueError, match="auth_type"):
        Target(host="h", auth_type="kerberos")
    with pytest.raises(ValueError, match="host"):
        Target(host="h;DRIVER=evil")
    assert Target(host="h").encrypt == "on"
    assert "secret" not in repr(Target(host="h", password="secret"))
    assert "secret" not in str(Target(host="h", password="secret"))


# -- successful tests -------------------------------------------------------------------------
@pytest.mark.parametrize("encrypt", [False, "login", True], ids=["no-tls", "login-tls", "full-tls"])
def test_success_sql_login(sqlsim: SqlsimFleet, encrypt: bool | str) -> None:
    report = sqlclient.test_connection(target(sqlsim, "SQLPROD01", encrypt=encrypt), timeout=FAST)
    assert report.ok
    assert report.version == "15.0.4345.5"
    assert report.major_version == 15
    assert report.product_name == "SQL Server 2019"
    assert report.edition == "Enterprise Edition (64-bit)"
    assert report.server_name == "SQLPROD01"
    assert report.supports_minimum is True
    assert report.has_view_server_state is True
    assert report.version_text.startswith("Microsoft SQL Server 2019")
    assert 0 < report.elapsed_ms < 2000
    stats = sqlsim.stats("SQLPROD01")
    assert stats["tls_full"] >= 1 if encrypt is True else True
    assert report.to_dict()["problems"] == []


def test_tls_mode_reaches_the_server(sqlsim: SqlsimFleet) -> None:
    before = sqlsim.stats("SQLPROD02")
    sqlclient.test_connection(target(sqlsim, "SQLPROD02", encrypt="login"), timeout=FAST)
    sqlclient.test_connection(target(sqlsim, "SQLPROD02", encrypt=True), timeout=FAST)
    sqlclient.test_connection(target(sqlsim, "SQLPROD02", encrypt=False), timeout=FAST)
    after = sqlsim.stats("SQLPROD02")
    assert after["tls_login_only"] == before["tls_login_only"] + 1
    assert after["tls_full"] == before["tls_full"] + 1
    assert after["logins_ok"] == before["logins_ok"] + 3


@pytest.mark.parametrize(
    ("name", "product", "edition"),
    [
        ("SQLPROD02", "SQL Server 2022", "Standard Edition (64-bit)"),
        ("SQLPROD03", "SQL Server 2017", "Developer Edition (64-bit)"),
        ("SQLPROD04", "SQL Server 2016", "Enterprise Edition (64-bit)"),
    ],
)
def test_versions_and_editions(sqlsim: SqlsimFleet, name: str, product: str, edition: str) -> None:
    report = sqlclient.test_connection(target(sqlsim, name), timeout=FAST)
    assert (report.product_name, report.edition, report.ok) == (product, edition, True)


def test_success_windows_login(sqlsim: SqlsimFleet) -> None:
    for encrypt in (False, "login", True):
        t = target(
            sqlsim,
            "SQLWIN01",
            auth_type="windows",
            username="CORP\\alice",
            password="Alice!2026",
            encrypt=encrypt,
        )
        report = sqlclient.test_connection(t, timeout=FAST)
        assert report.ok and report.server_name == "SQLWIN01"


def test_named_instance(sqlsim: SqlsimFleet) -> None:
    port = sqlsim.port("SQLNAMED01\\INST1")
    t = Target(
        host="127.0.0.1",
        port=port,
        instance_name="INST1",
        username="dbtools",
        password="DbTools!2026",
    )
    report = sqlclient.test_connection(t, timeout=FAST)
    assert report.server_name == "SQLNAMED01\\INST1"
    assert report.instance_name == "INST1"
    wrong = Target(host="127.0.0.1", port=port, instance_name="NOPE", username="x", password="y")
    with pytest.raises(sqlclient.Unreachable, match="not as instance 'NOPE'"):
        sqlclient.test_connection(wrong, timeout=FAST)


# -- each error kind ----------------------------------------------------------------------------
def test_closed_port_is_unreachable(sqlsim: SqlsimFleet) -> None:
    with pytest.raises(sqlclient.Unreachable) as err:
        sqlclient.test_connection(target(sqlsim, "SQLDOWN01"), timeout=FAST)
    assert err.value.kind == "unreachable"
    assert "Could not reach 127.0.0.1 on port" in err.value.message


def test_unknown_host_is_unreachable() -> None:
    t = Target(host="no-such-host.invalid", port=1433, username="u", password="p")
    with pytest.raises(sqlclient.Unreachable, match="could not be resolved"):
        sqlclient.test_connection(t, timeout=FAST)


def test_silent_server_times_out(sqlsim: SqlsimFleet) -> None:
    started = time.monotonic()
    with pytest.raises(sqlclient.Timeout) as err:
        sqlclient.test_connection(target(sqlsim, "SQLHANG01"), timeout=FAST)
    elapsed = time.monotonic() - started
    assert FAST - 0.5 <= elapsed < FAST + 3
    assert err.value.kind == "timeout"
    assert f"within {FAST} s" in err.value.message


def test_default_timeout_is_ten_seconds() -> None:
    assert sqlclient.DEFAULT_TIMEOUT == 10
    assert sqlclient.DEFAULT_TEST_TIMEOUT == 10


def test_wrong_password(sqlsim: SqlsimFleet) -> None:
    with pytest.raises(sqlclient.LoginFailed) as err:
        sqlclient.test_connection(target(sqlsim, "SQLPROD01", password="wrong"), timeout=FAST)
    assert err.value.kind == "login_failed"
    assert "Login failed for 'dbtools'" in err.value.message
    assert "18456" in err.value.detail


def test_wrong_windows_password_and_refused_windows_login(sqlsim: SqlsimFleet) -> None:
    bad = target(sqlsim, "SQLWIN01", auth_type="windows", username="CORP\\alice", password="wrong")
    with pytest.raises(sqlclient.LoginFailed, match="Windows authentication"):
        sqlclient.test_connection(bad, timeout=FAST)
    refused = target(
        sqlsim, "SQLSQLONLY01", auth_type="windows", username="CORP\\alice", password="Alice!2026"
    )
    with pytest.raises(sqlclient.LoginFailed, match="does not accept Windows authentication"):
        sqlclient.test_connection(refused, timeout=FAST)


def test_refused_logins_while_steered(sqlsim: SqlsimFleet) -> None:
    sqlsim.refuse_logins("SQLPROD03")
    with pytest.raises(sqlclient.LoginFailed):
        sqlclient.test_connection(target(sqlsim, "SQLPROD03"), timeout=FAST)
    sqlsim.refuse_logins("SQLPROD03", on=False)
    assert sqlclient.test_connection(target(sqlsim, "SQLPROD03"), timeout=FAST).ok


def test_missing_view_server_state(sqlsim: SqlsimFleet) -> None:
    report = sqlclient.test_connection(target(sqlsim, "SQLNOPERM01"), timeout=FAST)
    assert report.has_view_server_state is False
    assert report.supports_minimum is True
    assert not report.ok
    assert [p.kind for p in report.problems] == ["permission_missing"]
    assert "GRANT VIEW SERVER STATE TO [dbtools]" in report.problems[0].message
    with pytest.raises(sqlclient.PermissionMissing):
        sqlclient.test_connection(target(sqlsim, "SQLNOPERM01"), timeout=FAST, strict=True)


def test_revoked_view_server_state_at_run_time(sqlsim: SqlsimFleet) -> None:
    sqlsim.set_view_server_state("SQLPROD04", False)
    report = sqlclient.test_connection(target(sqlsim, "SQLPROD04"), timeout=FAST)
    assert [p.kind for p in report.problems] == ["permission_missing"]
    with (
        sqlclient.connect(target(sqlsim, "SQLPROD04"), timeout=FAST) as conn,
        pytest.raises(sqlclient.PermissionMissing),
    ):
        conn.query("SELECT ms_ticks FROM sys.dm_os_sys_info")


def test_sql_server_2014_is_unsupported(sqlsim: SqlsimFleet) -> None:
    report = sqlclient.test_connection(target(sqlsim, "SQLOLD01"), timeout=FAST)
    assert report.product_name == "SQL Server 2014"
    assert report.major_version == 12
    assert report.supports_minimum is False
    assert [p.kind for p in report.problems] == ["version_unsupported"]
    assert "SQL Server 2016 and later" in report.problems[0].message
    with pytest.raises(sqlclient.VersionUnsupported):
        sqlclient.test_connection(target(sqlsim, "SQLOLD01"), timeout=FAST, strict=True)


def test_tls_required_by_server_refused_by_client(sqlsim: SqlsimFleet) -> None:
    with pytest.raises(sqlclient.TLSFailure) as err:
        sqlclient.test_connection(target(sqlsim, "SQLSECURE01", encrypt=False), timeout=FAST)
    assert err.value.kind == "tls_failure"
    assert "requires encrypted connections" in err.value.message
    # with encryption on (or login-only: the server upgrades it) the same server works
    assert sqlclient.test_connection(target(sqlsim, "SQLSECURE01"), timeout=FAST).ok
    assert sqlclient.test_connection(
        target(sqlsim, "SQLSECURE01", encrypt="login"), timeout=FAST
    ).ok


def test_stopped_then_restarted_instance(sqlsim: SqlsimFleet) -> None:
    sqlsim.stop_instance("SQLPROD02")
    with pytest.raises(sqlclient.Unreachable):
        sqlclient.test_connection(target(sqlsim, "SQLPROD02"), timeout=FAST)
    sqlsim.start_instance("SQLPROD02")
    assert sqlclient.test_connection(target(sqlsim, "SQLPROD02"), timeout=FAST).ok


# -- the reusable connection ------------------------------------------------------------------
def test_connection_object_queries_and_errors(sqlsim: SqlsimFleet) -> None:
    with sqlclient.connect(target(sqlsim, "SQLPROD01"), timeout=FAST) as conn:
        assert conn.is_alive()
        assert conn.query("SELECT ? + 1 AS n", 41) == [(42,)]
        assert conn.query_dicts("SELECT CAST(SERVERPROPERTY('ServerName') AS sysname) AS s") == [
            {"s": "SQLPROD01"}
        ]
        assert conn.query_sets("SET NOCOUNT ON; SELECT 1; SELECT 2") == [[(1,)], [(2,)]]
        with pytest.raises(sqlclient.QueryFailed, match="Invalid object name"):
            conn.query("SELECT * FROM dbo.missing")
        assert conn.query("SELECT 3") == [(3,)]  # still usable after an error
    assert conn.closed


def test_slow_query_times_out_and_connection_survives(sqlsim: SqlsimFleet) -> None:
    with sqlclient.connect(target(sqlsim, "SQLPROD01"), timeout=1) as conn:
        started = time.monotonic()
        with pytest.raises(sqlclient.Timeout):
            conn.query("WAITFOR DELAY '00:00:20'")
        assert time.monotonic() - started < 5
        assert conn.query("SELECT 1") == [(1,)]


def test_slow_instance_times_out_on_login(sqlsim: SqlsimFleet) -> None:
    sqlsim.slow("SQLPROD03", 5)
    with pytest.raises(sqlclient.Timeout):
        sqlclient.test_connection(target(sqlsim, "SQLPROD03"), timeout=1)


def test_connection_test_has_one_time_limit_for_all_its_steps(sqlsim_factory) -> None:
    """Each step answers in 8 s, inside a 10 s step timeout; the whole test must not take 50."""
    from sqlsim.instance import InstanceConfig

    fleet = sqlsim_factory([InstanceConfig(name="SQLSLOW01", port=0)])
    fleet.slow_steps("SQLSLOW01", prelogin=8, login=8, query=8)
    started = time.monotonic()
    with pytest.raises(sqlclient.Timeout) as err:
        sqlclient.test_connection(target(fleet, "SQLSLOW01"))
    assert time.monotonic() - started <= 10.5
    assert err.value.kind == "timeout"
    assert "did not complete the connection test within 10 s in total" in err.value.message


def test_connection_test_within_its_time_limit_passes(sqlsim_factory) -> None:
    from sqlsim.instance import InstanceConfig

    fleet = sqlsim_factory([InstanceConfig(name="SQLSLOW02", port=0)])
    assert sqlclient.test_connection(target(fleet, "SQLSLOW02")).ok
    fleet.slow_steps("SQLSLOW02", prelogin=1, login=1, query=1)
    assert sqlclient.test_connection(target(fleet, "SQLSLOW02")).ok


def test_time_limit_covers_the_queries_after_login(sqlsim_factory) -> None:
    from sqlsim.instance import InstanceConfig

    fleet = sqlsim_factory([InstanceConfig(name="SQLSLOW03", port=0)])
    fleet.slow_steps("SQLSLOW03", query=FAST + 1)
    started = time.monotonic()
    with pytest.raises(sqlclient.Timeout, match=f"within {FAST} s in total"):
        sqlclient.test_connection(target(fleet, "SQLSLOW03"), timeout=FAST)
    assert time.monotonic() - started <= FAST + 0.5


def test_client_requires_tls_but_server_has_no_certificate(sqlsim_factory) -> None:
    from sqlsim.instance import InstanceConfig

    fleet = sqlsim_factory([InstanceConfig(name="SQLNOCERT01", port=0, tls=False)])
    with pytest.raises(sqlclient.TLSFailure, match="does not support encryption"):
        sqlclient.test_connection(target(fleet, "SQLNOCERT01", encrypt=True), timeout=FAST)
    assert sqlclient.test_connection(target(fleet, "SQLNOCERT01", encrypt=False), timeout=FAST).ok


def test_a_permission_error_says_what_to_grant_for_its_number() -> None:
    """300 asks for VIEW SERVER STATE; 916 (no user in a database, e.g. msdb) asks for a user
    there, not for VIEW SERVER STATE the login may well have."""
    hint = sqlclient._permission_hint
    assert "GRANT VIEW SERVER STATE TO [dbtools]" in hint(300, "dbtools")
    assert "CREATE USER [dbtools] FOR LOGIN [dbtools]" in hint(916, "dbtools")
    assert "VIEW SERVER STATE" not in hint(916, "dbtools")
    assert "permission the message names" in hint(229, "dbtools")

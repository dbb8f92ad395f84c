"""What clients sent is observable through the control port, and scripts can fail the way SQL
Server fails them: THROW and RAISERROR with their numbers, severities and states."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyodbc
import pytest

from sqlsim.tests.helpers import connect

if TYPE_CHECKING:
    from sqlsim.pytest_plugin import SqlsimFleet

pytest_plugins = ["sqlsim.pytest_plugin"]


def _drain(cur: pyodbc.Cursor, sql: str) -> None:
    cur.execute(sql)
    while cur.nextset():
        pass


def _error(cur: pyodbc.Cursor, sql: str) -> str:
    with pytest.raises(pyodbc.Error) as info:
        _drain(cur, sql)
    return str(info.value)


def test_statements_received_are_kept_in_order_with_their_session(sqlsim: SqlsimFleet) -> None:
    since = sqlsim.last_seq("SQLPROD03")
    with connect(sqlsim.port("SQLPROD03")) as conn:
        cur = conn.cursor()
        cur.execute("USE [msdb]")
        cur.execute("PRINT 'marker one'")
        cur.execute("SELECT ? AS n", 7).fetchone()
    got = sqlsim.statements("SQLPROD03", since=since)
    texts = [s["sql"] for s in got]
    assert texts[-3:] == ["USE [msdb]", "PRINT 'marker one'", "SELECT @P1 AS n"]
    use, printed = got[-3], got[-2]
    assert (use["kind"], use["database"], printed["database"]) == ("batch", "master", "msdb")
    assert got[-1]["kind"] == "rpc"
    assert use["login"] == sqlsim.login and use["app_name"] == "sqlsim-tests"
    assert [s["seq"] for s in got] == sorted(s["seq"] for s in got)
    # Only what came after `since`; and the log can be emptied.
    last = got[-1]["seq"]
    assert sqlsim.statements("SQLPROD03", since=last) == []


def test_clearing_the_log(sqlsim_factory) -> None:
    from sqlsim.instance import InstanceConfig

    fleet = sqlsim_factory([InstanceConfig(name="SQLLOG01", port=0)])
    with connect(fleet.port("SQLLOG01")) as conn:
        conn.cursor().execute("SELECT 1").fetchone()
    assert any(s["sql"] == "SELECT 1" for s in fleet.statements("SQLLOG01"))
    fleet.clear_statements("SQLLOG01")
    assert fleet.statements("SQLLOG01") == []


def test_throw_fails_with_its_own_number_and_state(sqlsim: SqlsimFleet) -> None:
    with connect(sqlsim.port("SQLPROD01")) as conn:
        cur = conn.cursor()
        text = _error(cur, "THROW 51000, 'The archive share is full.', 3;")
        assert "The archive share is full." in text and "(51000)" in text
        assert "(35100)" in _error(cur, "THROW 49999, 'too low', 1;")
        assert "(10704)" in _error(cur, "THROW;")
        # The connection is still usable after an error of severity 16.
        assert cur.execute("SELECT 1").fetchone()[0] == 1


def test_raiserror_by_severity(sqlsim: SqlsimFleet) -> None:
    with connect(sqlsim.port("SQLPROD01")) as conn:
        cur = conn.cursor()
        cur.execute("RAISERROR('just a note', 10, 1) WITH NOWAIT")
        assert "just a note" in str(cur.messages)
        text = _error(cur, "RAISERROR('Disk full on %s', 16, 2)")
        assert "Disk full on %s" in text and "(50000)" in text
        assert "(2754)" in _error(cur, "RAISERROR('fatal', 20, 1)")
        assert "(50000)" in _error(cur, "RAISERROR('fatal', 20, 1) WITH LOG")
        assert "(18054)" in _error(cur, "RAISERROR(50005, 16, 1)")

"""Shared helpers for sqlsim's tests: raw pyodbc + FreeTDS connections to a fleet."""

from __future__ import annotations

from typing import Any

import pyodbc

from sqlsim.instance import DEFAULT_LOGIN, DEFAULT_PASSWORD


def odbc_string(
    port: int,
    *,
    uid: str = DEFAULT_LOGIN,
    pwd: str = DEFAULT_PASSWORD,
    encryption: str = "off",
    server: str = "127.0.0.1",
) -> str:
    return (
        f"DRIVER={{FreeTDS}};SERVER={server};PORT={port};UID={uid};PWD={{{pwd}}};"
        f"TDS_Version=7.4;ClientCharset=UTF-8;Encryption={encryption};APP=sqlsim-tests"
    )


def connect(port: int, timeout: int = 5, **kw: Any) -> Any:
    autocommit = kw.pop("autocommit", True)
    return pyodbc.connect(odbc_string(port, **kw), timeout=timeout, autocommit=autocommit)

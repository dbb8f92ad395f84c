"""Statements every SQL Server answers: what the ODBC stack sends on connect, SET, USE, WAITFOR,
transactions, and a permission guard for dynamic management views."""

from __future__ import annotations

import re
from typing import Any

from .engine import (
    Context,
    Done,
    EnvChange,
    Info,
    Output,
    ResultSet,
    RowCount,
    SqlError,
    col,
    registry,
    sleep_cancellable,
)
from .tds import ENV_DATABASE

# -- sp_datatype_info(_100): SQLGetTypeInfo -----------------------------------------------
_TYPEINFO_COLUMNS = [
    col("TYPE_NAME", "nvarchar", 128),
    col("DATA_TYPE", "smallint"),
    col("PRECISION", "int"),
    col("LITERAL_PREFIX", "nvarchar", 32),
    col("LITERAL_SUFFIX", "nvarchar", 32),
    col("CREATE_PARAMS", "nvarchar", 32),
    col("NULLABLE", "smallint"),
    col("CASE_SENSITIVE", "smallint"),
    col("SEARCHABLE", "smallint"),
    col("UNSIGNED_ATTRIBUTE", "smallint"),
    col("MONEY", "smallint"),
    col("AUTO_INCREMENT", "smallint"),
    col("LOCAL_TYPE_NAME", "nvarchar", 128),
    col("MINIMUM_SCALE", "smallint"),
    col("MAXIMUM_SCALE", "smallint"),
    col("SQL_DATA_TYPE", "smallint"),
    col("SQL_DATETIME_SUB", "smallint"),
    col("NUM_PREC_RADIX", "int"),
    col("INTERVAL_PRECISION", "smallint"),
    col("USERTYPE", "smallint"),
]


def _ti(
    name: str,
    dtype: int,
    prec: int,
    prefix: Any = None,
    suffix: Any = None,
    params: Any = None,
    *,
    case: int = 0,
    searchable: int = 2,
    unsigned: Any = 0,
    min_scale: Any = None,
    max_scale: Any = None,
    sql_type: int | None = None,
    sub: Any = None,
    radix: Any = None,
    usertype: int = 0,
) -> tuple:
    return (
        name,
        dtype,
        prec,
        prefix,
        suffix,
        params,
        1,
        case,
        searchable,
        unsigned,
        0,
        0 if unsigned is not None else None,
        name,
        min_scale,
        max_scale,
        sql_type if sql_type is not None else dtype,
        sub,
        radix,
        None,
        usertype,
    )


_TYPEINFO_ROWS = [
    _ti("bit", -7, 1, unsigned=None),
    _ti("tinyint", -6, 3, unsigned=1, min_scale=0, max_scale=0, radix=10, usertype=5),
    _ti("bigint", -5, 19, min_scale=0, max_scale=0, radix=10, usertype=0),
    _ti("varbinary", -3, 8000, "0x", None, "max length", searchable=2, unsigned=None, usertype=4),
    _ti("binary", -2, 8000, "0x", None, "length", searchable=2, unsigned=None, usertype=3),
    _ti("char", 1, 8000, "'", "'", "length", searchable=3, unsigned=None, usertype=1),
    _ti("numeric", 2, 38, None, None, "precision,scale", min_scale=0, max_scale=38, radix=10),
    _ti("decimal", 3, 38, None, None, "precision,scale", min_scale=0, max_scale=38, radix=10),
    _ti("int", 4, 10, min_scale=0, max_scale=0, radix=10, usertype=7),
    _ti("smallint", 5, 5, min_scale=0, max_scale=0, radix=10, usertype=6),
    _ti("float", 6, 53, radix=2, usertype=8),
    _ti("real", 7, 24, radix=2),
    _ti("varchar", 12, 8000, "'", "'", "max length", searchable=3, unsigned=None, usertype=2),
    _ti(
        "datetime2",
        93,
        27,
        "'",
        "'",
        "scale",
        searchable=3,
        unsigned=None,
        min_scale=0,
        max_scale=7,
        sql_type=9,
        sub=3,
    ),
    _ti(
        "datetime",
        93,
        23,
        "'",
        "'",
        None,
        searchable=3,
        unsigned=None,
        min_scale=3,
        max_scale=3,
        sql_type=9,
        sub=3,
        usertype=12,
    ),
    _ti("nvarchar", -9, 4000, "N'", "'", "max length", searchable=3, unsigned=None, usertype=0),
    _ti("nchar", -8, 4000, "N'", "'", "length", searchable=3, unsigned=None),
    _ti("uniqueidentifier", -11, 36, "'", "'", None, searchable=2, unsigned=None),
]


@registry.procedure("sp_datatype_info", "sp_datatype_info_90", "sp_datatype_info_100")
def sp_datatype_info(ctx: Context, args: list[Any]) -> list[Output]:
    wanted = args[0] if args else None
    rows = [r for r in _TYPEINFO_ROWS if wanted in (None, 0) or r[1] == wanted]
    return [ResultSet(_TYPEINFO_COLUMNS, rows)]


# -- SET / USE / transactions / WAITFOR ---------------------------------------------------------
_SET_OPTIONS = {
    "ansi_nulls",
    "ansi_padding",
    "ansi_warnings",
    "arithabort",
    "concat_null_yields_null",
    "quoted_identifier",
    "nocount",
    "xact_abort",
    "implicit_transactions",
    "ansi_null_dflt_on",
    "cursor_close_on_commit",
    "numeric_roundabort",
    "textsize",
    "language",
    "datefirst",
    "dateformat",
    "lock_timeout",
    "deadlock_priority",
    "transaction",
    "statistics",
    "rowcount",
    "fmtonly",
    "noexec",
    "ansi_defaults",
    "query_governor_cost_limit",
    "context_info",
    "arithignore",
    "showplan_xml",
    "parseonly",
}


@registry.statement(r"set (\w+)(?: ([^;]*))?")
def set_option(ctx: Context, m: re.Match[str]) -> list[Output]:
    option = m.group(1)
    if option not in _SET_OPTIONS:
        raise SqlError(195, f"'{option}' is not a recognized SET option.", 1, 15)
    ctx.session.options[option] = m.group(2) or ""
    return [Done(0xB9)]


@registry.statement(r"use \[?([\w ]+?)\]?")
def use_database(ctx: Context, m: re.Match[str]) -> list[Output]:
    wanted = m.group(1)
    for db in ctx.config.databases:
        if db.lower() == wanted:
            old = ctx.session.database
            ctx.session.database = db
            return [
                EnvChange(ENV_DATABASE, db, old),
                Info(5701, f"Changed database context to '{db}'.", 2),
                Done(0xE2),
            ]
    message = f"Database '{wanted}' does not exist. Make sure that the name is entered correctly."
    raise SqlError(911, message, 1)


@registry.statement(r"begin tran(?:saction)?(?: \w+)?")
def begin_tran(ctx: Context, m: re.Match[str]) -> list[Output]:
    ctx.session.trancount += 1
    return [Done(0xD4)]


@registry.statement(r"(?:if @@trancount ?> ?0 )?(commit|rollback)(?: tran(?:saction)?| work)?")
def end_tran(ctx: Context, m: re.Match[str]) -> list[Output]:
    if ctx.session.trancount == 0 and not ctx.sql.lower().lstrip().startswith("if"):
        if m.group(1) == "commit":
            raise SqlError(
                3902, "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.", 1
            )
        raise SqlError(
            3903, "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.", 1
        )
    ctx.session.trancount = 0
    return [Done(0xD5)]


@registry.statement(r"waitfor delay '(\d+):(\d+):(\d+(?:\.\d+)?)'")
async def waitfor_delay(ctx: Context, m: re.Match[str]) -> list[Output]:
    seconds = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    await sleep_cancellable(seconds)
    return [Done(0xBF)]


@registry.statement(r"print (.*)")
def print_stmt(ctx: Context, m: re.Match[str]) -> list[Output]:
    text = ctx.sql.strip().rstrip(";")[5:].strip()
    if text[:2] in ("N'", "n'"):
        text = text[1:]
    return [Info(0, text.strip("'").replace("''", "'"), 1, 0), Done()]


@registry.statement(
    r"raiserror ?\( ?(?:n?'(.*)'|(\d+)) ?, ?(\d+) ?, ?(\d+) ?\)((?: with (?:nowait|log|seterror)"
    r"(?: ?, ?(?:nowait|log|seterror))*)?)"
)
def raiserror(ctx: Context, m: re.Match[str]) -> list[Output]:
    severity, state = int(m.group(3)), int(m.group(4))
    if severity > 25:
        severity = 25  # SQL Server caps it
    if severity > 18 and "log" not in (m.group(5) or ""):
        raise SqlError(
            2754,
            "Error severity levels greater than 18 can only be specified by "
            "members of the sysadmin role, using the WITH LOG option.",
            1,
            16,
        )
    if m.group(2) is not None:
        # A message number: sqlsim has no sys.messages entries of its own to look it up in.
        number = int(m.group(2))
        raise SqlError(
            18054,
            f"Error {number}, severity {severity}, state {state} was raised, "
            "but no message with that error number was found in sys.messages. If "
            "error is larger than 50000, make sure the user-defined message is added "
            "using sp_addmessage.",
            1,
            16,
        )
    text = re.search(r"'((?:[^']|'')*)'", ctx.sql)
    message = text.group(1).replace("''", "'") if text else m.group(1)
    if severity <= 10:
        return [Info(50000, message, state, severity), Done()]
    raise SqlError(50000, message, state, severity)


@registry.statement(r"throw(?: (-?\d+) ?, ?n?'(.*)' ?, ?(\d+))?")
def throw(ctx: Context, m: re.Match[str]) -> list[Output]:
    """THROW number, 'message', state: always severity 16, numbers from 50000."""
    if m.group(1) is None:
        raise SqlError(
            10704,
            "To rethrow an error, a THROW statement must be used inside a "
            "CATCH block. Insert the THROW statement inside a CATCH block, or add "
            "error parameters to the THROW statement.",
            1,
            15,
        )
    number, state = int(m.group(1)), int(m.group(3))
    if number < 50000:
        raise SqlError(
            35100,
            f"Error number {number} in the THROW statement is outside the "
            "valid range. Specify an error number in the valid range of 50000 to "
            "2147483647.",
            1,
            16,
        )
    if state > 255:
        raise SqlError(
            35101,
            f"Error state {state} in the THROW statement is outside the valid "
            "range. Specify a state in the valid range of 0 to 255.",
            1,
            16,
        )
    text = re.search(r"'((?:[^']|'')*)'", ctx.sql)
    message = text.group(1).replace("''", "'") if text else m.group(2)
    raise SqlError(number, message, state, 16)


# -- a little of the engine's own catalogue -------------------------------------------------------
@registry.statement(r".*\bsys\.dm_\w+.*")
def dmv_guard(ctx: Context, m: re.Match[str]) -> list[Output]:
    """Any DMV needs VIEW SERVER STATE; DMVs without a handler are not simulated."""
    ctx.require_view_server_state()
    name = re.search(r"sys\.dm_\w+", m.group(0))
    raise SqlError(208, f"Invalid object name '{name.group(0) if name else 'sys.dm_'}'.", 1)


@registry.statement(r"select (?:top \d+ )?ms_ticks(?:, ?cpu_count)? from sys\.dm_os_sys_info")
def os_sys_info(ctx: Context, m: re.Match[str]) -> list[Output]:
    ctx.require_view_server_state()
    cols = [col("ms_ticks", "bigint")]
    values: list[Any] = [ctx.state.ms_ticks]
    if "cpu_count" in m.group(0):
        cols.append(col("cpu_count", "int"))
        values.append(ctx.config.cpus)
    return [ResultSet(cols, [tuple(values)])]


@registry.statement(r"select name from sys\.databases(?: order by name)?")
def list_databases(ctx: Context, m: re.Match[str]) -> list[Output]:
    names = sorted(ctx.config.databases) if "order by" in m.group(0) else ctx.config.databases
    return [ResultSet([col("name", "nvarchar", 128)], [(n,) for n in names])]


@registry.statement(r"select (?:top (\d+) )?value from sqlsim_series(?: where n <= (\d+))?")
def test_series(ctx: Context, m: re.Match[str]) -> list[Output]:
    """Not a SQL Server object: a synthetic row source some sqlsim tests query by name.

    It only exists so tests can ask for a result set of a given size; DbTools never sends it.
    """
    n = int(m.group(1) or m.group(2) or 10)
    return [ResultSet([col("value", "int")], [(i,) for i in range(1, n + 1)])]


__all__ = ["RowCount"]

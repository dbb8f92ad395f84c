"""Handlers registered by a module loaded with ``--load`` (exercised by test_registry_extension).

This is the pattern later work uses for the monitoring objects and collection procedure.
"""

from __future__ import annotations

import re
from typing import Any

from sqlsim.engine import Context, Output, ResultSet, RowCount, SqlError, col, registry


@registry.batch(r"create or alter procedure dbo\.usp_sqlsim_probe as .*")
def create_probe(ctx: Context, m: re.Match[str]) -> list[Output]:
    ctx.instance.catalog["dbo.usp_sqlsim_probe"] = {"object_id": 901578250, "sql": ctx.sql}
    return []


@registry.procedure("dbo.usp_sqlsim_probe")
def run_probe(ctx: Context, args: list[Any]) -> list[Output]:
    if "dbo.usp_sqlsim_probe" not in ctx.instance.catalog:
        raise SqlError(2812, "Could not find stored procedure 'dbo.usp_sqlsim_probe'.", 62)
    ctx.require_view_server_state()
    ctx.state.advance()
    cols = [col("cpu", "int"), col("batch_requests", "bigint"), col("arg", "nvarchar", 50)]
    row = (int(ctx.state.cpu_percent()), ctx.state.batch_requests, args[0] if args else None)
    return [ResultSet(cols, [row]), RowCount(0)]

"""Statement recognition: a registry of handlers matched against normalised T-SQL.

sqlsim does not parse T-SQL.  It recognises the statements DbTools (and the ODBC stack under it)
actually sends, answers them the way SQL Server would, and answers everything else with the
error SQL Server would give for an unknown object or procedure.

Extending it (later issues add the monitoring-object DDL and the collection procedure)::

    from sqlsim.engine import registry, ResultSet, col

    @registry.statement(r"^select count\\(\\*\\) from dbo\\.dbtools_objects$")
    def count_objects(ctx, m):
        return [ResultSet([col("", "int")], [(len(ctx.instance.catalog),)])]

    @registry.procedure("dbo.usp_dbtools_collect")
    def collect(ctx, args):
        ...

Patterns are matched (``re.fullmatch``) against the statement with comments removed, whitespace
collapsed to single spaces, lower-cased, with a trailing ``;`` dropped.  ``m`` is the match on
that normalised text; ``ctx.sql`` keeps the original text (for literals whose case matters).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .tds import Column, SqlType, Variant

if TYPE_CHECKING:
    from .server import Instance


# -- outputs --------------------------------------------------------------------------------------
@dataclass
class ResultSet:
    columns: list[Column]
    rows: list[tuple]


@dataclass
class RowCount:
    count: int
    curcmd: int = 0xC3  # INSERT; only informative


@dataclass
class Info:
    number: int
    message: str
    state: int = 1
    klass: int = 0


@dataclass
class EnvChange:
    kind: int
    new: str
    old: str


@dataclass
class Done:
    """A statement that produced no rows (SET, USE, ...)."""

    curcmd: int = 0xB9


Output = ResultSet | RowCount | Info | EnvChange | Done


class SqlError(Exception):
    """An error SQL Server would raise; ``extra`` holds follow-up errors (e.g. 300 then 297)."""

    def __init__(
        self,
        number: int,
        message: str,
        state: int = 1,
        klass: int = 16,
        extra: list[SqlError] | None = None,
    ) -> None:
        super().__init__(message)
        self.number = number
        self.message = message
        self.state = state
        self.klass = klass
        self.extra = extra or []

    def all(self) -> list[SqlError]:
        return [self, *self.extra]


def col(name: str, type_name: str, length: int = 0, precision: int = 0, scale: int = 0) -> Column:
    """Shorthand for a result column: ``col("cpu", "int")``, ``col("name", "nvarchar", 128)``."""
    return Column(name, SqlType(type_name, length, precision, scale))


def permission_denied_view_server_state() -> SqlError:
    return SqlError(
        300,
        "VIEW SERVER STATE permission was denied on object 'server', database 'master'.",
        state=1,
        klass=14,
        extra=[SqlError(297, "The user does not have permission to perform this action.")],
    )


# -- session / context ----------------------------------------------------------------------------
@dataclass
class Session:
    """Per-connection state."""

    spid: int
    login: str
    windows: bool
    view_server_state: bool
    database: str = "master"
    app_name: str = ""
    host_name: str = ""
    prepared: dict[int, str] = field(default_factory=dict)
    next_handle: int = 1
    trancount: int = 0
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Context:
    instance: Instance
    session: Session
    sql: str  # original text of the statement
    params: dict[str, Any] = field(default_factory=dict)  # lower-cased "@p1" -> value

    @property
    def state(self) -> Any:
        return self.instance.state

    @property
    def config(self) -> Any:
        return self.instance.config

    def require_view_server_state(self) -> None:
        if not self.session.view_server_state:
            raise permission_denied_view_server_state()


Handler = Callable[[Context, re.Match[str]], Iterable[Output] | Awaitable[Iterable[Output]]]
ProcHandler = Callable[[Context, list[Any]], Iterable[Output] | Awaitable[Iterable[Output]]]


# -- normalisation / splitting --------------------------------------------------------------------
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)


def normalise(sql: str) -> str:
    out = []
    for kind, text in _lex_strings(sql):
        if kind == "comment":
            text = " "
        elif kind == "code":
            text = text.lower()
        out.append(text)
    norm = re.sub(r"\s+", " ", "".join(out)).strip()
    while norm.endswith(";"):
        norm = norm[:-1].rstrip()
    return norm


def _lex_strings(sql: str) -> list[tuple[str, str]]:
    """Split into ('code', ...), ('str', "N'...'") and ('comment', ...) pieces."""
    parts: list[tuple[str, str]] = []
    i = start = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch == "'":
            prefixed = sql[start:i].endswith(("N", "n")) and i - 1 >= start
            code_end = i - 1 if prefixed else i
            parts.append(("code", sql[start:code_end]))
            j = i + 1
            while j < n:
                if sql[j] == "'":
                    if j + 1 < n and sql[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            parts.append(("str", sql[code_end : j + 1]))
            i = start = j + 1
        elif sql.startswith("--", i) or sql.startswith("/*", i):
            parts.append(("code", sql[start:i]))
            if sql.startswith("--", i):
                end = sql.find("\n", i)
                end = n if end < 0 else end
            else:
                end = sql.find("*/", i + 2)
                end = n if end < 0 else end + 2
            parts.append(("comment", sql[i:end]))
            i = start = end
        else:
            i += 1
    parts.append(("code", sql[start:]))
    return parts


def split_batch(sql: str) -> list[str]:
    """Split on top-level semicolons (outside strings, brackets and parentheses)."""
    pieces: list[str] = []
    buf: list[str] = []
    depth = 0
    for kind, text in _lex_strings(sql):
        if kind != "code":
            buf.append(text if kind == "str" else " ")
            continue
        for ch in text:
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth = max(0, depth - 1)
            if ch == ";" and depth == 0:
                pieces.append("".join(buf))
                buf = []
            else:
                buf.append(ch)
    pieces.append("".join(buf))
    return [p for p in pieces if normalise(p)]


# -- registry -------------------------------------------------------------------------------------
class Registry:
    def __init__(self) -> None:
        self._statements: list[tuple[re.Pattern[str], Handler]] = []
        self._batches: list[tuple[re.Pattern[str], Handler]] = []
        self._procedures: dict[str, ProcHandler] = {}

    def statement(self, pattern: str) -> Callable[[Handler], Handler]:
        """Register ``fn(ctx, match)`` for statements whose normalised text fullmatches."""
        compiled = re.compile(pattern, re.S)

        def deco(fn: Handler) -> Handler:
            self._statements.append((compiled, fn))
            return fn

        return deco

    def batch(self, pattern: str) -> Callable[[Handler], Handler]:
        """Register ``fn(ctx, match)`` for a whole batch (e.g. CREATE PROCEDURE with a body
        containing semicolons); tried before the batch is split into statements."""
        compiled = re.compile(pattern, re.S)

        def deco(fn: Handler) -> Handler:
            self._batches.append((compiled, fn))
            return fn

        return deco

    def procedure(self, *names: str) -> Callable[[ProcHandler], ProcHandler]:
        """Register ``fn(ctx, args)`` for a stored procedure (by RPC or EXEC)."""

        def deco(fn: ProcHandler) -> ProcHandler:
            for name in names:
                self._procedures[_proc_key(name)] = fn
            return fn

        return deco

    def find_statement(self, norm: str) -> tuple[Handler, re.Match[str]] | None:
        for pattern, fn in reversed(self._statements):  # later registrations win
            m = pattern.fullmatch(norm)
            if m:
                return fn, m
        return None

    def find_procedure(self, name: str) -> ProcHandler | None:
        return self._procedures.get(_proc_key(name))

    # -- execution ------------------------------------------------------------------------------
    async def run_batch(self, ctx: Context) -> list[Output]:
        """Run a batch; raises SqlError with the outputs produced so far in ``.partial``."""
        outputs: list[Output] = []
        whole = normalise(ctx.sql)
        for pattern, fn in reversed(self._batches):
            m = pattern.fullmatch(whole)
            if m:
                return await _resolve(fn(ctx, m))
        for n, text in enumerate(split_batch(ctx.sql)):
            sub = Context(ctx.instance, ctx.session, text, ctx.params)
            try:
                outputs.extend(await self.run_statement(sub, first=n == 0))
            except SqlError as err:
                err.partial = outputs  # type: ignore[attr-defined]
                raise
        return outputs

    async def run_statement(self, ctx: Context, first: bool = False) -> list[Output]:
        norm = normalise(ctx.sql)
        found = self.find_statement(norm)
        if found:
            fn, m = found
            return await _resolve(fn(ctx, m))
        exec_m = _EXEC.fullmatch(norm)
        if exec_m is None and first:
            # T-SQL: a procedure name as the first statement of a batch needs no EXEC
            bare = _BARE_CALL.fullmatch(norm)
            if bare and bare.group("name").split(".")[0] not in _KEYWORDS:
                exec_m = _EXEC.fullmatch("exec " + norm)
        if exec_m:
            name = exec_m.group("name")
            proc = self.find_procedure(name)
            if proc is None:
                raise SqlError(
                    2812, f"Could not find stored procedure '{_original_name(ctx.sql, name)}'.", 62
                )
            args = parse_exec_args(_original_args(ctx.sql, exec_m.group("name")), ctx.params)
            return await _resolve(proc(ctx, args))
        if norm.startswith("select ") and not _has_top_level_from(norm):
            return [evaluate_select(ctx)]
        raise unknown_statement_error(ctx.sql, norm)

    async def run_procedure(self, ctx: Context, name: str, args: list[Any]) -> list[Output]:
        proc = self.find_procedure(name)
        if proc is None:
            raise SqlError(2812, f"Could not find stored procedure '{name}'.", 62)
        return await _resolve(proc(ctx, args))


async def _resolve(result: Any) -> list[Output]:
    if inspect.isawaitable(result):
        result = await result
    return list(result or [])


def _proc_key(name: str) -> str:
    name = name.strip().lower().replace("[", "").replace("]", "")
    parts = name.split(".")
    if len(parts) == 3:  # db.schema.proc
        parts = parts[1:]
    if len(parts) == 2 and parts[0] in ("dbo", "sys", ""):
        parts = parts[1:]
    return ".".join(parts)


_EXEC = re.compile(r"(?:exec|execute)\s+(?:@\w+\s*=\s*)?(?P<name>[\w.\[\]#]+)(?P<args>\s.*)?", re.S)


_BARE_CALL = re.compile(r"(?P<name>[\w.\[\]#]+)(?:\s.*)?", re.S)
_KEYWORDS = {
    "select",
    "insert",
    "update",
    "delete",
    "merge",
    "set",
    "declare",
    "if",
    "while",
    "begin",
    "end",
    "create",
    "alter",
    "drop",
    "truncate",
    "use",
    "with",
    "print",
    "raiserror",
    "throw",
    "return",
    "grant",
    "revoke",
    "deny",
    "commit",
    "rollback",
    "save",
    "waitfor",
    "goto",
    "dbcc",
    "backup",
    "restore",
    "kill",
    "checkpoint",
    "bulk",
    "open",
    "close",
    "fetch",
    "deallocate",
    "reconfigure",
    "shutdown",
    "readtext",
    "writetext",
    "updatetext",
}


def _original_name(sql: str, lowered: str) -> str:
    idx = sql.lower().find(lowered)
    return sql[idx : idx + len(lowered)] if idx >= 0 else lowered


def _original_args(sql: str, lowered_name: str) -> str:
    idx = sql.lower().find(lowered_name)
    return sql[idx + len(lowered_name) :] if idx >= 0 else ""


def unknown_statement_error(sql: str, norm: str) -> SqlError:
    m = re.search(r"\b(?:from|join|into|update|table)\s+([\w.\[\]#]+)", norm)
    if m:
        return SqlError(208, f"Invalid object name '{_original_name(sql, m.group(1))}'.", 1)
    first = norm.split(" ", 1)[0] if norm else ""
    return SqlError(102, f"Incorrect syntax near '{_original_name(sql, first)}'.", 1, 15)


def _has_top_level_from(norm: str) -> bool:
    depth = 0
    for kind, text in _lex_strings(norm):
        if kind != "code":
            continue
        for tok in re.finditer(r"[()]|\bfrom\b", text):
            t = tok.group(0)
            if t == "(":
                depth += 1
            elif t == ")":
                depth -= 1
            elif depth == 0:
                return True
    return False


# -- literal / argument parsing -------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>N?'(?:[^']|'')*')
      | (?P<num>\d+\.\d*|\.\d+|\d+)
      | (?P<var>@@?\w+)
      | (?P<ident>\[[^\]]+\]|[A-Za-z_#][\w$#]*)
      | (?P<op><>|!=|>=|<=|[(),+\-*/=<>.])
    )""",
    re.X,
)


@dataclass
class Tok:
    kind: str
    text: str


def tokenize(text: str) -> list[Tok]:
    toks = []
    pos = 0
    text = _COMMENT.sub(" ", text)
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise SqlError(102, f"Incorrect syntax near '{text[pos:].strip()[:20]}'.", 1, 15)
        kind = m.lastgroup or "op"
        toks.append(Tok(kind, m.group(kind)))
        pos = m.end()
    return toks


def _literal(tok: Tok) -> Any:
    if tok.kind == "str":
        body = tok.text[2:-1] if tok.text[0] in "Nn" else tok.text[1:-1]
        return body.replace("''", "'")
    if tok.kind == "num":
        return decimal.Decimal(tok.text) if "." in tok.text else int(tok.text)
    if tok.kind == "ident" and tok.text.lower() == "null":
        return None
    return tok.text


def parse_exec_args(text: str, params: dict[str, Any]) -> list[Any]:
    """``93, @ODBCVer = 3`` -> [93, 3] (named args appended in order; @vars resolved)."""
    toks = tokenize(text or "")
    args: list[Any] = []
    i = 0
    while i < len(toks):
        if toks[i].kind == "var" and i + 1 < len(toks) and toks[i + 1].text == "=":
            i += 2
        neg = False
        if i < len(toks) and toks[i].text == "-":
            neg = True
            i += 1
        if i >= len(toks):
            break
        tok = toks[i]
        value = params.get(tok.text.lower()) if tok.kind == "var" else _literal(tok)
        if neg and isinstance(value, (int, decimal.Decimal)):
            value = -value
        args.append(value)
        i += 1
        while i < len(toks) and toks[i].text != ",":
            i += 1  # e.g. OUTPUT keyword
        i += 1
    return args


# -- scalar SELECT evaluation ---------------------------------------------------------------------
Typed = tuple[Any, SqlType]

INT = SqlType("int")
BIGINT = SqlType("bigint")
BIT = SqlType("bit")
FLOAT = SqlType("float")
VARIANT = SqlType("sql_variant")
DATETIME = SqlType("datetime")
DATETIME2 = SqlType("datetime2", scale=7)


def nvarchar(n: int = 128) -> SqlType:
    return SqlType("nvarchar", max(1, min(n, 4000)))


def _parse_type(toks: list[Tok], i: int) -> tuple[SqlType, int]:
    name = toks[i].text.lower().strip("[]")
    i += 1
    args: list[int] = []
    if i < len(toks) and toks[i].text == "(":
        i += 1
        while toks[i].text != ")":
            if toks[i].kind == "num":
                args.append(int(toks[i].text))
            elif toks[i].text.lower() == "max":
                args.append(4000)
            i += 1
        i += 1
    if name in ("nvarchar", "varchar", "nchar", "char", "sysname"):
        return nvarchar(args[0] if args else (128 if name == "sysname" else 30)), i
    if name in ("int", "bigint", "smallint", "tinyint", "bit", "float", "real"):
        return SqlType(name), i
    if name in ("decimal", "numeric"):
        p = args[0] if args else 18
        s = args[1] if len(args) > 1 else 0
        return SqlType("decimal", precision=p, scale=s), i
    if name == "datetime2":
        return SqlType("datetime2", scale=args[0] if args else 7), i
    if name in ("datetime", "smalldatetime"):
        return DATETIME, i
    raise SqlError(243, f"Type {name} is not a defined system type.", 2)


def _convert(value: Any, target: SqlType) -> Any:
    if isinstance(value, Variant):
        value = value.value
    if value is None:
        return None
    n = target.name
    try:
        if n == "nvarchar":
            if isinstance(value, bool):
                return "1" if value else "0"
            if isinstance(value, dt.datetime):
                return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
            return str(value)[: target.length]
        if n in ("int", "bigint", "smallint", "tinyint"):
            return int(decimal.Decimal(str(value)))
        if n == "bit":
            return bool(int(value))
        if n in ("float", "real"):
            return float(value)
        if n == "decimal":
            return decimal.Decimal(str(value))
        if n in ("datetime2", "datetime"):
            return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    except (ValueError, decimal.InvalidOperation) as exc:
        raise SqlError(
            245, f"Conversion failed when converting the value '{value}' to data type {n}.", 1
        ) from exc
    return value


class _Evaluator:
    def __init__(self, ctx: Context, toks: list[Tok]) -> None:
        self.ctx = ctx
        self.toks = toks
        self.i = 0

    def peek(self, offset: int = 0) -> Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def accept(self, text: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.text.lower() == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            tok = self.peek()
            raise SqlError(102, f"Incorrect syntax near '{tok.text if tok else text}'.", 1, 15)

    def expr(self) -> Typed:
        left = self.term()
        while (tok := self.peek()) is not None and tok.text in "+-" and tok.kind == "op":
            self.i += 1
            right = self.term()
            left = _arith(tok.text, left, right)
        return left

    def term(self) -> Typed:
        left = self.factor()
        while (tok := self.peek()) is not None and tok.text in "*/" and tok.kind == "op":
            self.i += 1
            right = self.factor()
            left = _arith(tok.text, left, right)
        return left

    def factor(self) -> Typed:
        tok = self.peek()
        if tok is None:
            raise SqlError(102, "Incorrect syntax near the end of the batch.", 1, 15)
        self.i += 1
        if tok.text == "(":
            value = self.expr()
            self.expect(")")
            return value
        if tok.text == "-":
            value, typ = self.factor()
            return (-value if value is not None else None), typ
        if tok.kind == "str":
            text = _literal(tok)
            return text, nvarchar(max(1, len(text)))
        if tok.kind == "num":
            value = _literal(tok)
            if isinstance(value, decimal.Decimal):
                digits = len(tok.text.replace(".", ""))
                scale = len(tok.text.split(".")[1])
                return value, SqlType("decimal", precision=max(digits, scale + 1), scale=scale)
            return value, (INT if value < 2**31 else BIGINT)
        if tok.kind == "var":
            name = tok.text.lower()
            if name.startswith("@@"):
                return global_variable(self.ctx, name[2:])
            if name not in self.ctx.params:
                raise SqlError(137, f'Must declare the scalar variable "{tok.text}".', 2, 15)
            return _typed_python(self.ctx.params[name])
        if tok.kind == "ident":
            name = tok.text.lower()
            if name == "null":
                return None, INT
            if name in ("cast", "try_cast"):
                self.expect("(")
                value, _ = self.expr()
                self.expect("as")
                target, self.i = _parse_type(self.toks, self.i)
                self.expect(")")
                return _convert(value, target), target
            if name in ("convert", "try_convert"):
                self.expect("(")
                target, self.i = _parse_type(self.toks, self.i)
                self.expect(",")
                value, _ = self.expr()
                while self.accept(","):
                    self.expr()
                self.expect(")")
                return _convert(value, target), target
            if self.peek() is not None and self.peek().text == "(":  # type: ignore[union-attr]
                self.i += 1
                args: list[Typed] = []
                if not self.accept(")"):
                    args.append(self.expr())
                    while self.accept(","):
                        args.append(self.expr())
                    self.expect(")")
                return call_function(self.ctx, name, args)
        raise SqlError(207, f"Invalid column name '{tok.text}'.", 1)


def _typed_python(value: Any) -> Typed:
    if isinstance(value, bool):
        return value, BIT
    if isinstance(value, int):
        return value, (INT if -(2**31) <= value < 2**31 else BIGINT)
    if isinstance(value, float):
        return value, FLOAT
    if isinstance(value, decimal.Decimal):
        return value, SqlType("decimal", precision=38, scale=max(0, -value.as_tuple().exponent))
    if isinstance(value, dt.datetime):
        return value, DATETIME2
    if value is None:
        return None, INT
    return str(value), nvarchar(max(1, len(str(value))))


def _arith(op: str, left: Typed, right: Typed) -> Typed:
    (a, ta), (b, _) = left, right
    if a is None or b is None:
        return None, ta
    if isinstance(a, str) or isinstance(b, str):
        if op != "+":
            raise SqlError(402, "The data types are incompatible in the operator.", 1)
        text = f"{a}{b}"
        return text, nvarchar(len(text))
    if op == "+":
        return a + b, ta
    if op == "-":
        return a - b, ta
    if op == "*":
        return a * b, ta
    if b == 0:
        raise SqlError(8134, "Divide by zero error encountered.", 1)
    if isinstance(a, int) and isinstance(b, int):
        return int(a / b), ta
    return a / b, ta


def global_variable(ctx: Context, name: str) -> Typed:
    cfg = ctx.config
    if name == "version":
        return cfg.version_info.at_version(_edition_text(cfg)), nvarchar(300)
    if name == "servername":
        return cfg.server_name, nvarchar(128)
    if name == "servicename":
        return (cfg.instance_name or "MSSQLSERVER"), nvarchar(128)
    if name == "spid":
        return ctx.session.spid, SqlType("smallint")
    if name == "trancount":
        return ctx.session.trancount, INT
    if name == "language":
        return "us_english", nvarchar(128)
    if name == "microsoftversion":
        major, minor, build = cfg.version_info.prog_version
        return (major << 24) | (minor << 16) | build, INT
    if name == "rowcount":
        return 0, INT
    if name == "error":
        return 0, INT
    raise SqlError(137, f'Must declare the scalar variable "@@{name}".', 2, 15)


def _edition_text(cfg: Any) -> str:
    from .instance import EDITIONS

    return EDITIONS[cfg.edition][0]


def server_property(ctx: Context, prop: str) -> Any:
    from .instance import EDITIONS

    cfg = ctx.config
    info = cfg.version_info
    edition, engine = EDITIONS[cfg.edition]
    props: dict[str, Any] = {
        "productversion": info.product_version,
        "productlevel": info.product_level,
        "productupdatelevel": info.update_level or None,
        "productmajorversion": str(info.major),
        "edition": edition,
        "editionid": Variant({2: -1534726760, 3: 1804890536, 4: -1592396055}.get(engine, 0), "int"),
        "engineedition": Variant(engine, "int"),
        "machinename": cfg.name,
        "servername": cfg.server_name,
        "instancename": cfg.instance_name or None,
        "collation": "SQL_Latin1_General_CP1_CI_AS",
        "isclustered": Variant(0, "int"),
        "ishadrenabled": Variant(0, "int"),
        "isintegratedsecurityonly": Variant(0 if cfg.logins else 1, "int"),
        "processid": Variant(4000 + cfg.port % 1000, "int"),
        "computernamephysicalnetbios": cfg.name,
        "buildclrversion": "v4.0.30319",
        "resourceversion": info.product_version,
    }
    return props.get(prop.lower())


def call_function(ctx: Context, name: str, args: list[Typed]) -> Typed:
    values = [a[0] for a in args]
    if name == "serverproperty":
        value = server_property(ctx, str(values[0]))
        return value, VARIANT
    if name == "has_perms_by_name":
        perm = str(values[2]).lower() if len(values) > 2 else ""
        if values[0] is None and perm == "view server state":
            return int(ctx.session.view_server_state), INT
        if values[0] is None and perm in ("view any definition", "connect sql"):
            return 1, INT
        return 0, INT
    if name == "is_srvrolemember":
        return 0, INT
    if name in ("db_name",):
        return ctx.session.database, nvarchar(128)
    if name in ("suser_sname", "suser_name", "original_login", "system_user"):
        return ctx.session.login, nvarchar(128)
    if name in ("user_name", "current_user"):
        return "dbo" if False else "guest", nvarchar(128)
    if name == "app_name":
        return ctx.session.app_name, nvarchar(128)
    if name == "host_name":
        return ctx.session.host_name, nvarchar(128)
    if name in ("getdate", "current_timestamp", "sysdatetime"):
        return dt.datetime.now().replace(microsecond=dt.datetime.now().microsecond), DATETIME2
    if name in ("getutcdate", "sysutcdatetime"):
        return dt.datetime.now(dt.UTC).replace(tzinfo=None), DATETIME2
    if name in ("isnull", "coalesce"):
        for value, typ in args:
            if value is not None:
                return value, typ
        return None, args[0][1] if args else INT
    if name == "len":
        return (None if values[0] is None else len(str(values[0]).rstrip())), INT
    if name in ("upper", "lower"):
        text = values[0]
        if text is None:
            return None, args[0][1]
        return (text.upper() if name == "upper" else text.lower()), args[0][1]
    if name == "object_id":
        return ctx.instance.object_id(str(values[0])), INT
    raise SqlError(195, f"'{name}' is not a recognized built-in function name.", 10, 15)


def evaluate_select(ctx: Context) -> ResultSet:
    toks = tokenize(ctx.sql)
    ev = _Evaluator(ctx, toks)
    ev.expect("select")
    if ev.accept("top"):
        ev.factor()
    columns: list[Column] = []
    row: list[Any] = []
    while True:
        alias = ""
        if (
            (tok := ev.peek()) is not None
            and tok.kind in ("ident", "str")
            and ev.peek(1) is not None
            and ev.peek(1).text == "="  # type: ignore[union-attr]
        ):
            alias = _literal(tok) if tok.kind == "str" else tok.text.strip("[]")
            ev.i += 2
        value, typ = ev.expr()
        if ev.accept("as"):
            tok = ev.peek()
            assert tok is not None
            alias = _literal(tok) if tok.kind == "str" else tok.text.strip("[]")
            ev.i += 1
        elif (tok := ev.peek()) is not None and tok.kind in ("ident", "str"):
            alias = _literal(tok) if tok.kind == "str" else tok.text.strip("[]")
            ev.i += 1
        if typ.name == "nvarchar" and isinstance(value, str):
            typ = nvarchar(max(typ.length, len(value)))
        columns.append(Column(alias, typ))
        row.append(value)
        if not ev.accept(","):
            break
    if ev.peek() is not None:
        raise SqlError(102, f"Incorrect syntax near '{ev.peek().text}'.", 1, 15)  # type: ignore[union-attr]
    return ResultSet(columns, [tuple(row)])


async def sleep_cancellable(seconds: float) -> None:
    """Used by handlers that take time (WAITFOR); ATTENTION cancels the running task."""
    await asyncio.sleep(seconds)


registry = Registry()

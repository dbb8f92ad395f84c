"""The one module through which DbTools reaches a monitored SQL Server instance.

It builds the ODBC connection string for the configured driver (FreeTDS or Microsoft's ODBC
Driver 17/18), opens connections with DbTools' timeouts, and turns driver errors into a few
kinds a DBA understands (see ``TargetError`` and its subclasses).

    target = Target(host="db1.corp", port=1433, username="dbtools", password="...")
    report = test_connection(target)          # ConnectionReport, or raises a TargetError
                                              # (Timeout past 10 s in total, whatever the step)
    with connect(target) as conn:             # SqlConnection
        rows = conn.query("SELECT name FROM sys.databases WHERE database_id > ?", 4)
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyodbc

from servers import addresses

DEFAULT_DRIVER = "FreeTDS"
DEFAULT_TIMEOUT = 10  # seconds, for login and for each query
DEFAULT_TEST_TIMEOUT = 10  # seconds for a whole connection test, every step included
APP_NAME = "DbTools"
MINIMUM_MAJOR_VERSION = 13  # SQL Server 2016

# encryption modes of a Target
ENCRYPT_ON = "on"  # the whole session is encrypted; fail if the server cannot
ENCRYPT_STRICT = "strict"  # TDS 8 strict encryption (Microsoft ODBC Driver 18 only)
ENCRYPT_LOGIN = "login"  # only the login packet is encrypted (the server may still force all)
ENCRYPT_OFF = "off"  # no encryption at all (refused by servers that force encryption)
_ENCRYPT_MODES = (ENCRYPT_ON, ENCRYPT_STRICT, ENCRYPT_LOGIN, ENCRYPT_OFF)

PRODUCT_NAMES = {
    9: "SQL Server 2005",
    10: "SQL Server 2008",
    11: "SQL Server 2012",
    12: "SQL Server 2014",
    13: "SQL Server 2016",
    14: "SQL Server 2017",
    15: "SQL Server 2019",
    16: "SQL Server 2022",
    17: "SQL Server 2025",
}

pyodbc.pooling = False  # DbTools manages connection reuse itself; avoid stale pooled sessions


# -- input --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """Where and how to connect.  ``encrypt``: True/"on", "strict", "login", False/"off"."""

    host: str
    port: int | None = 1433
    instance_name: str = ""
    auth_type: str = "sql"  # "sql" | "windows"
    username: str = ""  # for Windows auth: DOMAIN\\user
    password: str = field(default="", repr=False)
    encrypt: bool | str = True
    trust_server_certificate: bool = False
    database: str = "master"

    def __post_init__(self) -> None:
        mode = self.encrypt
        if mode is True:
            mode = ENCRYPT_ON
        elif mode is False:
            mode = ENCRYPT_OFF
        mode = str(mode).lower()
        if mode not in _ENCRYPT_MODES:
            raise ValueError(f"encrypt must be one of {_ENCRYPT_MODES} or a bool, not {mode!r}")
        object.__setattr__(self, "encrypt", mode)
        if self.auth_type not in ("sql", "windows"):
            raise ValueError("auth_type must be 'sql' or 'windows'")
        if not self.host or any(c in self.host for c in ";{}=\\"):
            raise ValueError("host must be a plain host name or IP address")
        if self.port is not None and not 0 < int(self.port) < 65536:
            raise ValueError("port must be between 1 and 65535")

    @property
    def address(self) -> str:
        return addresses.display(self.host, self.instance_name, self.port)


# -- errors -------------------------------------------------------------------------------------
class TargetError(Exception):
    """A failure reaching or using a monitored instance.  ``kind`` is a stable code."""

    kind = "error"

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # the driver's own text, for logs

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


class Unreachable(TargetError):
    kind = "unreachable"


class Timeout(TargetError):
    kind = "timeout"


class LoginFailed(TargetError):
    kind = "login_failed"


class PermissionMissing(TargetError):
    kind = "permission_missing"


class VersionUnsupported(TargetError):
    kind = "version_unsupported"


class TLSFailure(TargetError):
    kind = "tls_failure"


class Cancelled(TargetError):
    """Work stopped on purpose (a user cancelled it); its statement was cancelled on the server."""

    kind = "cancelled"


class QueryFailed(TargetError):
    """The server answered a statement with an error (not a permission or timeout problem)."""

    kind = "query_failed"

    def __init__(self, message: str, *, detail: str = "", number: int | None = None) -> None:
        super().__init__(message, detail=detail)
        self.number = number


# -- time budget --------------------------------------------------------------------------------
_T = TypeVar("_T")


class Deadline:
    """One time budget shared by every step of an operation: probe, login and each query.

    ODBC drivers apply their timeouts to each step (FreeTDS even to each network read), so an
    instance that answers every step just inside the limit would take several times the limit
    in total. Each step here gets what is left of the budget instead.
    """

    def __init__(self, seconds: float, what: str = "the operation") -> None:
        self.seconds = seconds
        self.what = what
        self.expires = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    def step_timeout(self, target: Target) -> int:
        """Whole seconds for the next driver step (ODBC timeouts are whole seconds, 0 would
        mean none); Timeout when the budget is spent. Rounding may overshoot by half a second:
        ``run`` still ends the wait on time."""
        left = self.remaining()
        if left <= 0:
            raise self.timeout_error(target)
        return max(1, round(left))

    def timeout_error(self, target: Target) -> Timeout:
        return Timeout(
            f"{target.address} did not complete {self.what} within {self.seconds:g} s in total: "
            "it answers too slowly or not at all. The server may be overloaded or stuck, or a "
            "firewall may be silently dropping the connection.",
        )

    def run(self, target: Target, work: Callable[[], _T]) -> _T:
        """Run ``work`` and return its result, or raise Timeout once the budget is spent.

        A driver call cannot be interrupted from outside, and a step given 3 s may still wait
        for a server that answers its cancel late. So ``work`` runs in a helper thread and the
        caller waits no longer than the budget; an abandoned helper ends by itself when the
        driver gives up its current step (each step only got the budget left when it began),
        closing its connection. It is not a daemon thread: a process that exits waits for it
        rather than unloading the driver under it.
        """
        outcome: Future[_T] = Future()

        def helper() -> None:
            try:
                outcome.set_result(work())
            except BaseException as exc:  # handed to the caller, who may have left already
                outcome.set_exception(exc)

        threading.Thread(target=helper, name=f"sqlclient {target.address}", daemon=False).start()
        try:
            return outcome.result(timeout=self.remaining())
        except TimeoutError:
            if outcome.done():  # ``work`` itself raised a TimeoutError
                raise
            raise self.timeout_error(target) from None


# -- connection string --------------------------------------------------------------------------
def _django_setting(name: str, default: Any) -> Any:
    """A Django setting when settings are configured; ``default`` without Django."""
    try:
        from django.conf import settings

        if not (settings.configured or os.environ.get("DJANGO_SETTINGS_MODULE")):
            return default
        return getattr(settings, name, default)
    except Exception:  # Django missing, or a settings module that cannot load
        return default


def default_driver() -> str:
    """``settings.DBTOOLS_ODBC_DRIVER`` when Django settings are available, else FreeTDS."""
    return _django_setting("DBTOOLS_ODBC_DRIVER", None) or DEFAULT_DRIVER


def default_timeout() -> int:
    """``settings.DBTOOLS_SQL_TIMEOUT`` (seconds) when set, else 10."""
    return int(_django_setting("DBTOOLS_SQL_TIMEOUT", None) or DEFAULT_TIMEOUT)


def default_test_timeout() -> float:
    """``settings.DBTOOLS_CONNECTION_TEST_TIMEOUT`` (seconds) when set, else 10."""
    return float(_django_setting("DBTOOLS_CONNECTION_TEST_TIMEOUT", None) or DEFAULT_TEST_TIMEOUT)


def is_freetds(driver: str) -> bool:
    return "freetds" in driver.lower() or "libtdsodbc" in driver.lower()


def _odbc_value(value: str) -> str:
    """Brace-quote a connection-string value when it needs it."""
    if value == "" or re.search(r"[;{}]", value) or value != value.strip():
        return "{" + value.replace("}", "}}") + "}"
    return value


def connection_string(target: Target, driver: str | None = None, timeout: int | None = None) -> str:
    driver = driver or default_driver()
    timeout = timeout or default_timeout()
    parts: list[tuple[str, str]] = [("DRIVER", "{" + driver.strip("{}") + "}")]
    mode = str(target.encrypt)
    if is_freetds(driver):
        server = target.host + (f"\\{target.instance_name}" if target.instance_name else "")
        parts.append(("SERVER", server))
        if target.port:
            parts.append(("PORT", str(target.port)))
        parts.append(("DATABASE", target.database))
        parts.append(("TDS_Version", "7.4"))
        parts.append(("ClientCharset", "UTF-8"))
        freetds_mode = {
            ENCRYPT_ON: "require",
            ENCRYPT_STRICT: "require",  # FreeTDS 1.3 has no TDS 8 strict mode
            ENCRYPT_LOGIN: "request",
            ENCRYPT_OFF: "off",
        }[mode]
        parts.append(("Encryption", freetds_mode))
        # FreeTDS checks certificates only when a CA file is configured in freetds.conf.
        parts.append(("UID", target.username))
        parts.append(("PWD", target.password))
    else:
        server = "tcp:" + target.host
        if target.instance_name:
            server += f"\\{target.instance_name}"
        if target.port:
            server += f",{target.port}"
        parts.append(("SERVER", server))
        parts.append(("DATABASE", target.database))
        parts.append(
            (
                "Encrypt",
                {ENCRYPT_ON: "yes", ENCRYPT_STRICT: "strict"}.get(mode, "no"),
            )
        )
        parts.append(("TrustServerCertificate", "yes" if target.trust_server_certificate else "no"))
        if target.auth_type == "windows":
            parts.append(("Trusted_Connection", "yes"))  # Kerberos with the Microsoft driver
        else:
            parts.append(("UID", target.username))
            parts.append(("PWD", target.password))
        parts.append(("LoginTimeout", str(timeout)))
    parts.append(("APP", APP_NAME))
    return ";".join(f"{k}={v if k == 'DRIVER' else _odbc_value(v)}" for k, v in parts) + ";"


# -- error classification -----------------------------------------------------------------------
_NATIVE = re.compile(r"\((-?\d+)\)\s*(?:\(SQL\w+\))?\s*$")
_LOGIN_ERRORS = {18456, 18452, 18470, 18486, 18487, 18488, 4060, 4064}
_PERMISSION_ERRORS = {297, 300, 229, 230, 262, 916, 15247}
_SERVER_TEXT = re.compile(r"^(?:\[[^\]]*\])+\s*")


def _driver_text(exc: BaseException) -> tuple[str, str, int | None]:
    args = getattr(exc, "args", ())
    state = args[0] if len(args) > 1 and isinstance(args[0], str) else ""
    text = str(args[1] if len(args) > 1 else args[0] if args else exc)
    m = _NATIVE.search(text)
    native = int(m.group(1)) if m else None
    clean = _NATIVE.sub("", _SERVER_TEXT.sub("", text)).strip()
    return state, clean, native


def _who(target: Target) -> str:
    return target.username or "(current Windows user)"


def classify_connect_error(
    exc: BaseException,
    target: Target,
    timeout: int,
    elapsed: float,
    deadline: Deadline | None = None,
) -> TargetError:
    state, text, native = _driver_text(exc)
    detail = str(exc)
    low = text.lower()
    addr = target.address
    if native in _LOGIN_ERRORS or state == "28000":
        if native == 18452:
            msg = (
                f"{addr} refused the Windows login '{_who(target)}': the server does not accept "
                "Windows authentication from this domain. Use a SQL Server login, or have the "
                "domain trusted by the server."
            )
        elif native in (4060, 4064):
            msg = (
                f"Login '{_who(target)}' could not open database '{target.database}' on {addr}. "
                "Check that the database exists and the login is mapped to it."
            )
        else:
            how = "Windows" if target.auth_type == "windows" else "SQL Server"
            msg = (
                f"Login failed for '{_who(target)}' on {addr}. Check the user name and password, "
                f"that the login exists and is enabled, and that the server allows {how} "
                "authentication."
            )
        return LoginFailed(msg, detail=detail)
    if state in ("HYT00", "HYT01") or "timeout expired" in low or "timed out" in low:
        return Timeout(
            f"{addr} did not answer within {timeout} s. The server may be overloaded or stuck, "
            "or a firewall may be silently dropping the connection.",
            detail=detail,
        )
    if any(w in low for w in ("ssl", "tls", "certificate", "handshake", "encrypt")):
        return _tls_failure(target, detail, text)
    if native == 20009 or "unavailable or does not exist" in low or "network-related" in low:
        return Unreachable(_unreachable_text(target), detail=detail)
    # FreeTDS reports TLS negotiation failures and instance-name mismatches only as a generic
    # "Unable to connect to data source": ask the server's PRELOGIN answer what went wrong.
    try:
        socket.getaddrinfo(target.host, target.port or 1433, type=socket.SOCK_STREAM)
    except OSError:
        return Unreachable(
            f"The host name '{target.host}' could not be resolved. Check the spelling, or use "
            "the server's IP address.",
            detail=detail,
        )
    probe_timeout = min(timeout, 3.0)
    if deadline is not None:
        if deadline.remaining() < 0.1:
            return deadline.timeout_error(target)
        probe_timeout = min(probe_timeout, deadline.remaining())
    probe = probe_prelogin(target, timeout=probe_timeout)
    if probe is None:
        return Unreachable(_unreachable_text(target), detail=detail)
    if probe.get("instance_mismatch"):
        return Unreachable(
            f"{target.host},{target.port} answers, but not as instance "
            f"'{target.instance_name}'. Check the instance name and port.",
            detail=detail,
        )
    server_enc = probe.get("encryption")
    if server_enc == 3 and target.encrypt == ENCRYPT_OFF:
        return TLSFailure(
            f"{addr} requires encrypted connections, but encryption is turned off for this "
            "server in DbTools. Turn encryption on.",
            detail=detail,
        )
    if server_enc == 2 and target.encrypt in (ENCRYPT_ON, ENCRYPT_STRICT):
        return TLSFailure(
            f"{addr} does not support encryption (it has no usable certificate), but DbTools "
            "requires it for this server. Install a certificate on the server or allow "
            "unencrypted connections for it.",
            detail=detail,
        )
    return _tls_failure(target, detail, text)


def _tls_failure(target: Target, detail: str, text: str) -> TLSFailure:
    hint = (
        " If the server uses a self-signed certificate, enable 'Trust server certificate'."
        if not target.trust_server_certificate
        else ""
    )
    return TLSFailure(
        f"The encrypted connection to {target.address} could not be set up ({text}).{hint}",
        detail=detail,
    )


def _unreachable_text(target: Target) -> str:
    port = target.port or "(SQL Browser)"
    return (
        f"Could not reach {target.host} on port {port}: nothing is listening there or a "
        "firewall blocks it. Check the host name and port, and that the SQL Server service "
        "is running with TCP/IP enabled."
    )


def _permission_hint(native: int | None, who: str) -> str:
    """What to grant, by the error: the server-state DMVs, a database the login has no user in
    (916 names it), or the object permission the message names."""
    if native in (297, 300):
        return f"DbTools needs VIEW SERVER STATE (GRANT VIEW SERVER STATE TO [{who}])."
    if native == 916:
        return (
            f"The login has no user in that database: create one there "
            f"(CREATE USER [{who}] FOR LOGIN [{who}]); the README lists what DbTools reads."
        )
    return f"Grant [{who}] the permission the message names; the README lists what DbTools needs."


def classify_query_error(exc: BaseException, target: Target, timeout: int) -> TargetError:
    state, text, native = _driver_text(exc)
    detail = str(exc)
    if state in ("HYT00", "HYT01") or "timeout expired" in text.lower():
        return Timeout(
            f"{target.address} did not finish the query within {timeout} s.", detail=detail
        )
    if native in _PERMISSION_ERRORS or (state == "42000" and "permission" in text.lower()):
        return PermissionMissing(
            f"The login '{_who(target)}' is missing a permission on {target.address}: {text} "
            + _permission_hint(native, _who(target)),
            detail=detail,
        )
    if state.startswith("08") or native in (20006, 20017, 20004):
        return Unreachable(f"The connection to {target.address} was lost ({text}).", detail=detail)
    return QueryFailed(
        f"{target.address} answered with an error: {text}", detail=detail, number=native
    )


def probe_prelogin(target: Target, timeout: float = 3.0) -> dict[str, Any] | None:
    """Send a bare PRELOGIN and read the server's answer (no login is attempted).

    Returns ``{"encryption": int, "instance_mismatch": bool, "version": (major, minor, build)}``
    or None when nothing answers.  Used only to explain a failed connection.
    """
    if not target.port:
        return None
    instance = (target.instance_name or "MSSQLServer").encode("ascii", "replace") + b"\x00"
    client_enc = {ENCRYPT_OFF: 2, ENCRYPT_LOGIN: 0}.get(str(target.encrypt), 1)
    opts = [
        (0, bytes([0x0C, 0, 0, 0, 0, 0])),
        (1, bytes([client_enc])),
        (2, instance),
        (3, struct.pack(">I", os.getpid() & 0xFFFFFFFF)),
        (4, b"\x00"),
    ]
    head_len = 5 * len(opts) + 1
    head, body = bytearray(), bytearray()
    for token, data in opts:
        head += struct.pack(">BHH", token, head_len + len(body), len(data))
        body += data
    payload = bytes(head) + b"\xff" + bytes(body)
    packet = struct.pack(">BBHHBB", 0x12, 1, len(payload) + 8, 0, 1, 0) + payload
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout) as sock:
            sock.sendall(packet)
            header = _recv_exact(sock, 8)
            length = struct.unpack(">H", header[2:4])[0]
            reply = _recv_exact(sock, length - 8)
    except (OSError, ValueError):
        return None
    result: dict[str, Any] = {"encryption": None, "instance_mismatch": False}
    pos = 0
    while pos + 5 <= len(reply) and reply[pos] != 0xFF:
        token, off, ln = struct.unpack_from(">BHH", reply, pos)
        data = reply[off : off + ln]
        if token == 1 and data:
            result["encryption"] = data[0]
        elif token == 2 and data:
            result["instance_mismatch"] = data[0] == 1
        elif token == 0 and len(data) >= 4:
            result["version"] = (data[0], data[1], struct.unpack(">H", data[2:4])[0])
        pos += 5
    return result


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ValueError("connection closed")
        buf += chunk
    return bytes(buf)


# -- connections --------------------------------------------------------------------------------
class SqlConnection:
    """An open session to a target; errors come out as TargetError subclasses.

    Reusable: keep it open across collections and check ``is_alive()`` before reuse.
    """

    def __init__(
        self, raw: Any, target: Target, timeout: int, deadline: Deadline | None = None
    ) -> None:
        self.raw = raw
        self.target = target
        self.timeout = timeout
        self.deadline = deadline  # when set, each statement gets only what is left of it

    def query(self, sql: str, *params: Any) -> list[tuple]:
        """Run a statement and return the rows of its first result set as tuples."""
        return [tuple(r) for r in self._run(sql, params, fetch=True)[0]]

    def query_sets(self, sql: str, *params: Any) -> list[list[tuple]]:
        """Run a batch and return every result set (as lists of tuples)."""
        return [[tuple(r) for r in rows] for rows in self._run(sql, params, fetch=True, every=True)]

    def query_dicts(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        cur = self._cursor()
        try:
            cur.execute(sql, *params)
            names = [d[0] for d in cur.description or []]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        except pyodbc.Error as exc:
            raise classify_query_error(exc, self.target, self.timeout) from exc
        finally:
            cur.close()

    def execute(self, sql: str, *params: Any) -> int:
        """Run a statement that returns no rows; returns the affected row count (-1 unknown)."""
        cur = self._cursor()
        try:
            cur.execute(sql, *params)
            return cur.rowcount
        except pyodbc.Error as exc:
            raise classify_query_error(exc, self.target, self.timeout) from exc
        finally:
            cur.close()

    def is_alive(self) -> bool:
        try:
            return self.query("SELECT 1") == [(1,)]
        except TargetError:
            return False

    def close(self) -> None:
        if self.raw is not None:
            with contextlib.suppress(pyodbc.Error):
                self.raw.close()
            self.raw = None

    @property
    def closed(self) -> bool:
        return self.raw is None

    def __enter__(self) -> SqlConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _cursor(self) -> Any:
        if self.raw is None:
            raise Unreachable(f"The connection to {self.target.address} is closed.")
        if self.deadline is not None:
            # pyodbc gives a new cursor the connection's timeout as its query timeout
            self.timeout = min(self.timeout, self.deadline.step_timeout(self.target))
            self.raw.timeout = self.timeout
        return self.raw.cursor()

    def _run(
        self, sql: str, params: Sequence[Any], fetch: bool, every: bool = False
    ) -> list[list[Any]]:
        cur = self._cursor()
        try:
            cur.execute(sql, *params)
            sets: list[list[Any]] = []
            while True:
                if cur.description is not None:
                    sets.append(cur.fetchall())
                    if not every:
                        break
                if not cur.nextset():
                    break
            return sets or [[]]
        except pyodbc.Error as exc:
            raise classify_query_error(exc, self.target, self.timeout) from exc
        finally:
            cur.close()


def connect(
    target: Target,
    *,
    driver: str | None = None,
    timeout: int | None = None,
    autocommit: bool = True,
    deadline: Deadline | None = None,
) -> SqlConnection:
    """Open a connection (login timeout and per-query timeout = ``timeout`` seconds).

    With a ``deadline``, the login and every later statement get at most what is left of it.
    The driver still counts its timeouts per step: only ``Deadline.run`` bounds the total.
    """
    timeout = int(timeout or default_timeout())
    if deadline is not None:
        timeout = min(timeout, deadline.step_timeout(target))
    conn_str = connection_string(target, driver, timeout)
    started = time.monotonic()
    try:
        raw = pyodbc.connect(conn_str, timeout=timeout, autocommit=autocommit)
    except pyodbc.Error as exc:
        elapsed = time.monotonic() - started
        raise classify_connect_error(exc, target, timeout, elapsed, deadline) from exc
    raw.timeout = timeout
    return SqlConnection(raw, target, timeout, deadline)


# -- connection test ----------------------------------------------------------------------------
_PROBE_SQL = """SELECT
    CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS product_version,
    CAST(SERVERPROPERTY('ProductLevel') AS nvarchar(128)) AS product_level,
    CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition,
    CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition,
    CAST(SERVERPROPERTY('MachineName') AS nvarchar(128)) AS machine_name,
    CAST(SERVERPROPERTY('ServerName') AS nvarchar(128)) AS server_name,
    CAST(SERVERPROPERTY('InstanceName') AS nvarchar(128)) AS instance_name,
    HAS_PERMS_BY_NAME(NULL, NULL, 'VIEW SERVER STATE') AS has_view_server_state,
    @@VERSION AS version_text"""


@dataclass(frozen=True)
class ConnectionReport:
    """What a successful login found.  ``problems`` lists the checks that failed."""

    version: str  # ProductVersion, e.g. "15.0.4345.5"
    major_version: int
    product_name: str  # "SQL Server 2019"
    product_level: str  # "RTM", "SP3"
    edition: str
    engine_edition: int
    server_name: str
    machine_name: str
    instance_name: str
    version_text: str  # @@VERSION
    supports_minimum: bool  # SQL Server 2016 (13.x) or later
    has_view_server_state: bool
    elapsed_ms: float
    problems: tuple[TargetError, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "version": self.version,
            "major_version": self.major_version,
            "product_name": self.product_name,
            "product_level": self.product_level,
            "edition": self.edition,
            "engine_edition": self.engine_edition,
            "server_name": self.server_name,
            "machine_name": self.machine_name,
            "instance_name": self.instance_name,
            "supports_minimum": self.supports_minimum,
            "has_view_server_state": self.has_view_server_state,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "problems": [p.to_dict() for p in self.problems],
        }

    def raise_for_problems(self) -> None:
        if self.problems:
            raise self.problems[0]


def product_name(major: int) -> str:
    return PRODUCT_NAMES.get(major, f"SQL Server (version {major})")


def test_connection(
    target: Target,
    *,
    driver: str | None = None,  # noqa: PT028
    timeout: float | None = None,  # noqa: PT028
    strict: bool = False,  # noqa: PT028
) -> ConnectionReport:
    """Log in, read version/edition/permission and check them, all within ``timeout`` seconds
    (default ``default_test_timeout()``) in total.

    Connection problems (unreachable, timeout, login failed, TLS) raise their TargetError; a
    test that runs out of time raises Timeout when the time is up, whatever step it is in.
    A server that answers but is too old or lacks VIEW SERVER STATE gives a report whose
    ``problems`` hold VersionUnsupported / PermissionMissing; with ``strict=True`` the first
    of them is raised instead.
    """
    started = time.monotonic()
    deadline = Deadline(timeout or default_test_timeout(), "the connection test")
    driver = driver or default_driver()  # read settings here, not in the helper thread

    def read_properties() -> dict[str, Any]:
        with connect(target, driver=driver, deadline=deadline) as conn:
            return conn.query_dicts(_PROBE_SQL)[0]

    row = deadline.run(target, read_properties)
    elapsed = (time.monotonic() - started) * 1000
    version = row["product_version"] or ""
    major = int(version.split(".")[0]) if version[:1].isdigit() else 0
    name = product_name(major)
    has_vss = bool(row["has_view_server_state"])
    problems: list[TargetError] = []
    if major < MINIMUM_MAJOR_VERSION:
        problems.append(
            VersionUnsupported(
                f"{target.address} runs {name} ({version}). DbTools supports SQL Server 2016 "
                "and later; upgrade the instance to monitor it."
            )
        )
    if not has_vss:
        who = _who(target)
        problems.append(
            PermissionMissing(
                f"The login '{who}' lacks VIEW SERVER STATE on {target.address}, which DbTools "
                f"needs to read performance data. Run: GRANT VIEW SERVER STATE TO [{who}];"
            )
        )
    report = ConnectionReport(
        version=version,
        major_version=major,
        product_name=name,
        product_level=row["product_level"] or "",
        edition=row["edition"] or "",
        engine_edition=int(row["engine_edition"] or 0),
        server_name=row["server_name"] or "",
        machine_name=row["machine_name"] or "",
        instance_name=row["instance_name"] or "",
        version_text=row["version_text"] or "",
        supports_minimum=major >= MINIMUM_MAJOR_VERSION,
        has_view_server_state=has_vss,
        elapsed_ms=elapsed,
        problems=tuple(problems),
    )
    if strict:
        report.raise_for_problems()
    return report


test_connection.__test__ = False  # type: ignore[attr-defined]  # keep pytest from collecting it


# -- scripts ------------------------------------------------------------------------------------
@dataclass
class ScriptResult:
    """What a script printed and did, capped at `limit` characters of output."""

    output: str = ""
    row_counts: list[int] = field(default_factory=list)
    batches_run: int = 0
    truncated: bool = False

    def add(self, text: str, limit: int) -> None:
        if self.truncated:
            return
        room = limit - len(self.output)
        if len(text) + 1 > room:
            self.output += text[: max(0, room)] + "\n[output truncated]"
            self.truncated = True
        else:
            self.output += text + "\n"


_DRIVER_PREFIX = re.compile(r"^(?:\[[^\]]*\])+\s*")


def _message_text(raw: Any) -> str:
    return _DRIVER_PREFIX.sub("", str(raw[1] if isinstance(raw, tuple) else raw))


def run_script(
    conn: SqlConnection,
    batches: Sequence[str],
    *,
    deadline: float,
    cancel: threading.Event | None = None,
    limit: int = 64 * 1024,
) -> ScriptResult:
    """Run batches in order until one fails, keeping PRINT and informational messages and row
    counts. The statement in flight is cancelled on the server (the driver sends a TDS
    attention) when `deadline` (time.monotonic()) passes or `cancel` is set; the error raised
    is then Timeout or Cancelled, with what ran so far in `partial`."""
    result = ScriptResult()
    cur = conn._cursor()
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.1):
            if (cancel is not None and cancel.is_set()) or time.monotonic() >= deadline:
                with contextlib.suppress(pyodbc.Error):
                    cur.cancel()
                return

    watcher = threading.Thread(target=watch, name="script-cancel", daemon=True)
    watcher.start()
    try:
        for batch in batches:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout("The script ran out of time.")
            conn.raw.timeout = max(1, math.ceil(remaining))
            cur.execute(batch)
            while True:
                for message in cur.messages or ():
                    result.add(_message_text(message), limit)
                if cur.description is None and cur.rowcount >= 0:
                    result.row_counts.append(cur.rowcount)
                if not cur.nextset():
                    break
            result.batches_run += 1
        return result
    except pyodbc.Error as exc:
        for message in getattr(cur, "messages", None) or ():
            result.add(_message_text(message), limit)
        if cancel is not None and cancel.is_set():
            error: TargetError = Cancelled("The script was cancelled.")
        elif time.monotonic() >= deadline - 0.5:
            error = Timeout("The script did not finish in time; its statement was cancelled.")
        else:
            error = classify_query_error(exc, conn.target, conn.timeout)
        error.partial = result  # type: ignore[attr-defined]
        raise error from exc
    finally:
        stop.set()
        with contextlib.suppress(pyodbc.Error):
            cur.close()
        conn.raw.timeout = conn.timeout

"""TDS 7.4 wire format: packet framing, PRELOGIN, LOGIN7, tokens and data types.

Only what a SQL Server needs to *send* is encoded here, plus the parsers for what
clients send (PRELOGIN, LOGIN7, SQL batch, RPC).  References are to MS-TDS sections.
"""

from __future__ import annotations

import datetime as dt
import decimal
import struct
from dataclasses import dataclass, field
from typing import Any

# -- packet types (MS-TDS 2.2.3.1.1) ------------------------------------------------------------
PKT_SQL_BATCH = 0x01
PKT_RPC = 0x03
PKT_REPLY = 0x04
PKT_ATTENTION = 0x06
PKT_BULK = 0x07
PKT_TRANSACTION_MANAGER = 0x0E
PKT_LOGIN7 = 0x10
PKT_SSPI = 0x11
PKT_PRELOGIN = 0x12

STATUS_EOM = 0x01
STATUS_RESET_CONNECTION = 0x08
STATUS_RESET_CONNECTION_SKIP_TRAN = 0x10

HEADER = struct.Struct(">BBHHBB")

# -- PRELOGIN (2.2.6.5) ---------------------------------------------------------------------------
PL_VERSION = 0x00
PL_ENCRYPTION = 0x01
PL_INSTOPT = 0x02
PL_THREADID = 0x03
PL_MARS = 0x04
PL_TRACEID = 0x05
PL_FEDAUTHREQUIRED = 0x06
PL_NONCEOPT = 0x07
PL_TERMINATOR = 0xFF

ENCRYPT_OFF = 0x00
ENCRYPT_ON = 0x01
ENCRYPT_NOT_SUP = 0x02
ENCRYPT_REQ = 0x03

# -- tokens (2.2.7) -------------------------------------------------------------------------------
TOKEN_RETURNSTATUS = 0x79
TOKEN_COLMETADATA = 0x81
TOKEN_ORDER = 0xA9
TOKEN_ERROR = 0xAA
TOKEN_INFO = 0xAB
TOKEN_RETURNVALUE = 0xAC
TOKEN_LOGINACK = 0xAD
TOKEN_FEATUREEXTACK = 0xAE
TOKEN_ROW = 0xD1
TOKEN_NBCROW = 0xD2
TOKEN_ENVCHANGE = 0xE3
TOKEN_SSPI = 0xED
TOKEN_DONE = 0xFD
TOKEN_DONEPROC = 0xFE
TOKEN_DONEINPROC = 0xFF

DONE_FINAL = 0x0000
DONE_MORE = 0x0001
DONE_ERROR = 0x0002
DONE_INXACT = 0x0004
DONE_COUNT = 0x0010
DONE_ATTN = 0x0020
DONE_SRVERROR = 0x0100

ENV_DATABASE = 1
ENV_LANGUAGE = 2
ENV_CHARSET = 3
ENV_PACKETSIZE = 4
ENV_COLLATION = 7
ENV_BEGIN_TRAN = 8
ENV_COMMIT_TRAN = 9
ENV_ROLLBACK_TRAN = 10
ENV_RESET_ACK = 18

# SQL_Latin1_General_CP1_CI_AS: LCID 0x0409, flags IgnoreCase|IgnoreKana|IgnoreWidth, sort id 52.
DEFAULT_COLLATION = bytes([0x09, 0x04, 0xD0, 0x00, 0x34])

TDS74 = 0x74000004


class ProtocolError(Exception):
    """The peer sent something this server cannot parse."""


# -- helpers ------------------------------------------------------------------------------------
def ucs2(text: str) -> bytes:
    return text.encode("utf-16-le")


def b_varchar(text: str) -> bytes:
    data = ucs2(text)
    return bytes([len(data) // 2]) + data


def us_varchar(text: str) -> bytes:
    data = ucs2(text)
    return struct.pack("<H", len(data) // 2) + data


def b_varbyte(data: bytes) -> bytes:
    return bytes([len(data)]) + data


def packetize(ptype: int, payload: bytes, packet_size: int, spid: int = 0) -> bytes:
    """Split a message into TDS packets of at most ``packet_size`` bytes."""
    room = packet_size - HEADER.size
    out = bytearray()
    if not payload:
        return HEADER.pack(ptype, STATUS_EOM, HEADER.size, spid, 1, 0)
    packet_id = 1
    for start in range(0, len(payload), room):
        chunk = payload[start : start + room]
        last = start + room >= len(payload)
        out += HEADER.pack(
            ptype, STATUS_EOM if last else 0, len(chunk) + HEADER.size, spid, packet_id & 0xFF, 0
        )
        out += chunk
        packet_id += 1
    return bytes(out)


# -- PRELOGIN -----------------------------------------------------------------------------------
def parse_prelogin(payload: bytes) -> dict[int, bytes]:
    options: dict[int, bytes] = {}
    pos = 0
    while pos < len(payload) and payload[pos] != PL_TERMINATOR:
        if pos + 5 > len(payload):
            raise ProtocolError("truncated PRELOGIN option list")
        token, offset, length = struct.unpack_from(">BHH", payload, pos)
        options[token] = payload[offset : offset + length]
        pos += 5
    return options


def build_prelogin(options: list[tuple[int, bytes]]) -> bytes:
    header_len = 5 * len(options) + 1
    head = bytearray()
    body = bytearray()
    for token, data in options:
        head += struct.pack(">BHH", token, header_len + len(body), len(data))
        body += data
    head.append(PL_TERMINATOR)
    return bytes(head + body)


# -- LOGIN7 (2.2.6.4) ---------------------------------------------------------------------------
@dataclass
class Login7:
    tds_version: int
    packet_size: int
    client_pid: int
    option_flags1: int
    option_flags2: int
    type_flags: int
    option_flags3: int
    hostname: str
    username: str
    password: str
    appname: str
    servername: str
    library: str
    language: str
    database: str
    sspi: bytes
    feature_ext: bytes = b""

    @property
    def integrated_security(self) -> bool:
        return bool(self.option_flags2 & 0x80)


def _decode_password(raw: bytes) -> str:
    out = bytearray()
    for b in raw:
        b ^= 0xA5
        out.append(((b & 0x0F) << 4) | (b >> 4))
    return out.decode("utf-16-le", errors="replace")


def parse_login7(data: bytes) -> Login7:
    if len(data) < 94:
        raise ProtocolError("LOGIN7 too short")
    (_, tds_version, packet_size, _, client_pid, _) = struct.unpack_from("<IIIIII", data, 0)
    of1, of2, tf, of3 = data[24], data[25], data[26], data[27]

    def text(off: int) -> str:
        ib, cch = struct.unpack_from("<HH", data, off)
        return data[ib : ib + 2 * cch].decode("utf-16-le", errors="replace")

    ib_pw, cch_pw = struct.unpack_from("<HH", data, 44)
    ib_sspi, cb_sspi = struct.unpack_from("<HH", data, 78)
    (cb_sspi_long,) = struct.unpack_from("<I", data, 90)
    if cb_sspi == 0xFFFF:
        cb_sspi = cb_sspi_long
    feature_ext = b""
    if of3 & 0x10:  # fExtension: ibExtension points at a DWORD offset of FeatureExt
        ib_ext, cb_ext = struct.unpack_from("<HH", data, 56)
        if cb_ext >= 4:
            (fe_off,) = struct.unpack_from("<I", data, ib_ext)
            feature_ext = data[fe_off:]
    return Login7(
        tds_version=tds_version,
        packet_size=packet_size,
        client_pid=client_pid,
        option_flags1=of1,
        option_flags2=of2,
        type_flags=tf,
        option_flags3=of3,
        hostname=text(36),
        username=text(40),
        password=_decode_password(data[ib_pw : ib_pw + 2 * cch_pw]),
        appname=text(48),
        servername=text(52),
        library=text(60),
        language=text(64),
        database=text(68),
        sspi=data[ib_sspi : ib_sspi + cb_sspi],
        feature_ext=feature_ext,
    )


def parse_feature_ext(blob: bytes) -> list[tuple[int, bytes]]:
    out = []
    pos = 0
    while pos < len(blob) and blob[pos] != 0xFF:
        fid = blob[pos]
        (ln,) = struct.unpack_from("<I", blob, pos + 1)
        out.append((fid, blob[pos + 5 : pos + 5 + ln]))
        pos += 5 + ln
    return out


# -- ALL_HEADERS (2.2.5.3) ----------------------------------------------------------------------
def skip_all_headers(data: bytes) -> tuple[int, int]:
    """Return (offset after ALL_HEADERS, transaction descriptor or 0)."""
    if len(data) < 4:
        return 0, 0
    (total,) = struct.unpack_from("<I", data, 0)
    if total < 4 or total > len(data):
        return 0, 0  # pre-7.2 clients send no ALL_HEADERS
    desc = 0
    pos = 4
    while pos + 6 <= total:
        hlen, htype = struct.unpack_from("<IH", data, pos)
        if htype == 2 and hlen >= 14:
            (desc,) = struct.unpack_from("<Q", data, pos + 6)
        if hlen < 6:
            break
        pos += hlen
    return total, desc


def parse_sql_batch(data: bytes) -> str:
    off, _ = skip_all_headers(data)
    return data[off:].decode("utf-16-le", errors="replace")


# -- data types -----------------------------------------------------------------------------------
# Type ids (2.2.5.4)
T_NULL = 0x1F
T_INT1 = 0x30
T_BIT = 0x32
T_INT2 = 0x34
T_INT4 = 0x38
T_DATETIM4 = 0x3A
T_FLT4 = 0x3B
T_MONEY = 0x3C
T_DATETIME = 0x3D
T_FLT8 = 0x3E
T_MONEY4 = 0x7A
T_INT8 = 0x7F
T_GUID = 0x24
T_INTN = 0x26
T_DECIMAL = 0x37
T_NUMERIC = 0x3F
T_BITN = 0x68
T_DECIMALN = 0x6A
T_NUMERICN = 0x6C
T_FLTN = 0x6D
T_MONEYN = 0x6E
T_DATETIMN = 0x6F
T_DATEN = 0x28
T_TIMEN = 0x29
T_DATETIME2N = 0x2A
T_DATETIMEOFFSETN = 0x2B
T_CHAR = 0x2F
T_VARCHAR = 0x27
T_BINARY = 0x2D
T_VARBINARY = 0x25
T_BIGVARBIN = 0xA5
T_BIGVARCHR = 0xA7
T_BIGBINARY = 0xAD
T_BIGCHAR = 0xAF
T_NVARCHAR = 0xE7
T_NCHAR = 0xEF
T_XML = 0xF1
T_UDT = 0xF0
T_TEXT = 0x23
T_IMAGE = 0x22
T_NTEXT = 0x63
T_SSVARIANT = 0x62

_FIXED_LEN = {
    T_NULL: 0,
    T_INT1: 1,
    T_BIT: 1,
    T_INT2: 2,
    T_INT4: 4,
    T_DATETIM4: 4,
    T_FLT4: 4,
    T_MONEY: 8,
    T_DATETIME: 8,
    T_FLT8: 8,
    T_MONEY4: 4,
    T_INT8: 8,
}

_DATE_ZERO = dt.date(1, 1, 1)


@dataclass(frozen=True)
class SqlType:
    """A column type as SQL Server describes it in COLMETADATA."""

    name: str  # T-SQL name, e.g. "int", "nvarchar"
    length: int = 0  # nvarchar: characters; intn/fltn: bytes
    precision: int = 0
    scale: int = 0

    # -- metadata -------------------------------------------------------------------------------
    def type_info(self) -> bytes:
        n = self.name
        if n in ("int", "bigint", "smallint", "tinyint"):
            return bytes([T_INTN, _INT_SIZES[n]])
        if n == "float":
            return bytes([T_FLTN, 8])
        if n == "real":
            return bytes([T_FLTN, 4])
        if n == "bit":
            return bytes([T_BITN, 1])
        if n in ("decimal", "numeric"):
            return bytes([T_DECIMALN, _decimal_len(self.precision), self.precision, self.scale])
        if n == "nvarchar":
            return bytes([T_NVARCHAR]) + struct.pack("<H", self.length * 2) + DEFAULT_COLLATION
        if n == "varbinary":
            return bytes([T_BIGVARBIN]) + struct.pack("<H", self.length)
        if n == "datetime2":
            return bytes([T_DATETIME2N, self.scale])
        if n == "datetime":
            return bytes([T_DATETIMN, 8])
        if n == "sql_variant":
            return bytes([T_SSVARIANT]) + struct.pack("<I", 8016)
        raise ValueError(f"unsupported column type {n}")

    # -- values ---------------------------------------------------------------------------------
    def encode(self, value: Any) -> bytes:
        n = self.name
        if n in ("int", "bigint", "smallint", "tinyint"):
            if value is None:
                return b"\x00"
            size = _INT_SIZES[n]
            signed = n != "tinyint"
            return bytes([size]) + int(value).to_bytes(size, "little", signed=signed)
        if n in ("float", "real"):
            if value is None:
                return b"\x00"
            return (
                b"\x08" + struct.pack("<d", float(value))
                if n == "float"
                else (b"\x04" + struct.pack("<f", float(value)))
            )
        if n == "bit":
            return b"\x00" if value is None else b"\x01" + (b"\x01" if value else b"\x00")
        if n in ("decimal", "numeric"):
            if value is None:
                return b"\x00"
            size = _decimal_len(self.precision)
            q = decimal.Decimal(value).scaleb(self.scale).to_integral_value(decimal.ROUND_HALF_UP)
            ival = int(q)
            return bytes([size, 1 if ival >= 0 else 0]) + abs(ival).to_bytes(size - 1, "little")
        if n == "nvarchar":
            if value is None:
                return b"\xff\xff"
            data = ucs2(str(value))
            return struct.pack("<H", len(data)) + data
        if n == "varbinary":
            if value is None:
                return b"\xff\xff"
            return struct.pack("<H", len(value)) + bytes(value)
        if n == "datetime2":
            if value is None:
                return b"\x00"
            body = encode_datetime2(value, self.scale)
            return bytes([len(body)]) + body
        if n == "datetime":
            if value is None:
                return b"\x00"
            return b"\x08" + encode_datetime(value)
        if n == "sql_variant":
            if value is None:
                return b"\x00\x00\x00\x00"
            body = encode_variant(value)
            return struct.pack("<I", len(body)) + body
        raise ValueError(f"unsupported column type {n}")


_INT_SIZES = {"tinyint": 1, "smallint": 2, "int": 4, "bigint": 8}


def _decimal_len(precision: int) -> int:
    if precision <= 9:
        return 5
    if precision <= 19:
        return 9
    if precision <= 28:
        return 13
    return 17


def encode_datetime2(value: dt.datetime, scale: int) -> bytes:
    tlen = 3 if scale <= 2 else 4 if scale <= 4 else 5
    midnight = value.replace(hour=0, minute=0, second=0, microsecond=0)
    micro = (value - midnight) // dt.timedelta(microseconds=1)
    ticks = micro * 10**scale // 10**6
    days = (value.date() - _DATE_ZERO).days
    return ticks.to_bytes(tlen, "little") + days.to_bytes(3, "little")


def encode_datetime(value: dt.datetime) -> bytes:
    days = (value.date() - dt.date(1900, 1, 1)).days
    midnight = value.replace(hour=0, minute=0, second=0, microsecond=0)
    ms = (value - midnight) // dt.timedelta(milliseconds=1)
    return struct.pack("<iI", days, round(ms * 300 / 1000))


@dataclass(frozen=True)
class Variant:
    """A sql_variant value with an explicit base type (default: inferred from Python type)."""

    value: Any
    base: str = ""


def encode_variant(value: Any) -> bytes:
    base = ""
    if isinstance(value, Variant):
        base, value = value.base, value.value
    if not base:
        if isinstance(value, bool):
            base = "bit"
        elif isinstance(value, int):
            base = "int" if -(2**31) <= value < 2**31 else "bigint"
        elif isinstance(value, float):
            base = "float"
        elif isinstance(value, dt.datetime):
            base = "datetime"
        else:
            base = "nvarchar"
    if base == "int":
        return bytes([T_INT4, 0]) + struct.pack("<i", value)
    if base == "bigint":
        return bytes([T_INT8, 0]) + struct.pack("<q", value)
    if base == "float":
        return bytes([T_FLT8, 0]) + struct.pack("<d", value)
    if base == "bit":
        return bytes([T_BIT, 0, 1 if value else 0])
    if base == "datetime":
        return bytes([T_DATETIME, 0]) + encode_datetime(value)
    data = ucs2(str(value))
    # nvarchar: 7 property bytes = collation (5) + max length (2)
    return bytes([T_NVARCHAR, 7]) + DEFAULT_COLLATION + struct.pack("<H", 256) + data


@dataclass(frozen=True)
class Column:
    name: str
    type: SqlType
    nullable: bool = True


def colmetadata(columns: list[Column]) -> bytes:
    out = bytearray([TOKEN_COLMETADATA])
    out += struct.pack("<H", len(columns))
    for col in columns:
        out += struct.pack("<IH", 0, 0x0001 if col.nullable else 0x0000)
        out += col.type.type_info()
        out += b_varchar(col.name)
    return bytes(out)


def row(columns: list[Column], values: tuple | list) -> bytes:
    if any(v is None for v in values) and len(columns) > 1:
        bitmap = bytearray((len(columns) + 7) // 8)
        body = bytearray()
        for i, (col, v) in enumerate(zip(columns, values, strict=True)):
            if v is None:
                bitmap[i // 8] |= 1 << (i % 8)
            else:
                body += col.type.encode(v)
        return bytes([TOKEN_NBCROW]) + bytes(bitmap) + bytes(body)
    out = bytearray([TOKEN_ROW])
    for col, v in zip(columns, values, strict=True):
        out += col.type.encode(v)
    return bytes(out)


def done(token: int, status: int, curcmd: int = 0xC1, rowcount: int = 0) -> bytes:
    return struct.pack("<BHHQ", token, status, curcmd, rowcount)


def message(
    token: int,
    number: int,
    state: int,
    klass: int,
    text: str,
    server: str,
    proc: str = "",
    line: int = 1,
) -> bytes:
    body = (
        struct.pack("<iBB", number, state, klass)
        + us_varchar(text)
        + b_varchar(server)
        + b_varchar(proc)
        + struct.pack("<i", line)
    )
    return bytes([token]) + struct.pack("<H", len(body)) + body


def envchange(kind: int, new: bytes | str, old: bytes | str) -> bytes:
    if isinstance(new, str):
        body = bytes([kind]) + b_varchar(new) + b_varchar(str(old))
    else:
        assert isinstance(old, bytes)
        body = bytes([kind]) + b_varbyte(new) + b_varbyte(old)
    return bytes([TOKEN_ENVCHANGE]) + struct.pack("<H", len(body)) + body


def loginack(prog_version: tuple[int, int, int]) -> bytes:
    major, minor, build = prog_version
    body = (
        b"\x01"
        + struct.pack(">I", TDS74)
        + b_varchar("Microsoft SQL Server")
        + bytes([major, minor, build >> 8, build & 0xFF])
    )
    return bytes([TOKEN_LOGINACK]) + struct.pack("<H", len(body)) + body


def sspi_token(data: bytes) -> bytes:
    return bytes([TOKEN_SSPI]) + struct.pack("<H", len(data)) + data


def returnstatus(value: int) -> bytes:
    return struct.pack("<Bi", TOKEN_RETURNSTATUS, value)


def returnvalue(ordinal: int, name: str, sqltype: SqlType, value: Any) -> bytes:
    return (
        bytes([TOKEN_RETURNVALUE])
        + struct.pack("<H", ordinal)
        + b_varchar(name)
        + b"\x01"  # output parameter
        + struct.pack("<IH", 0, 0x0001)
        + sqltype.type_info()
        + sqltype.encode(value)
    )


# -- RPC parsing (2.2.6.6) ----------------------------------------------------------------------
@dataclass
class RpcParam:
    name: str
    status: int
    type_id: int
    value: Any
    type_decl: str = ""  # best-effort T-SQL type name

    @property
    def output(self) -> bool:
        return bool(self.status & 0x01)


@dataclass
class RpcCall:
    proc_id: int | None
    proc_name: str
    options: int
    params: list[RpcParam] = field(default_factory=list)


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ProtocolError("truncated RPC request")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack("<H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def at_end(self) -> bool:
        return self.pos >= len(self.data)


def parse_rpc(data: bytes) -> list[RpcCall]:
    off, _ = skip_all_headers(data)
    r = _Reader(data, off)
    calls: list[RpcCall] = []
    while not r.at_end():
        name_len = r.u16()
        if name_len == 0xFFFF:
            proc_id: int | None = r.u16()
            proc_name = _PROC_NAMES.get(proc_id, f"proc#{proc_id}")
        else:
            proc_id = None
            proc_name = r.take(2 * name_len).decode("utf-16-le")
        call = RpcCall(proc_id, proc_name, r.u16())
        calls.append(call)
        while not r.at_end():
            nxt = r.data[r.pos]
            if nxt in (0x80, 0xFF, 0xFE):  # batch separators
                r.pos += 1
                break
            pname_len = r.u8()
            pname = r.take(2 * pname_len).decode("utf-16-le")
            status = r.u8()
            type_id, value, decl = _read_typed_value(r)
            call.params.append(RpcParam(pname, status, type_id, value, decl))
    return calls


_PROC_NAMES = {
    1: "sp_cursor",
    2: "sp_cursoropen",
    3: "sp_cursorprepare",
    4: "sp_cursorexecute",
    5: "sp_cursorprepexec",
    6: "sp_cursorunprepare",
    7: "sp_cursorfetch",
    8: "sp_cursoroption",
    9: "sp_cursorclose",
    10: "sp_executesql",
    11: "sp_prepare",
    12: "sp_execute",
    13: "sp_prepexec",
    14: "sp_prepexecrpc",
    15: "sp_unprepare",
}


def _read_plp(r: _Reader) -> bytes | None:
    total = struct.unpack("<Q", r.take(8))[0]
    if total == 0xFFFFFFFFFFFFFFFF:
        return None
    out = bytearray()
    while True:
        chunk = r.u32()
        if chunk == 0:
            break
        out += r.take(chunk)
    return bytes(out)


def _read_typed_value(r: _Reader) -> tuple[int, Any, str]:
    t = r.u8()
    if t in _FIXED_LEN:
        raw = r.take(_FIXED_LEN[t])
        return t, _decode_fixed(t, raw), _FIXED_DECL.get(t, "int")
    if t in (T_INTN, T_BITN, T_FLTN, T_MONEYN, T_DATETIMN, T_GUID):
        r.u8()  # max length
        ln = r.u8()
        if ln == 0:
            return t, None, _varlen_decl(t, 0)
        raw = r.take(ln)
        if t == T_INTN:
            return t, int.from_bytes(raw, "little", signed=True), _varlen_decl(t, ln)
        if t == T_BITN:
            return t, bool(raw[0]), "bit"
        if t == T_FLTN:
            fmt = "<d" if ln == 8 else "<f"
            return t, struct.unpack(fmt, raw)[0], "float" if ln == 8 else "real"
        if t == T_DATETIMN:
            return t, _decode_datetime(raw), "datetime"
        if t == T_GUID:
            return t, raw, "uniqueidentifier"
        return t, int.from_bytes(raw, "little", signed=True) / 10000, "money"
    if t in (T_DECIMALN, T_NUMERICN, T_DECIMAL, T_NUMERIC):
        r.u8()
        prec, scale = r.u8(), r.u8()
        ln = r.u8()
        if ln == 0:
            return t, None, f"decimal({prec},{scale})"
        raw = r.take(ln)
        ival = int.from_bytes(raw[1:], "little")
        dv = decimal.Decimal(ival if raw[0] else -ival).scaleb(-scale)
        return t, dv, f"decimal({prec},{scale})"
    if t in (T_DATEN,):
        ln = r.u8()
        if ln == 0:
            return t, None, "date"
        days = int.from_bytes(r.take(3), "little")
        return t, _DATE_ZERO + dt.timedelta(days=days), "date"
    if t in (T_TIMEN, T_DATETIME2N, T_DATETIMEOFFSETN):
        scale = r.u8()
        ln = r.u8()
        if ln == 0:
            return t, None, "datetime2"
        raw = r.take(ln)
        tlen = 3 if scale <= 2 else 4 if scale <= 4 else 5
        ticks = int.from_bytes(raw[:tlen], "little")
        micro = ticks * 10**6 // 10**scale
        if t == T_TIMEN:
            return t, (dt.datetime.min + dt.timedelta(microseconds=micro)).time(), "time"
        days = int.from_bytes(raw[tlen : tlen + 3], "little")
        value = dt.datetime.combine(_DATE_ZERO + dt.timedelta(days=days), dt.time()) + (
            dt.timedelta(microseconds=micro)
        )
        return t, value, "datetime2" if t == T_DATETIME2N else "datetimeoffset"
    if t in (T_BIGVARCHR, T_BIGCHAR, T_NVARCHAR, T_NCHAR, T_BIGVARBIN, T_BIGBINARY):
        maxlen = r.u16()
        if t in (T_BIGVARCHR, T_BIGCHAR, T_NVARCHAR, T_NCHAR):
            r.take(5)  # collation
        if maxlen == 0xFFFF:
            raw = _read_plp(r)
        else:
            ln = r.u16()
            raw = None if ln == 0xFFFF else r.take(ln)
        return t, _decode_chars(t, raw), _CHAR_DECL[t]
    if t in (T_VARCHAR, T_CHAR, T_VARBINARY, T_BINARY):
        r.u8()
        ln = r.u8()
        raw = None if ln == 0xFF else r.take(ln)
        return t, _decode_chars(t, raw), "varchar"
    if t in (T_TEXT, T_NTEXT, T_IMAGE):
        r.u32()  # max length
        if t != T_IMAGE:
            r.take(5)  # collation
        ln = r.u32()
        raw = None if ln == 0xFFFFFFFF else r.take(ln)
        return t, _decode_chars(t, raw), _CHAR_DECL.get(t, "ntext")
    if t == T_XML:
        schema = r.u8()
        if schema:
            raise ProtocolError("XML schema collections are not supported")
        return t, _decode_chars(T_NVARCHAR, _read_plp(r)), "xml"
    raise ProtocolError(f"unsupported RPC parameter type 0x{t:02x}")


_FIXED_DECL = {
    T_INT1: "tinyint",
    T_BIT: "bit",
    T_INT2: "smallint",
    T_INT4: "int",
    T_INT8: "bigint",
    T_FLT4: "real",
    T_FLT8: "float",
    T_DATETIME: "datetime",
    T_DATETIM4: "smalldatetime",
    T_MONEY: "money",
    T_MONEY4: "smallmoney",
}

_CHAR_DECL = {
    T_BIGVARCHR: "varchar",
    T_BIGCHAR: "char",
    T_NVARCHAR: "nvarchar",
    T_NCHAR: "nchar",
    T_BIGVARBIN: "varbinary",
    T_BIGBINARY: "binary",
    T_TEXT: "text",
    T_NTEXT: "ntext",
    T_IMAGE: "image",
}


def _varlen_decl(t: int, ln: int) -> str:
    if t == T_INTN:
        return {1: "tinyint", 2: "smallint", 4: "int", 8: "bigint"}.get(ln, "int")
    return {T_BITN: "bit", T_FLTN: "float", T_DATETIMN: "datetime", T_MONEYN: "money"}.get(
        t, "uniqueidentifier"
    )


def _decode_fixed(t: int, raw: bytes) -> Any:
    if t == T_NULL:
        return None
    if t in (T_INT1,):
        return raw[0]
    if t == T_BIT:
        return bool(raw[0])
    if t in (T_INT2, T_INT4, T_INT8):
        return int.from_bytes(raw, "little", signed=True)
    if t == T_FLT4:
        return struct.unpack("<f", raw)[0]
    if t == T_FLT8:
        return struct.unpack("<d", raw)[0]
    if t == T_DATETIME:
        return _decode_datetime(raw)
    if t == T_DATETIM4:
        days, minutes = struct.unpack("<HH", raw)
        return dt.datetime(1900, 1, 1) + dt.timedelta(days=days, minutes=minutes)
    return int.from_bytes(raw, "little", signed=True) / 10000


def _decode_datetime(raw: bytes) -> dt.datetime:
    if len(raw) == 4:
        days, minutes = struct.unpack("<HH", raw)
        return dt.datetime(1900, 1, 1) + dt.timedelta(days=days, minutes=minutes)
    days, ticks = struct.unpack("<iI", raw)
    return dt.datetime(1900, 1, 1) + dt.timedelta(days=days, milliseconds=round(ticks * 10 / 3))


def _decode_chars(t: int, raw: bytes | None) -> Any:
    if raw is None:
        return None
    if t in (T_NVARCHAR, T_NCHAR, T_NTEXT):
        return raw.decode("utf-16-le", errors="replace")
    if t in (T_BIGVARBIN, T_BIGBINARY, T_VARBINARY, T_BINARY, T_IMAGE):
        return raw
    return raw.decode("cp1252", errors="replace")

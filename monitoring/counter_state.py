"""What the collector keeps of a server's cumulative counters between two collections, packed.

A busy instance lists a few hundred wait types and can hold hundreds of databases; the state is
rewritten after every collection, so it is kept as one small ``bytea`` instead of a JSON
document: a format byte, then zlib over a fixed header and three sections (per-second
performance counters, waits, per-database file I/O), each a list of names and its columns as
packed int64 arrays. Names travel with the values, so a wait type or database appearing,
disappearing or being renamed needs no dictionary kept anywhere; zlib is primed with the known
wait type names (`data/wait_types.txt`) so the usual ones cost a few bytes, and the numbers are
stored column-wise, byte lane by byte lane, so their unused high bytes compress away.

Anything unreadable (another format, a truncated value, the JSON of the previous design) decodes
as "no previous sample": the next collection stores gauges and a fresh state, and rates resume
one collection later. Pure functions, no database.
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path

FORMAT = 1
_HEADER = struct.Struct("<qqdd")  # epoch_ms, ms_ticks, cpu sql %, cpu other % (NaN: none)
_SECTION = struct.Struct("<II")  # number of names, bytes of names
WAIT_COLUMNS = 3  # waiting_tasks_count, wait_time_ms, signal_wait_time_ms
FILE_COLUMNS = 8  # files, sample_ms, reads, bytes read, read stall, writes, bytes written, stall
_LITTLE = sys.byteorder == "little"
# Known wait type names, sorted and NUL-separated as the waits section writes them: a run of
# names present on the server matches one stretch of this dictionary.
_ZDICT = "\0".join(
    line.strip()
    for line in (Path(__file__).parent / "data" / "wait_types.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
).encode("utf-8")


@dataclass
class CounterState:
    """The previous sample's cumulative values. ``epoch_ms`` identifies the instance's life (its
    start time): counters of another life are never subtracted from these."""

    epoch_ms: int | None
    ms_ticks: int
    cpu: tuple[float, float] | None = None
    counters: dict[str, int] = field(default_factory=dict)
    waits: dict[str, tuple[int, ...]] = field(default_factory=dict)
    files: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # @@SERVERNAME: with the start time, which instance's life the counters belong to (behind
    # an availability group listener the same address reaches another replica after failover)
    server_name: str | None = None
    cpu_ms_ticks: int | None = None  # [timestamp] of the last CPU record seen
    # The slower sets (space, SQL Agent jobs; monitoring.extra): when they were last read (the
    # instance's ms_ticks) and the msdb job history row failures are counted from.
    space_ms_ticks: int | None = None
    job_instance_id: int | None = None
    # The detail last stored showed blockers or replicas: the next one must be written even if
    # empty (to clear them); otherwise an empty one changes nothing and is not written.
    detail_busy: bool = False


def _shuffle(raw: bytes) -> bytes:
    """Byte k of every int64 together: counters rarely use their high bytes, so those lanes are
    long runs of zeros that compress to almost nothing (what blosc's shuffle filter does)."""
    return b"".join(raw[k::8] for k in range(8))


def _unshuffle(lanes: bytes | memoryview) -> bytes:
    lanes = bytes(lanes)
    n = len(lanes) // 8
    out = bytearray(len(lanes))
    for k in range(8):
        out[k::8] = lanes[k * n : (k + 1) * n]
    return bytes(out)


def _pack_section(values: dict, width: int) -> bytes:
    names = sorted(values)
    blob = "\0".join(names).encode("utf-8")
    columns = array("q")
    if width == 1:
        columns.extend(map(values.__getitem__, names))
    elif names:
        for col in zip(*map(values.__getitem__, names), strict=True):  # column by column
            columns.extend(col)
    if not _LITTLE:
        columns.byteswap()
    return _SECTION.pack(len(names), len(blob)) + blob + _shuffle(columns.tobytes())


def _unpack_section(data: memoryview, at: int, width: int) -> tuple[dict, int]:
    count, size = _SECTION.unpack_from(data, at)
    at += _SECTION.size
    names = bytes(data[at : at + size]).decode("utf-8").split("\0") if count else []
    at += size
    columns = array("q")
    columns.frombytes(_unshuffle(data[at : at + 8 * count * width]))
    if not _LITTLE:
        columns.byteswap()
    at += 8 * count * width
    if len(names) != count or len(columns) != count * width:
        raise ValueError("truncated section")
    if width == 1:
        return dict(zip(names, columns, strict=True)), at
    cols = [columns[c * count : (c + 1) * count] for c in range(width)]
    return dict(zip(names, zip(*cols, strict=True), strict=True)), at


_NAME = struct.Struct("<I")
_TICKS = struct.Struct("<q")


def _pack_name(name: str | None) -> bytes:
    blob = (name or "").encode("utf-8")
    return _NAME.pack(len(blob)) + blob


def _unpack_name(data: memoryview, at: int) -> str | None:
    if at >= len(data):
        return None
    (size,) = _NAME.unpack_from(data, at)
    name = bytes(data[at + _NAME.size : at + _NAME.size + size]).decode("utf-8")
    if len(name.encode("utf-8")) != size:
        raise ValueError("truncated name")
    return name or None


def encode(state: CounterState) -> bytes:
    cpu = state.cpu or (math.nan, math.nan)
    payload = b"".join(
        (
            _HEADER.pack(-1 if state.epoch_ms is None else state.epoch_ms, state.ms_ticks, *cpu),
            _pack_section(state.counters, 1),
            _pack_section(state.waits, WAIT_COLUMNS),
            _pack_section(state.files, FILE_COLUMNS),
            _pack_name(state.server_name),
            _TICKS.pack(-1 if state.cpu_ms_ticks is None else state.cpu_ms_ticks),
            _TICKS.pack(-1 if state.space_ms_ticks is None else state.space_ms_ticks),
            _TICKS.pack(-1 if state.job_instance_id is None else state.job_instance_id),
            _TICKS.pack(int(state.detail_busy)),
        )
    )
    packer = zlib.compressobj(1, zdict=_ZDICT)
    return bytes((FORMAT,)) + packer.compress(payload) + packer.flush()


def decode(blob: bytes | memoryview | None) -> CounterState | None:
    """The state ``encode`` wrote, or None when there is none usable."""
    if not blob or not isinstance(blob, bytes | bytearray | memoryview):
        return None
    blob = bytes(blob)
    if blob[0] != FORMAT:
        return None
    try:
        unpacker = zlib.decompressobj(zdict=_ZDICT)
        data = memoryview(unpacker.decompress(blob[1:]) + unpacker.flush())
        if not unpacker.eof:
            raise ValueError("truncated state")
        epoch, ticks, sql, other = _HEADER.unpack_from(data, 0)
        at = _HEADER.size
        counters, at = _unpack_section(data, at, 1)
        waits, at = _unpack_section(data, at, WAIT_COLUMNS)
        files, at = _unpack_section(data, at, FILE_COLUMNS)
        # Trailing fields, absent from states written before they existed.
        server_name = _unpack_name(data, at)
        at += _NAME.size + len((server_name or "").encode("utf-8")) if at < len(data) else 0
        cpu_ticks = _TICKS.unpack_from(data, at)[0] if at < len(data) else -1
        at += _TICKS.size
        space_ticks = _TICKS.unpack_from(data, at)[0] if at < len(data) else -1
        at += _TICKS.size
        job_id = _TICKS.unpack_from(data, at)[0] if at < len(data) else -1
        at += _TICKS.size
        busy = _TICKS.unpack_from(data, at)[0] if at < len(data) else 1
    except (zlib.error, struct.error, ValueError, UnicodeDecodeError):
        return None
    return CounterState(
        epoch_ms=None if epoch == -1 else epoch,
        ms_ticks=ticks,
        cpu=None if math.isnan(sql) else (sql, other),
        counters=counters,
        waits=waits,
        files=files,
        server_name=server_name,
        cpu_ms_ticks=None if cpu_ticks == -1 else cpu_ticks,
        space_ms_ticks=None if space_ticks == -1 else space_ticks,
        job_instance_id=None if job_id == -1 else job_id,
        detail_busy=bool(busy),
    )

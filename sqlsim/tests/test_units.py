"""Pure unit tests: MD4/NTLMv2, statement normalisation, TDS encoders."""

from __future__ import annotations

import hmac
import os
import struct

import pytest

from sqlsim import ntlm, tds
from sqlsim.engine import normalise, parse_exec_args, split_batch


@pytest.mark.parametrize(
    ("data", "digest"),
    [
        (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"),
        (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
        (b"message digest", "d9130a8164549fe818874806e1c7014b"),
        (b"1234567890" * 8, "e33b4ddc9c38f2199c3e7b164fcc0536"),
    ],
)
def test_md4_rfc1320_vectors(data: bytes, digest: str) -> None:
    assert ntlm._md4_pure(data).hex() == digest


def test_ntlmv2_verification() -> None:
    challenge = ntlm.make_challenge("CORP", "SQLWIN01", "corp.example")
    assert challenge.message.startswith(b"NTLMSSP\x00\x02\x00\x00\x00")
    blob = b"\x01\x01\x00\x00\x00\x00\x00\x00" + os.urandom(16) + b"\x00" * 4
    key = ntlm.ntowf_v2("Secret!1", "alice", "CORP")
    proof = hmac.new(key, challenge.server_challenge + blob, "md5").digest()
    auth = ntlm.Authenticate("CORP", "alice", "WS", proof + blob, b"")
    assert ntlm.verify_v2(auth, challenge.server_challenge, "Secret!1")
    assert not ntlm.verify_v2(auth, challenge.server_challenge, "secret!1")
    assert not ntlm.verify_v2(auth, os.urandom(8), "Secret!1")


def test_normalise_and_split() -> None:
    sql = "SELECT  N'It''s;Here' ,\n  1 -- comment; not a split\n; EXEC  dbo.x  @a = 1;"
    parts = split_batch(sql)
    assert len(parts) == 2
    assert normalise(parts[0]) == "select N'It''s;Here' , 1"
    assert normalise("  SET NOCOUNT ON;;  ") == "set nocount on"
    assert parse_exec_args(" 93 , @ODBCVer = 3", {}) == [93, 3]
    assert parse_exec_args("N'x', NULL, -2", {}) == ["x", None, -2]


def test_packetize_splits_and_marks_last_packet() -> None:
    data = tds.packetize(tds.PKT_REPLY, b"x" * 10000, 4096)
    headers = []
    pos = 0
    while pos < len(data):
        ptype, status, length, _, pid, _ = tds.HEADER.unpack_from(data, pos)
        headers.append((ptype, status, length, pid))
        pos += length
    assert [h[1] for h in headers] == [0, 0, 1]
    assert [h[3] for h in headers] == [1, 2, 3]
    assert sum(h[2] - 8 for h in headers) == 10000


def test_login7_password_round_trip() -> None:
    def obfuscate(pw: str) -> bytes:
        out = bytearray()
        for b in pw.encode("utf-16-le"):
            out.append((((b << 4) & 0xF0) | (b >> 4)) ^ 0xA5)
        return bytes(out)

    fields = ["host", "dbtools", "", "DbTools", "srv", "", "ODBC", "", "master"]
    fixed = 94
    body = b""
    offsets = []
    for i, text in enumerate(fields):
        raw = obfuscate("DbTools!2026") if i == 2 else text.encode("utf-16-le")
        offsets.append((fixed + len(body), 12 if i == 2 else len(text)))
        body += raw
    head = struct.pack("<IIIIII", fixed + len(body), tds.TDS74, 4096, 0, 1234, 0)
    head += bytes([0xE0, 0x03, 0, 0]) + struct.pack("<ii", 0, 0x409)
    for off, ln in offsets[:5]:
        head += struct.pack("<HH", off, ln)
    head += struct.pack("<HH", 0, 0)  # extension
    for off, ln in offsets[6:]:
        head += struct.pack("<HH", off, ln)
    head += b"\x00" * 6 + struct.pack("<HHHHHHI", 0, 0, 0, 0, 0, 0, 0)
    assert len(head) == fixed
    login = tds.parse_login7(head + body)
    assert (login.username, login.password, login.database) == ("dbtools", "DbTools!2026", "master")
    assert not login.integrated_security


def test_agent_history_purged_to_agents_limits_last_outcome_kept():
    import datetime as dt

    from sqlsim import dbtools_extra

    st = dbtools_extra.Extra()
    now = dt.datetime(2026, 1, 1)
    for _ in range(150):
        dbtools_extra._run(st, "Weekly", 1, now)
    assert sum(h[1] == "Weekly" for h in st.history) == 100  # 100 rows per job
    for n in range(11):
        for _ in range(100):
            dbtools_extra._run(st, f"Busy {n}", 0, now)
    assert len(st.history) == 1000  # 1,000 in all, oldest first
    assert not any(h[1] == "Weekly" for h in st.history)
    assert st.job_servers["Weekly"] == (1, now)  # sysjobservers is never purged


def test_the_shipped_procedure_reads_sets_8_to_13_as_reviewed():
    from pathlib import Path

    from sqlsim import dbtools_extra

    root = Path(__file__).resolve().parents[2]
    text = (root / "servers/monitoring_sql/030_collect_metrics.sql").read_text()
    shape = dbtools_extra.shape_of(text)
    assert all(vars(shape).values()), shape
    assert not any(vars(dbtools_extra.ExtraShape()).values())

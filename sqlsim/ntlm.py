"""NTLM server side: CHALLENGE generation and NTLMv2 verification (MS-NLMP).

OpenSSL 3 disables MD4, so a small pure-Python MD4 (RFC 1320) is used when hashlib lacks it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import time
from dataclasses import dataclass

SIGNATURE = b"NTLMSSP\x00"

NEGOTIATE_UNICODE = 0x00000001
REQUEST_TARGET = 0x00000004
NEGOTIATE_NTLM = 0x00000200
NEGOTIATE_ALWAYS_SIGN = 0x00008000
TARGET_TYPE_DOMAIN = 0x00010000
NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000
NEGOTIATE_TARGET_INFO = 0x00800000
NEGOTIATE_VERSION = 0x02000000
NEGOTIATE_128 = 0x20000000
NEGOTIATE_56 = 0x80000000


def _md4_pure(data: bytes) -> bytes:
    def rol(x: int, n: int) -> int:
        x &= 0xFFFFFFFF
        return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF

    msg = bytearray(data)
    bit_len = (8 * len(data)) & 0xFFFFFFFFFFFFFFFF
    msg.append(0x80)
    while len(msg) % 64 != 56:
        msg.append(0)
    msg += struct.pack("<Q", bit_len)
    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for off in range(0, len(msg), 64):
        x = struct.unpack("<16I", msg[off : off + 64])
        aa, bb, cc, dd = a, b, c, d

        def f(x_: int, y: int, z: int) -> int:
            return (x_ & y) | (~x_ & z)

        def g(x_: int, y: int, z: int) -> int:
            return (x_ & y) | (x_ & z) | (y & z)

        def h(x_: int, y: int, z: int) -> int:
            return x_ ^ y ^ z

        for i in (0, 4, 8, 12):
            a = rol(a + f(b, c, d) + x[i], 3)
            d = rol(d + f(a, b, c) + x[i + 1], 7)
            c = rol(c + f(d, a, b) + x[i + 2], 11)
            b = rol(b + f(c, d, a) + x[i + 3], 19)
        for i in (0, 1, 2, 3):
            a = rol(a + g(b, c, d) + x[i] + 0x5A827999, 3)
            d = rol(d + g(a, b, c) + x[i + 4] + 0x5A827999, 5)
            c = rol(c + g(d, a, b) + x[i + 8] + 0x5A827999, 9)
            b = rol(b + g(c, d, a) + x[i + 12] + 0x5A827999, 13)
        for i in (0, 2, 1, 3):
            a = rol(a + h(b, c, d) + x[i] + 0x6ED9EBA1, 3)
            d = rol(d + h(a, b, c) + x[i + 8] + 0x6ED9EBA1, 9)
            c = rol(c + h(d, a, b) + x[i + 4] + 0x6ED9EBA1, 11)
            b = rol(b + h(c, d, a) + x[i + 12] + 0x6ED9EBA1, 15)
        a = (a + aa) & 0xFFFFFFFF
        b = (b + bb) & 0xFFFFFFFF
        c = (c + cc) & 0xFFFFFFFF
        d = (d + dd) & 0xFFFFFFFF
    return struct.pack("<4I", a, b, c, d)


def md4(data: bytes) -> bytes:
    try:
        return hashlib.new("md4", data).digest()  # noqa: S324 - NTLM is defined on MD4
    except ValueError:
        return _md4_pure(data)


def nt_hash(password: str) -> bytes:
    return md4(password.encode("utf-16-le"))


def ntowf_v2(password: str, user: str, domain: str) -> bytes:
    return hmac.new(nt_hash(password), (user.upper() + domain).encode("utf-16-le"), "md5").digest()


def _av_pair(av_id: int, value: bytes) -> bytes:
    return struct.pack("<HH", av_id, len(value)) + value


@dataclass
class Challenge:
    server_challenge: bytes
    message: bytes


def make_challenge(netbios_domain: str, computer: str, dns_domain: str) -> Challenge:
    """Build an NTLM CHALLENGE_MESSAGE (type 2) with target info."""
    server_challenge = os.urandom(8)
    flags = (
        NEGOTIATE_UNICODE
        | REQUEST_TARGET
        | NEGOTIATE_NTLM
        | NEGOTIATE_ALWAYS_SIGN
        | TARGET_TYPE_DOMAIN
        | NEGOTIATE_EXTENDED_SESSIONSECURITY
        | NEGOTIATE_TARGET_INFO
        | NEGOTIATE_VERSION
        | NEGOTIATE_128
        | NEGOTIATE_56
    )
    target_name = netbios_domain.upper().encode("utf-16-le")
    filetime = (int(time.time()) + 11644473600) * 10_000_000
    target_info = (
        _av_pair(2, netbios_domain.upper().encode("utf-16-le"))
        + _av_pair(1, computer.upper().encode("utf-16-le"))
        + _av_pair(4, dns_domain.lower().encode("utf-16-le"))
        + _av_pair(3, f"{computer.lower()}.{dns_domain.lower()}".encode("utf-16-le"))
        + _av_pair(5, dns_domain.lower().encode("utf-16-le"))
        + _av_pair(7, struct.pack("<Q", filetime))
        + _av_pair(0, b"")
    )
    header_len = 56
    version = bytes([10, 0]) + struct.pack("<H", 17763) + b"\x00\x00\x00\x0f"
    msg = (
        SIGNATURE
        + struct.pack("<I", 2)
        + struct.pack("<HHI", len(target_name), len(target_name), header_len)
        + struct.pack("<I", flags)
        + server_challenge
        + b"\x00" * 8
        + struct.pack("<HHI", len(target_info), len(target_info), header_len + len(target_name))
        + version
        + target_name
        + target_info
    )
    return Challenge(server_challenge, msg)


@dataclass
class Authenticate:
    domain: str
    user: str
    workstation: str
    nt_response: bytes
    lm_response: bytes


def parse_authenticate(msg: bytes) -> Authenticate:
    if not msg.startswith(SIGNATURE) or struct.unpack_from("<I", msg, 8)[0] != 3:
        raise ValueError("not an NTLM AUTHENTICATE message")

    def field(off: int) -> bytes:
        ln, _, ofs = struct.unpack_from("<HHI", msg, off)
        return msg[ofs : ofs + ln]

    (flags,) = struct.unpack_from("<I", msg, 60)
    enc = "utf-16-le" if flags & NEGOTIATE_UNICODE else "cp1252"
    return Authenticate(
        domain=field(28).decode(enc, errors="replace"),
        user=field(36).decode(enc, errors="replace"),
        workstation=field(44).decode(enc, errors="replace"),
        nt_response=field(20),
        lm_response=field(12),
    )


def is_negotiate(msg: bytes) -> bool:
    return msg.startswith(SIGNATURE) and len(msg) >= 12 and msg[8] == 1


def verify_v2(auth: Authenticate, server_challenge: bytes, password: str) -> bool:
    """Check an NTLMv2 (or LMv2 when no NT response) answer against ``password``."""
    key = ntowf_v2(password, auth.user, auth.domain)
    if len(auth.nt_response) > 24:
        proof, blob = auth.nt_response[:16], auth.nt_response[16:]
        expected = hmac.new(key, server_challenge + blob, "md5").digest()
        return hmac.compare_digest(proof, expected)
    if len(auth.lm_response) == 24:
        proof, client_challenge = auth.lm_response[:16], auth.lm_response[16:]
        expected = hmac.new(key, server_challenge + client_challenge, "md5").digest()
        return hmac.compare_digest(proof, expected)
    return False

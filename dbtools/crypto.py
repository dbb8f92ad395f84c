"""AES-256-GCM for credentials stored in our databases.

A ciphertext is `v1:<key id>:<base64 nonce+ciphertext>`. Keys come from
`DBTOOLS_ENCRYPTION_KEYS` ("kid:base64key,..."); the first encrypts and every listed key decrypts,
so rotating means putting a new key first and re-encrypting (`manage.py rotate_encryption_key`).
"""

import base64
import os
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    pass


@lru_cache(maxsize=4)
def _parse_keys(spec: str) -> tuple[tuple[str, bytes], ...]:
    keys = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        kid, _, b64 = item.partition(":")
        try:
            key = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        except ValueError as exc:
            raise ImproperlyConfigured(f"Encryption key {kid!r} is not base64") from exc
        if len(key) != 32 or not kid:
            raise ImproperlyConfigured(f"Encryption key {kid!r} must be 32 bytes with a key id")
        keys.append((kid, key))
    if not keys:
        raise ImproperlyConfigured("DBTOOLS_ENCRYPTION_KEYS holds no key")
    return tuple(keys)


def _keys() -> tuple[tuple[str, bytes], ...]:
    return _parse_keys(settings.DBTOOLS_ENCRYPTION_KEYS)


def current_key_id() -> str:
    return _keys()[0][0]


def encrypt(plaintext: str) -> str:
    kid, key = _keys()[0]
    nonce = os.urandom(12)
    # The key id is authenticated data: a ciphertext cannot be replayed under another key id.
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), kid.encode())
    return f"v1:{kid}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def decrypt(token: str) -> str:
    try:
        version, kid, b64 = token.split(":", 2)
    except ValueError as exc:
        raise DecryptionError("not a DbTools ciphertext") from exc
    key = dict(_keys()).get(kid)
    if version != "v1" or key is None:
        raise DecryptionError(f"no key with id {kid!r} is configured")
    raw = base64.urlsafe_b64decode(b64)
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], kid.encode()).decode()
    except Exception as exc:
        raise DecryptionError("ciphertext does not authenticate") from exc


def key_id_of(token: str) -> str:
    return token.split(":", 2)[1]


def needs_rotation(token: str) -> bool:
    return key_id_of(token) != current_key_id()

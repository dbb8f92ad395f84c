"""The one check every display name goes through (servers, groups, labels, tenants)."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError

# Bidirectional embeddings, overrides and isolates, and the invisible direction marks: they let a
# name display as something other than what it is ("Trojan Source").
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def validate_name(value: str) -> None:
    """Refuse control characters (tabs, newlines, NUL, ...) and bidirectional overrides."""
    for ch in value:
        if ch in BIDI_CONTROLS or unicodedata.category(ch) == "Cc":
            raise ValidationError(
                "Names cannot contain control characters or bidirectional text overrides "
                "(found U+%(code)04X).",
                code="invalid_characters",
                params={"code": ord(ch)},
            )

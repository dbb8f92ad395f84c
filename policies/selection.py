"""Database selection as Ola Hallengren's @Databases parameter reads it.

Items are comma separated and case-insensitive: the keywords SYSTEM_DATABASES, USER_DATABASES,
ALL_DATABASES and AVAILABILITY_GROUP_DATABASES, or database names where `%` is a wildcard. An
item starting with `-` excludes. A database is selected when it matches an included item and no
excluded one. tempdb is never selected: nothing can back it up or check it usefully.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

KEYWORDS = {"SYSTEM_DATABASES", "USER_DATABASES", "ALL_DATABASES", "AVAILABILITY_GROUP_DATABASES"}
SYSTEM = {"master", "model", "msdb"}


@dataclass(frozen=True)
class Database:
    """What the selection and the renderer need to know about one database on a server."""

    name: str
    recovery_model: str = "FULL"  # FULL, BULK_LOGGED, SIMPLE
    state: str = "ONLINE"
    is_read_only: bool = False
    in_availability_group: bool = False
    preferred_backup_replica: bool = True
    is_primary_replica: bool = True
    has_full_backup: bool = True  # a differential base exists
    log_chain: bool = True  # a full backup started the log chain (log backups possible)
    last_full_or_diff: dt.datetime | None = None
    is_snapshot: bool = False


@dataclass(frozen=True)
class Item:
    exclude: bool
    keyword: str  # one of KEYWORDS, or "" for a name pattern
    pattern: re.Pattern[str] | None


def parse(text: str) -> list[Item]:
    """The items of a selection; ValueError says what is wrong."""
    items: list[Item] = []
    for raw in text.split(","):
        word = raw.strip()
        if not word:
            continue
        exclude = word.startswith("-")
        word = word[1:].strip() if exclude else word
        if not word:
            raise ValueError("A '-' must be followed by a database name or keyword.")
        if word.upper() in KEYWORDS:
            items.append(Item(exclude, word.upper(), None))
            continue
        if any(c in word for c in "[]\x00"):
            raise ValueError(f"{word!r} is not a database name.")
        regex = "".join(".*" if c == "%" else re.escape(c) for c in word)
        items.append(Item(exclude, "", re.compile(regex, re.IGNORECASE)))
    if not any(not i.exclude for i in items):
        raise ValueError("Name at least one database or keyword to include.")
    return items


def _matches(item: Item, db: Database) -> bool:
    if item.keyword == "ALL_DATABASES":
        return True
    if item.keyword == "SYSTEM_DATABASES":
        return db.name.lower() in SYSTEM
    if item.keyword == "USER_DATABASES":
        return db.name.lower() not in SYSTEM
    if item.keyword == "AVAILABILITY_GROUP_DATABASES":
        return db.in_availability_group
    assert item.pattern is not None
    return item.pattern.fullmatch(db.name) is not None


def select(text: str, databases: list[Database]) -> list[Database]:
    """The databases `text` selects, in the server's order."""
    items = parse(text)
    chosen = []
    for db in databases:
        if db.name.lower() == "tempdb" or db.is_snapshot:
            continue
        if any(_matches(i, db) for i in items if not i.exclude) and not any(
            _matches(i, db) for i in items if i.exclude
        ):
            chosen.append(db)
    return chosen

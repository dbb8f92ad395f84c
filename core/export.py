"""Activity log export: the filtered entries streamed as CSV or JSON lines, read from the
database in chunks so a year of entries never sits in memory at once."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from django.db.models import QuerySet

from core.models import ActivityLog

COLUMNS = [
    "created_at",
    "user_name",
    "user_id",
    "action",
    "entity_type",
    "entity_id",
    "entity_name",
    "details",
]
CHUNK = 2000


class _Line:
    """csv.writer writes into this and we hand each line on at once."""

    def write(self, value: str) -> str:
        return value


def _cell(value: str) -> str:
    # A spreadsheet runs a cell starting with = + - @ as a formula: names and details are typed
    # by users, so such cells are quoted as text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _row(entry: ActivityLog) -> list[str]:
    return [
        entry.created_at.isoformat(),
        _cell(entry.user_name),
        "" if entry.user_id is None else str(entry.user_id),
        entry.action,
        entry.entity_type,
        _cell(entry.entity_id),
        _cell(entry.entity_name),
        _cell(json.dumps(entry.details, sort_keys=True, default=str)),
    ]


def csv_lines(entries: QuerySet[ActivityLog]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(COLUMNS)
    for entry in entries.iterator(chunk_size=CHUNK):
        yield writer.writerow(_row(entry))


def json_lines(entries: QuerySet[ActivityLog]) -> Iterator[str]:
    """One JSON object per line (JSON Lines): any size streams, and each line parses alone."""
    for entry in entries.iterator(chunk_size=CHUNK):
        yield (
            json.dumps(
                {
                    "created_at": entry.created_at.isoformat(),
                    "user_name": entry.user_name,
                    "user_id": entry.user_id,
                    "action": entry.action,
                    "entity_type": entry.entity_type,
                    "entity_id": entry.entity_id,
                    "entity_name": entry.entity_name,
                    "details": entry.details,
                },
                default=str,
            )
            + "\n"
        )

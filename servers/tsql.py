"""T-SQL text handling that needs no server: splitting a script into batches as SSMS and sqlcmd
do. `GO` is not T-SQL; it is the client's batch separator, so the client must find it."""

from __future__ import annotations

import re

# GO alone on its line, optionally with a repeat count and a trailing comment (sqlcmd's rules).
_GO_LINE = re.compile(r"^[ \t]*GO(?:[ \t]+(\d+))?[ \t]*(?:--.*)?$", re.IGNORECASE)


def split_batches(script: str) -> list[str]:
    """Batches of `script`, with `GO n` repeating the batch before it n times. A GO inside a
    string literal, a quoted identifier or a block comment does not split."""
    batches: list[str] = []
    current: list[str] = []
    in_block = 0  # block comments nest in T-SQL
    quote = ""  # the closing quote of an open literal or identifier
    for line in script.splitlines():
        if not in_block and not quote and (m := _GO_LINE.match(line)):
            text = "\n".join(current).strip()
            if text:
                batches.extend([text] * int(m[1] or 1))
            current = []
            continue
        current.append(line)
        in_block, quote = _scan(line, in_block, quote)
    text = "\n".join(current).strip()
    if text:
        batches.append(text)
    return batches


def _scan(line: str, in_block: int, quote: str) -> tuple[int, str]:
    """Carry the lexer state (open block comments, open quote) across one line."""
    i, n = 0, len(line)
    while i < n:
        ch, two = line[i], line[i : i + 2]
        if quote:
            if ch == quote:
                if line[i + 1 : i + 2] == quote:  # doubled quote: still inside
                    i += 2
                    continue
                quote = ""
        elif in_block:
            if two == "/*":
                in_block, i = in_block + 1, i + 1
            elif two == "*/":
                in_block, i = in_block - 1, i + 1
        elif two == "--":
            break
        elif two == "/*":
            in_block, i = 1, i + 1
        elif ch == "'":
            quote = "'"
        elif ch == "[":
            quote = "]"
        elif ch == '"':
            quote = '"'
        i += 1
    return in_block, quote

"""Splitting scripts into batches the way sqlcmd does."""

import pytest

from servers.tsql import split_batches


@pytest.mark.parametrize(
    ("script", "batches"),
    [
        ("SELECT 1\nGO\nSELECT 2", ["SELECT 1", "SELECT 2"]),
        ("SELECT 1\ngo\n\nGO\nSELECT 2\nGO", ["SELECT 1", "SELECT 2"]),
        ("PRINT 'x'\nGO 3\nSELECT 2", ["PRINT 'x'"] * 3 + ["SELECT 2"]),
        ("SELECT 1\nGO -- first part\nSELECT 2", ["SELECT 1", "SELECT 2"]),
        ("SELECT 'a\nGO\nb'", ["SELECT 'a\nGO\nb'"]),
        ("SELECT 'it''s\nGO\nfine'", ["SELECT 'it''s\nGO\nfine'"]),
        ("/* a\nGO\n/* nested */\nGO\n*/ SELECT 1", ["/* a\nGO\n/* nested */\nGO\n*/ SELECT 1"]),
        ("SELECT 1 -- it's a comment\nGO\nSELECT 2", ["SELECT 1 -- it's a comment", "SELECT 2"]),
        ("SELECT [a\nGO\nb] FROM t", ["SELECT [a\nGO\nb] FROM t"]),
        ("SELECT 1 GO", ["SELECT 1 GO"]),
        ("GOTO done\nSELECT 1", ["GOTO done\nSELECT 1"]),
        ("", []),
    ],
)
def test_split_batches(script, batches):
    assert split_batches(script) == batches


def test_monitoring_scripts_are_split_like_sqlcmd(tmp_path, monkeypatch):
    """`GO -- comment`, `GO 2` and GO inside a comment or a string, in the deployed scripts."""
    from servers import monitoring_objects

    (tmp_path / "010_a.sql").write_text(
        "SELECT 1\nGO -- first part\n/* not a separator:\nGO\n*/\nSELECT 'GO\nGO'\nGO 2\n"
    )
    monkeypatch.setattr(monitoring_objects, "SCRIPTS", tmp_path)
    monitoring_objects.batches.cache_clear()
    try:
        ((name, parts),) = monitoring_objects.batches()
    finally:
        monitoring_objects.batches.cache_clear()
    second = "/* not a separator:\nGO\n*/\nSELECT 'GO\nGO'"
    assert (name, parts) == ("010_a.sql", ("SELECT 1", second, second))


def test_monitoring_scripts_parse_as_tsql():
    """sqlfluff's T-SQL grammar finds no unparsable section in any monitoring script. `?` is the
    client's parameter marker, not T-SQL: parsed as the value it stands for."""
    import sqlfluff
    from sqlfluff.api.simple import APIParsingError

    from servers import monitoring_objects

    for name, parts in monitoring_objects.batches():
        for batch in parts:
            try:
                sqlfluff.parse(batch.replace("= ?", "= N'0'"), dialect="tsql")
            except APIParsingError as exc:  # pragma: no cover - the message is the point
                raise AssertionError(f"{name}: {exc}") from None

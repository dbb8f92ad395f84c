"""Counter state packed in a bytea (monitoring.counter_state) instead of a JSON document, and
file I/O kept per database (the sum of its files) instead of per file.

The old JSON state cannot be read by the new code: it is dropped, so each server's next
collection only restarts its deltas (gauges are stored as usual, rates resume one interval
later). Per-file I/O rows already stored are folded into per-database rows."""

import datetime as dt

from django.db import migrations, models

PER_DATABASE = """
CREATE TABLE file_io_stats (
    server_id integer NOT NULL,
    collected_at timestamptz NOT NULL,
    database_name varchar(128) NOT NULL,
    reads bigint NOT NULL,
    writes bigint NOT NULL,
    bytes_read bigint NOT NULL,
    bytes_written bigint NOT NULL,
    read_latency_ms double precision,
    write_latency_ms double precision,
    interval_ms bigint NOT NULL,
    PRIMARY KEY (server_id, collected_at, database_name)
) PARTITION BY RANGE (collected_at);
"""

PER_FILE = """
CREATE TABLE file_io_stats (
    server_id integer NOT NULL,
    collected_at timestamptz NOT NULL,
    database_name varchar(128) NOT NULL,
    file_id integer NOT NULL,
    file_type varchar(16) NOT NULL,
    reads bigint NOT NULL,
    writes bigint NOT NULL,
    bytes_read bigint NOT NULL,
    bytes_written bigint NOT NULL,
    read_latency_ms double precision,
    write_latency_ms double precision,
    interval_ms bigint NOT NULL,
    PRIMARY KEY (server_id, collected_at, database_name, file_id)
) PARTITION BY RANGE (collected_at);
"""


def _recreate(schema_editor, create_sql, fold):
    from monitoring import partitions

    alias = schema_editor.connection.alias
    with schema_editor.connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE _file_io_kept ON COMMIT DROP AS "
            + (
                """SELECT server_id, collected_at, database_name, sum(reads) AS reads,
                          sum(writes) AS writes, sum(bytes_read) AS bytes_read,
                          sum(bytes_written) AS bytes_written,
                          sum(read_latency_ms * reads) / nullif(sum(reads), 0) AS read_latency_ms,
                          sum(write_latency_ms * writes) / nullif(sum(writes), 0)
                              AS write_latency_ms,
                          max(interval_ms) AS interval_ms
                   FROM file_io_stats GROUP BY 1, 2, 3"""
                if fold
                else "SELECT * FROM file_io_stats WHERE false"
            )
        )
        cur.execute("DROP TABLE file_io_stats")
        cur.execute(create_sql)
        cur.execute("SELECT min(collected_at), max(collected_at) FROM _file_io_kept")
        first, last = cur.fetchone()
    partitions.ensure_around(alias, dt.datetime.now(dt.UTC))
    if first is not None:
        partitions.ensure(alias, first.date(), last.date())
        with schema_editor.connection.cursor() as cur:
            cur.execute("INSERT INTO file_io_stats SELECT * FROM _file_io_kept")


def forward(apps, schema_editor):
    _recreate(schema_editor, PER_DATABASE, fold=True)


def backward(apps, schema_editor):
    _recreate(schema_editor, PER_FILE, fold=False)  # per-file detail is gone for good


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0004_lease_handover")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE collector_state ALTER COLUMN counters TYPE bytea USING ''::bytea",
                    "ALTER TABLE collector_state ALTER COLUMN counters TYPE jsonb "
                    "USING '{}'::jsonb",
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="collectorstate",
                    name="counters",
                    field=models.BinaryField(blank=True, default=b""),
                )
            ],
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forward, backward)],
            state_operations=[
                migrations.AlterField(
                    model_name="fileiostat",
                    name="pk",
                    field=models.CompositePrimaryKey(
                        "server_id",
                        "collected_at",
                        "database_name",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                migrations.RemoveField(model_name="fileiostat", name="file_id"),
                migrations.RemoveField(model_name="fileiostat", name="file_type"),
            ],
        ),
    ]

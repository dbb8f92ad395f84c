"""The time-series tables, partitioned by day (PostgreSQL declarative partitioning)."""

import datetime as dt

from django.db import migrations

TABLES = """
CREATE TABLE metrics (
    server_id integer NOT NULL,
    metric_type_id smallint NOT NULL,
    collected_at timestamptz NOT NULL,
    value double precision NOT NULL,
    PRIMARY KEY (server_id, metric_type_id, collected_at)
) PARTITION BY RANGE (collected_at);

CREATE TABLE metric_rollups_5m (
    server_id integer NOT NULL,
    metric_type_id smallint NOT NULL,
    bucket timestamptz NOT NULL,
    samples integer NOT NULL,
    total double precision NOT NULL,
    minimum double precision NOT NULL,
    maximum double precision NOT NULL,
    PRIMARY KEY (server_id, metric_type_id, bucket)
) PARTITION BY RANGE (bucket);

CREATE TABLE server_snapshots (
    server_id integer NOT NULL,
    collected_at timestamptz NOT NULL,
    status varchar(16) NOT NULL,
    cpu_percent double precision,
    cpu_other_percent double precision,
    memory_percent double precision,
    connection_count integer,
    batch_requests_sec double precision,
    duration_ms double precision,
    PRIMARY KEY (server_id, collected_at)
) PARTITION BY RANGE (collected_at);

CREATE TABLE wait_stats (
    server_id integer NOT NULL,
    collected_at timestamptz NOT NULL,
    wait_type varchar(60) NOT NULL,
    waiting_tasks bigint NOT NULL,
    wait_time_ms bigint NOT NULL,
    signal_wait_time_ms bigint NOT NULL,
    interval_ms bigint NOT NULL,
    PRIMARY KEY (server_id, collected_at, wait_type)
) PARTITION BY RANGE (collected_at);

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

DROP = "DROP TABLE metrics, metric_rollups_5m, server_snapshots, wait_stats, file_io_stats;"



def seed(apps, schema_editor):
    from monitoring import partitions
    from monitoring.metric_types import METRIC_TYPES  # the code is the reference list

    MetricType = apps.get_model("monitoring", "MetricType")
    for name, unit, description in METRIC_TYPES:
        MetricType.objects.using(schema_editor.connection.alias).update_or_create(
            name=name, defaults={"unit": unit, "description": description}
        )
    partitions.ensure_around(schema_editor.connection.alias, dt.datetime.now(dt.UTC))


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial")]

    operations = [
        migrations.RunSQL(TABLES, DROP),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]

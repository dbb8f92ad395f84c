"""Result sets shaped like DbTools.usp_CollectMetrics returns them, for tests without sqlsim."""

import datetime as dt

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


STARTED = T0 - dt.timedelta(days=3)  # sqlserver_start_time: the same for every sample of a life


def result_sets(
    *,
    at=T0,
    ms_ticks=1_000_000,
    batch=10_000,
    waits=None,
    files=None,
    cpu=None,
    total_kb=16_000_000,
    avail_kb=4_000_000,
    connections=42,
    started=STARTED,
    numa_nodes=None,
    server_name=None,
):
    waits = (
        waits
        if waits is not None
        else {"PAGEIOLATCH_SH": (100, 5_000, 100), "WRITELOG": (50, 2_000, 10)}
    )
    files = (
        files
        if files is not None
        else {("SalesDb", 1): (1000, 8_192_000, 5_000, 400, 3_276_800, 800)}
    )
    cpu = cpu if cpu is not None else [(1, at - dt.timedelta(minutes=1), 35, 50)]
    return [
        [
            (
                at.replace(tzinfo=None),
                ms_ticks,
                started.replace(tzinfo=None),
                8,
                32_000_000,
                8_000_000,
                12_000_000,
                *(() if numa_nodes is None and server_name is None else (numa_nodes or 1,)),
                *(() if server_name is None else (server_name,)),
            )
        ],
        [(rid, t.replace(tzinfo=None), sql, idle) for rid, t, sql, idle in cpu],
        [(total_kb, avail_kb, "Available physical memory is high", 8_000_000, 99, False, False)],
        [(connections, 30, 3, 0)],
        [
            ("SQLServer:SQL Statistics", "Batch Requests/sec", "", batch, 272696576),
            ("SQLServer:SQL Statistics", "SQL Compilations/sec", "", batch // 10, 272696576),
            ("SQLServer:Buffer Manager", "Page life expectancy", "", 3000, 65792),
        ],
        [(w, *v) for w, v in waits.items()],
        [
            (5, db, fid, "ROWS", f"D:\\{db}.mdf", r, br, sr, w, bw, sw, 10**9, ms_ticks)
            for (db, fid), (r, br, sr, w, bw, sw) in files.items()
        ],
    ]

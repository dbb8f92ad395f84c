"""Memory and CPU of sqlsim itself for a fleet file: RSS of one process holding every instance
(listening, each collected once so its metrics model exists), and the server-side CPU of one
collection per instance size (building the seven result sets, TDS encoding excluded).

    .venv/bin/python -m bench.sqlsim_memory [--fleet bench/fleet-mixed.json]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import time
from pathlib import Path

from sqlsim import dbtools_objects
from sqlsim.fleet import Fleet, load_fleet_file

PROCEDURE = (
    Path(__file__).resolve().parent.parent / "servers/monitoring_sql/030_collect_metrics.sql"
)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def main(fleet_file: str) -> None:
    base = rss_mb()
    configs = load_fleet_file(fleet_file)
    fleet = Fleet(configs)
    started = time.monotonic()
    await fleet.start()
    listening = rss_mb()
    excluded = dbtools_objects._benign_filter(
        {"hash": "bench", "definition": PROCEDURE.read_text()}
    )
    cpu: dict[int, list[float]] = collections.defaultdict(list)
    waits: dict[int, list[int]] = collections.defaultdict(list)
    for inst in fleet.instances.values():
        m = dbtools_objects.metrics(inst)
        t = time.perf_counter()
        sets = m.collect(0, excluded)
        cpu[len(inst.config.databases)].append(time.perf_counter() - t)
        waits[len(inst.config.databases)].append(len(sets[5].rows))
    collected = rss_mb()
    sizes = collections.Counter(len(c.databases) for c in configs)
    print(
        f"fleet {fleet_file}: {len(configs)} instances "
        + ", ".join(f"{n} x {db} databases" for db, n in sorted(sizes.items()))
        + f"; started in {time.monotonic() - started:.1f} s"
    )
    print(
        f"RSS: {base:.0f} MB before, {listening:.0f} MB listening, {collected:.0f} MB after one "
        f"collection each ({(collected - base) * 1024 / len(configs):.1f} KB per instance)"
    )
    for db in sorted(cpu):
        times = sorted(cpu[db])
        # the first call also draws the instance's rates: time a second round for steady state
        steady = []
        for inst in [i for i in fleet.instances.values() if len(i.config.databases) == db][:50]:
            m = dbtools_objects.metrics(inst)
            t = time.perf_counter()
            m.collect(0, excluded)
            steady.append(time.perf_counter() - t)
        steady.sort()
        print(
            f"{db:>4} databases: waits returned median {sorted(waits[db])[len(times) // 2]}, "
            f"collection CPU median {steady[len(steady) // 2] * 1000:.2f} ms "
            f"(first one {times[len(times) // 2] * 1000:.2f} ms)"
        )
    await fleet.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--fleet", default=str(Path(__file__).with_name("fleet-mixed.json")))
    asyncio.run(main(parser.parse_args().fleet))

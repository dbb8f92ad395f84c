"""Command line: ``python -m sqlsim --count 500 --base-port 14330 [--control-port 14329]``
or ``python -m sqlsim --fleet fleet.json``.  Runs until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
import sys
import time

from .fleet import Fleet, describe, load_fleet_file, make_configs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sqlsim", description="Simulated SQL Server fleet (TDS 7.4)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--count", type=int, help="number of instances SQLPROD01..")
    src.add_argument("--fleet", help="fleet file (JSON)")
    p.add_argument("--base-port", type=int, default=14330, help="first port (with --count)")
    p.add_argument("--prefix", default="SQLPROD", help="instance name prefix (with --count)")
    p.add_argument(
        "--versions",
        default="2019,2022,2017,2016",
        help="comma-separated versions cycled over the instances (with --count)",
    )
    p.add_argument(
        "--load",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a module that registers extra statement handlers (repeatable)",
    )
    p.add_argument("--control-port", type=int, help="JSON-over-HTTP control port on 127.0.0.1")
    p.add_argument("--host", default="127.0.0.1", help="listen address (loopback only)")
    p.add_argument(
        "--json", action="store_true", help="print one JSON line (ports, control URL) when ready"
    )
    p.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the parent process goes away (used by the pytest fixtures)",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


async def amain(args: argparse.Namespace) -> None:
    for module in args.load:
        importlib.import_module(module)
    if args.fleet:
        configs = load_fleet_file(args.fleet)
    else:
        versions = [int(v) for v in args.versions.split(",") if v.strip()]
        configs = make_configs(args.count, args.base_port, prefix=args.prefix, versions=versions)
    fleet = Fleet(configs, host=args.host)
    started = time.monotonic()
    await fleet.start(args.control_port)
    ports = [i.port for i in fleet.instances.values()]
    if args.json:
        print(
            json.dumps(
                {
                    "control_port": fleet.control_port,
                    "instances": [describe(i) for i in fleet.instances.values()],
                }
            ),
            flush=True,
        )
    print(
        f"sqlsim: {len(ports)} instances on {args.host} ports {min(ports)}-{max(ports)} "
        f"started in {time.monotonic() - started:.2f}s"
        + (f"; control http://{args.host}:{fleet.control_port}" if fleet.control_port else ""),
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.ensure_future(_watch_parent(stop)) if args.exit_with_parent else None
    await stop.wait()
    if watcher is not None:
        watcher.cancel()
    await fleet.stop()
    with contextlib.suppress(OSError):  # stdout may be gone with the parent
        print("sqlsim: stopped", flush=True)


async def _watch_parent(stop: asyncio.Event) -> None:
    parent = os.getppid()
    while not stop.is_set():
        await asyncio.sleep(1)
        if os.getppid() != parent:
            stop.set()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    if not args.host.startswith("127.") and args.host not in ("localhost", "::1"):
        print("sqlsim: refusing to listen on a non-loopback address", file=sys.stderr)
        return 2
    asyncio.run(amain(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Memory soak: the served product under steady mixed load for 30 minutes, its resident memory sampled.

    .venv/bin/python -m benchmarks.soak                        # 30 minutes (the default), ~200 clients
    .venv/bin/python -m benchmarks.soak --minutes 5 --warm-up 1 # a shorter look

The server and the clients are those of :mod:`benchmarks.load` (``investai serve`` on a fresh data directory
with the sample data; each client on its own loopback address; 95% reads, 5% writes, exponential think
times). The server process tree's RSS is read from ``/proc`` every 10 s. The figure is RSS at the end against
RSS after the warm-up (models loaded, caches filled, the first idea requests run): the target is within 10%.
Not a CI test: it runs for half an hour.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.load import WRITES, mixed, prepare, rss_bytes, run_clients, served

MAX_MINUTES = 240.0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warm-up", type=float, default=5.0, help="minutes before the baseline RSS")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--think", type=float, default=4.0, help="mean pause between a client's requests (s)")
    parser.add_argument(
        "--worker-apart", action="store_true", help="run the job worker as its own process (investai worker)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not 0 < args.warm_up < args.minutes <= MAX_MINUTES or not 1 <= args.clients <= 2000:
        parser.error(f"need 0 < warm-up < minutes <= {MAX_MINUTES:.0f} and 1..2000 clients")
    samples: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="investai-soak-") as scratch:
        data_dir = Path(scratch) / "data"
        with served(data_dir, worker_apart=args.worker_apart) as (port, pids):
            world = prepare(port, data_dir, people=20)
            started = time.monotonic()
            last = 0.0

            def sample() -> None:
                nonlocal last
                now = time.monotonic() - started
                if now - last >= 10 or not samples:
                    samples.append((round(now, 1), round(rss_bytes(*pids) / 2**20, 1)))
                    last = now

            tally = asyncio.run(
                run_clients(
                    port, world, clients=args.clients, duration_s=args.minutes * 60, think_s=args.think,
                    choose=mixed, on_tick=sample,
                )
            )  # fmt: skip
            sample()
    warm = next(rss for at, rss in samples if at >= args.warm_up * 60)
    end = samples[-1][1]
    results = {
        "minutes": args.minutes,
        "clients": args.clients,
        "think_s": args.think,
        "rss_after_warm_up_mb": warm,
        "rss_end_mb": end,
        "rss_peak_mb": max(rss for _, rss in samples),
        "end_vs_warm_up": round(end / warm, 3),
        "load": tally.summary(writes=WRITES),
        "rss_mb": samples,
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    print(
        f"RSS after {args.warm_up:g} min {warm} MB, at {args.minutes:g} min {end} MB ({results['end_vs_warm_up']}x), "
        f"peak {results['rss_peak_mb']} MB; {results['load']['requests']} requests, {results['load']['errors']} errors",
        file=sys.stderr,
    )
    return results


if __name__ == "__main__":
    main()

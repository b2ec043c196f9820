"""Served throughput: authenticated GET through the full middleware stack against a bare FastAPI endpoint,
both served by uvicorn (as ``investai serve`` serves the product: h11, asyncio) from one server process, on
loopback, driven by a load generator in this process.

This is the measure the identity and edge issue sets its target on (throughput of the full stack at least
half of a bare endpoint's): what a client can get out of one server process. The server process runs the
bare app and the full app side by side, each on its own socket, so both see the same interpreter, the same
machine state and the same run; rounds alternate between them. The load generator keeps ``CONNECTIONS``
keep-alive connections busy with pre-built requests and reads each response's status and body, which costs
it a fraction of what the server spends, so the server's core is the bottleneck. See ``api_overhead`` for
the middleware cost alone (raw ASGI calls, no server).

    .venv/bin/python -m benchmarks.http_throughput
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONNECTIONS = 8
REQUESTS = 3000
ROUNDS = 5
PATH = "/api/v1/bench"


# --- the server process ------------------------------------------------------------------------------------


def _listen() -> socket.socket:
    # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY only on sockets that say they are TCP, as the
    # ones uvicorn binds from a host and port do; without it Nagle meets delayed ACKs at 40 ms a response
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def serve(data_dir: Path, *, sync: bool, cache_ttl_s: float) -> None:
    """Serve the bare app and the full app; print their ports and the bearer token, then run until killed."""
    import uvicorn

    from benchmarks.api_overhead import bare_app, full_app
    from investai.observability.logging import configure_logging

    configure_logging(level="INFO", json=True, stream=open(os.devnull, "w"))  # noqa: SIM115 - process lifetime
    bare = bare_app(sync=sync)
    full, token = full_app(data_dir, cache_ttl_s=cache_ttl_s, sync=sync)
    sockets = {"bare": _listen(), "full": _listen()}
    servers = []
    for name, app in (("bare", bare), ("full", full)):
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", http="h11", loop="asyncio")
        servers.append((uvicorn.Server(config), sockets[name]))
    ports = {name: sock.getsockname()[1] for name, sock in sockets.items()}
    print(json.dumps({"ports": ports, "token": token}), flush=True)

    async def run_all() -> None:
        await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in servers))

    asyncio.run(run_all())


# --- the load generator ------------------------------------------------------------------------------------


def request_bytes(port: int, token: str | None) -> bytes:
    lines = [
        f"GET {PATH} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "User-Agent: bench/1.0",
        "Accept: application/json",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def drive(port: int, payload: bytes, total: int, connections: int = CONNECTIONS) -> float:
    """Requests per second over ``total`` requests spread across ``connections`` keep-alive connections."""
    per_connection = total // connections
    statuses: set[int] = set()
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(per_connection):
            writer.write(payload)
            statuses.add(await _read_response(reader))

    started = time.perf_counter()
    await asyncio.gather(*(one(reader, writer) for reader, writer in streams))
    elapsed = time.perf_counter() - started
    for _, writer in streams:
        writer.close()
    assert statuses == {200}, f"unexpected statuses {statuses}"
    return per_connection * connections / elapsed


def measure(*, sync: bool, cache_ttl_s: float) -> tuple[float, float]:
    """Median requests per second of (full, bare) over ROUNDS alternating rounds."""
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-m", "benchmarks.http_throughput", "--serve", scratch, "--ttl", str(cache_ttl_s)]
        if sync:
            command.append("--sync")
        root = Path(__file__).resolve().parent.parent
        server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=root)
        try:
            assert server.stdout is not None
            announced = json.loads(server.stdout.readline())
            ports, token = announced["ports"], announced["token"]

            async def rounds() -> tuple[list[float], list[float]]:
                bare_payload = request_bytes(ports["bare"], None)
                full_payload = request_bytes(ports["full"], token)
                await drive(ports["bare"], bare_payload, 400)  # warm-up
                await drive(ports["full"], full_payload, 400)
                full_rates, bare_rates = [], []
                for _ in range(ROUNDS):
                    bare_rates.append(await drive(ports["bare"], bare_payload, REQUESTS))
                    full_rates.append(await drive(ports["full"], full_payload, REQUESTS))
                return full_rates, bare_rates

            full_rates, bare_rates = asyncio.run(rounds())
        finally:
            server.terminate()
            server.wait(timeout=30)
    return statistics.median(full_rates), statistics.median(bare_rates)


def run() -> list[tuple[str, float, float, str]]:
    """Rows as ``benchmarks.run`` reports them: (name, seconds per request, baseline seconds, baseline)."""
    rows = []
    for style, sync in (("sync handler", True), ("async handler", False)):
        for label, ttl in (("cache off", 0.0), ("cache on", 300.0)):
            full, bare = measure(sync=sync, cache_ttl_s=ttl)
            rows.append(
                (
                    f"served: authenticated GET, full stack, {style}, {label}",
                    1 / full,
                    1 / bare,
                    f"served: bare GET, {style}",
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", type=Path)
    parser.add_argument("--sync", action="store_true")
    parser.add_argument("--ttl", type=float, default=0.0)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, sync=args.sync, cache_ttl_s=args.ttl)
        return
    for name, value, baseline, label in run():
        print(f"{name}: {1 / value:,.0f} req/s vs {label} {1 / baseline:,.0f} req/s = {baseline / value:.2f} of bare")


if __name__ == "__main__":
    main()

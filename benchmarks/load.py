"""Load on the served product: many concurrent clients, each from its own loopback address, doing the mixed
reads and writes analysts do, against ``investai serve`` on a fresh data directory with the sample data.

    .venv/bin/python -m benchmarks.load                       # 1,000 clients for 5 minutes (the default)
    .venv/bin/python -m benchmarks.load --clients 300 --duration 60 --saturation-seconds 15
    .venv/bin/python -m benchmarks.load --worker-apart          # the worker as its own niced process
    .venv/bin/python -m benchmarks.load --one-at-a-time 300     # only each read's cost, one request at a time

Everything runs on 127.0.0.0/8 and nothing else: the server binds 127.0.0.1, and client ``i`` binds its
connection to ``127.0.x.y`` (Linux routes the whole block to loopback), so the per-address rate limit sees
1,000 clients as 1,000 addresses, as it would in production. The run is bounded in time and count: every
phase has a deadline and a fixed number of clients.

Phases, all in one run against one server process (so the ratios compare like with like):

1. **Preparation** (not timed): ``investai serve`` loads the sample market history and documents and indexes
   them; the script adds analysts and portfolio managers, signs them in, has each of them generate an idea
   request (3 ideas), and searches each of the 107 questions once, so lists and searches have something to
   return and the query-embedding cache holds the questions, as it would in steady state (a first-time
   question costs one MiniLM embedding, about 3 ms on an idle core: ``benchmarks/knowledge.py``).
2. **Saturation at 200 clients**: 200 closed-loop clients (no pause between requests) on the authenticated
   trivial route (``GET /api/v1/ideas/requests/templates``: token check, permission, a small constant body),
   then 200 on the mixed reads (ideas list, documents list, knowledge search with varied questions, idea
   detail, market bars). The figure is mixed-read throughput divided by trivial throughput.
3. **Concurrency**: ``--clients`` clients for ``--duration`` seconds, each pausing a random think time between
   requests (exponential, mean ``--think`` seconds, as people reading pages do), 95% reads as above and 5%
   writes (idea requests, feedback on ideas, document uploads, profile saves). Latency percentiles per
   operation, every status counted; 429 answers are designed (rate limit, budgets) and counted apart.

The server's resident memory (its process tree, from ``/proc``) is sampled every 5 s. Results print as JSON
(``--json`` writes them to a file too). ``benchmarks/soak.py`` reuses this for the 30-minute memory soak.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Load-Test-Passw0rd!"
TRIVIAL = "/api/v1/ideas/requests/templates"
MAX_CLIENTS = 5000
MAX_DURATION_S = 3600.0
WORKER_NICENESS = 10
"""With the worker apart, it runs at a lower CPU priority than the server (``nice -n 10``): idea generation and
document processing take what the requests leave, as background work should."""


# --- a small HTTP/1.1 client (keep-alive, bound to a source address) ----------------------------------------


class Connection:
    """One keep-alive connection from ``source`` to the server; reconnects when the server closes it."""

    def __init__(self, port: int, source: str) -> None:
        self.port = port
        self.source = source
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, int]:
        """(status, body bytes) of one request; a connection error is status 0."""
        for attempt in (1, 2):
            try:
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection(
                        "127.0.0.1", self.port, local_addr=(self.source, 0), limit=1 << 22
                    )
                head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "User-Agent: investai-load/1.0"]
                head.append("Accept: application/json")
                head += [f"{name}: {value}" for name, value in headers.items()]
                if body or method in {"POST", "PUT", "PATCH"}:
                    head.append(f"Content-Length: {len(body)}")
                self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                assert self.reader is not None
                return await _read_response(self.reader, self)
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                await self.close()
                if attempt == 2:
                    return 0, 0
        return 0, 0

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(ConnectionError, OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def _read_response(reader: asyncio.StreamReader, connection: Connection) -> tuple[int, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, chunked, close = 0, False, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            close = True
    size = await _read_chunked(reader) if chunked else len(await reader.readexactly(length)) if length else 0
    if close:
        await connection.close()
    return status, size


async def _read_chunked(reader: asyncio.StreamReader) -> int:
    size = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        chunk = int(line.split(b";")[0], 16)
        await reader.readexactly(chunk + 2)
        size += chunk
        if chunk == 0:
            return size


def source_address(index: int) -> str:
    """A distinct loopback address per client: 127.0.1.1, 127.0.1.2, ... (never 127.0.0.1, the server's)."""
    return f"127.{1 + index // 62500}.{1 + (index // 250) % 250}.{1 + index % 250}"


# --- the server --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(
    data_dir: Path, *, extra_env: dict[str, str] | None = None, worker_apart: bool = False
) -> Iterator[tuple[int, tuple[int, ...]]]:
    """``investai serve`` on a fresh port of 127.0.0.1 with the sample data; yields (port, process ids). With
    ``worker_apart`` the job worker runs as ``nice -n 10 investai worker`` beside ``investai serve --no-worker``
    (the shape for a busy instance: idea generation and document processing then share no interpreter lock
    with the requests, and take the CPU the requests leave)."""
    port = _free_port()
    env = {
        **os.environ,
        "INVESTAI_DATA_DIR": str(data_dir),
        "INVESTAI_ADMIN_EMAIL": "admin@example.com",
        "INVESTAI_ADMIN_PASSWORD": PASSWORD,
        "INVESTAI_LOG_JSON": "true",
        "HF_HUB_OFFLINE": "1",
        **(extra_env or {}),
    }
    log = (data_dir.parent / "server.log").open("wb")
    command = [sys.executable, "-m", "investai", "serve", "--host", "127.0.0.1", "--port", str(port)]
    processes = [
        subprocess.Popen(
            [*command, "--no-worker"] if worker_apart else command,
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
    ]  # fmt: skip
    try:
        _wait_ready(port, processes[0], timeout_s=600)  # the server prepares the data directory first
        if worker_apart:
            worker = ["nice", "-n", str(WORKER_NICENESS), sys.executable, "-m", "investai", "worker"]
            processes.append(subprocess.Popen(worker, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        yield port, tuple(process.pid for process in processes)
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def _wait_ready(port: int, server: subprocess.Popen[bytes], *, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}; see server.log beside the data")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the server did not become ready")


def rss_bytes(*pids: int) -> int:
    """Resident memory of ``pids`` and their descendants (the PDF parser children included), from ``/proc``."""
    total, pending = 0, list(pids)
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pending.extend(int(child) for child in children)
    return total


# --- preparation -------------------------------------------------------------------------------------------


@dataclass
class World:
    """What the clients use: tokens of signed-in people, ids of ideas and documents, questions to search."""

    tokens: list[str]
    idea_ids: dict[str, list[str]]
    """The ideas each token may read."""
    questions: list[str]
    symbols: list[str]


def prepare(port: int, data_dir: Path, *, people: int) -> World:
    """Sign ``people`` analysts and portfolio managers in, wait for the sample documents to be indexed and
    have the worker generate a few idea requests."""
    import httpx

    tokens = [_sign_in(data_dir, index) for index in range(people)]
    base = f"http://127.0.0.1:{port}/api/v1"
    with httpx.Client(base_url=base, timeout=120) as client:
        headers = {"Authorization": f"Bearer {tokens[0]}"}
        _wait_indexed(client, headers)
        templates = ("balanced_diversified", "aggressive_growth", "conservative_retirement", "esg_focused")
        for index, token in enumerate(tokens):  # everyone has ideas of their own to read
            body = {"template": templates[index % len(templates)], "max_ideas": 3}
            client.post("/ideas/requests?mode=sync", json=body, headers=_auth(token)).raise_for_status()
        idea_ids = {
            token: [idea["id"] for idea in client.get("/ideas?limit=200", headers=_auth(token)).json()]
            for token in tokens
        }
        questions = _questions()
        for question in questions:  # each question embedded once, as a working knowledge base's cache holds them
            client.get("/knowledge/search", params={"q": question, "mode": "semantic"}, headers=headers)
        found = client.get("/market/symbols?limit=50", headers=headers).json()
        symbols = [row["symbol"] for row in found["symbols"]]
    return World(tokens=tokens, idea_ids=idea_ids, questions=questions, symbols=symbols)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _sign_in(data_dir: Path, index: int) -> str:
    """A new analyst (even) or portfolio manager (odd) of the default organisation, signed in."""
    from investai.adapters.local.clock import SystemClock
    from investai.bootstrap import build_container
    from investai.config import Settings
    from investai.domain.users import Role
    from investai.services.auth_common import CallContext, TokenSet

    container = build_container(Settings(_env_file=None, data_dir=data_dir), clock=SystemClock())
    try:
        email = f"load{index}@example.com"
        role = Role.ANALYST if index % 2 == 0 else Role.PORTFOLIO_MANAGER
        organisation = container.settings.default_organisation
        container.identity.users.create_user(
            actor=None, email=email, role=role, organisation_id=organisation, password=PASSWORD
        )
        tokens = container.identity.auth.login(email, PASSWORD, CallContext())
        assert isinstance(tokens, TokenSet)
        return tokens.access_token
    finally:
        container.close()


def _wait_indexed(client: Any, headers: dict[str, str], timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        items = client.get("/documents?limit=100", headers=headers).json()
        if items and all(item["status"] in {"indexed", "failed"} for item in items):
            return
        time.sleep(1)
    raise RuntimeError("the sample documents were not indexed in time")


def _questions() -> list[str]:
    """The labelled evaluation questions and their paraphrases: varied text, so searches are not all alike."""
    questions: list[str] = []
    for name in ("retrieval_queries.json", "retrieval_paraphrases.json"):
        data = json.loads((ROOT / "tests" / "data" / name).read_text())
        rows = data["queries"] if isinstance(data, dict) else data
        questions += [row["query"] if isinstance(row, dict) else str(row) for row in rows]
    return questions


# --- operations --------------------------------------------------------------------------------------------


Operation = tuple[str, str, str, dict[str, str], bytes]
"""(name, method, path, headers, body)."""


def read_operation(world: World, rng: random.Random, token: str) -> Operation:
    auth = {"Authorization": f"Bearer {token}"}
    roll = rng.random()
    if roll < 0.30:
        return "ideas list", "GET", f"/api/v1/ideas?limit={rng.choice((20, 50))}", auth, b""
    if roll < 0.50:
        return "documents list", "GET", "/api/v1/documents?limit=50", auth, b""
    if roll < 0.75:
        question = rng.choice(world.questions).replace(" ", "+")
        mode = rng.choice(("hybrid", "hybrid", "keyword", "semantic"))
        return "knowledge search", "GET", f"/api/v1/knowledge/search?q={question}&mode={mode}&limit=10", auth, b""
    if roll < 0.90 and world.idea_ids[token]:
        return "idea detail", "GET", f"/api/v1/ideas/{rng.choice(world.idea_ids[token])}", auth, b""
    symbol = rng.choice(world.symbols)
    year = rng.randint(2005, 2022)
    return "market bars", "GET", f"/api/v1/market/{symbol}/bars?start={year}-01-01&end={year}-12-31", auth, b""


def write_operation(world: World, rng: random.Random, token: str) -> Operation:
    auth = {"Authorization": f"Bearer {token}"}
    json_headers = {**auth, "Content-Type": "application/json"}
    roll = rng.random()
    if roll < 0.25:
        template = rng.choice(("balanced_diversified", "aggressive_growth", "esg_focused", "conservative_retirement"))
        body = json.dumps({"template": template, "max_ideas": 3}).encode()
        return "idea request", "POST", "/api/v1/ideas/requests", json_headers, body
    if roll < 0.55 and world.idea_ids[token]:
        body = json.dumps({"rating": rng.randint(1, 5), "comment": "load run"}).encode()
        idea = rng.choice(world.idea_ids[token])
        return "idea feedback", "POST", f"/api/v1/ideas/{idea}/feedback", json_headers, body
    if roll < 0.80:
        return "document upload", "POST", "/api/v1/documents", *_upload(auth, rng)
    preferences = {"risk_tolerance": rng.choice(("conservative", "moderate", "aggressive")), "sectors": []}
    body = json.dumps({"preferences": preferences}).encode()
    return "profile save", "PUT", "/api/v1/profile", json_headers, body


def _upload(auth: dict[str, str], rng: random.Random) -> tuple[dict[str, str], bytes]:
    boundary = uuid.uuid4().hex
    symbol = rng.choice(("AAPL", "MSFT", "JNJ", "XOM", "KO"))
    text = f"symbol,note,target\n{symbol},desk note {uuid.uuid4().hex[:8]},{rng.randint(50, 400)}\n"
    parts = [
        (f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nDesk note {symbol}\r\n').encode(),
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="note.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + text.encode()
        + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    return {**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}, b"".join(parts)


# --- drivers -----------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Latencies (seconds) and statuses per operation."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    started: float = 0.0
    ended: float = 0.0

    def add(self, name: str, status: int, seconds: float) -> None:
        self.latencies[name].append(seconds)
        self.statuses[name][status] += 1

    def summary(self, *, writes: set[str]) -> dict[str, Any]:
        elapsed = self.ended - self.started
        reads = [s for name, values in self.latencies.items() if name not in writes for s in values]
        every = Counter[int]()
        for counts in self.statuses.values():
            every.update(counts)
        errors = sum(count for status, count in every.items() if status >= 500 or status == 0)
        unexpected = sum(count for status, count in every.items() if 400 <= status < 500 and status != 429)
        return {
            "seconds": round(elapsed, 1),
            "requests": sum(every.values()),
            "requests_per_s": round(sum(every.values()) / elapsed, 1) if elapsed else 0.0,
            "reads_per_s": round(len(reads) / elapsed, 1) if elapsed else 0.0,
            "read_latency_ms": _percentiles(reads),
            "statuses": {str(status): count for status, count in sorted(every.items())},
            "errors": errors,
            "unexpected_4xx": unexpected,
            "throttled_429": every.get(429, 0),
            "operations": {
                name: {
                    "count": len(values),
                    "latency_ms": _percentiles(values),
                    "statuses": {str(s): c for s, c in sorted(self.statuses[name].items())},
                }
                for name, values in sorted(self.latencies.items())
            },
        }


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": round(ordered[-1] * 1000, 1)}


WRITES = {"idea request", "idea feedback", "document upload", "profile save"}
READS = ("ideas list", "documents list", "knowledge search", "idea detail", "market bars")


async def run_clients(
    port: int,
    world: World,
    *,
    clients: int,
    duration_s: float,
    think_s: float,
    choose: Callable[[World, random.Random, str], Operation],
    first_address: int = 0,
    on_tick: Callable[[], None] | None = None,
) -> Tally:
    """``clients`` clients, each on its own connection from its own address, until ``duration_s`` has passed."""
    tally = Tally()
    deadline = time.monotonic() + duration_s

    async def client(index: int) -> None:
        rng = random.Random(index)
        connection = Connection(port, source_address(first_address + index))
        token = world.tokens[index % len(world.tokens)]
        if think_s:
            await asyncio.sleep(rng.uniform(0, think_s))  # arrivals spread out, not a thundering herd
        while time.monotonic() < deadline:
            name, method, path, headers, body = choose(world, rng, token)
            started = time.perf_counter()
            status, _size = await connection.request(method, path, headers, body)
            tally.add(name, status, time.perf_counter() - started)
            if think_s:
                await asyncio.sleep(max(0.0, min(rng.expovariate(1 / think_s), deadline - time.monotonic())))
        await connection.close()

    async def ticker() -> None:
        while time.monotonic() < deadline and on_tick is not None:
            on_tick()
            await asyncio.sleep(5)

    tally.started = time.monotonic()
    await asyncio.gather(ticker(), *(client(index) for index in range(clients)))
    tally.ended = time.monotonic()
    return tally


async def one_at_a_time(port: int, world: World, *, requests: int, seed: int = 1) -> dict[str, float]:
    """Mean latency (ms) of each read, ``requests`` of it one after another on one connection from one address:
    what a read costs with nothing else running. Each operation gets the same draws as the mixed phases (varied
    questions, symbols and years); the knowledge search runs its draws twice, the second time as
    ``knowledge search, asked before`` (its kept results on the same index version)."""
    rng = random.Random(seed)
    drawn: dict[str, list[Operation]] = defaultdict(list)
    while min((len(drawn[name]) for name in READS), default=0) < requests:
        operation = read_operation(world, rng, world.tokens[rng.randrange(len(world.tokens))])
        drawn[operation[0]].append(operation)
    drawn["trivial"] = [trivial(world, rng, world.tokens[0])] * requests
    drawn["knowledge search, asked before"] = drawn["knowledge search"][:requests]
    means: dict[str, float] = {}
    for index, (name, operations) in enumerate(drawn.items()):
        connection = Connection(port, source_address(400_000 + index))  # each within the per-address limit
        await connection.request(*operations[0][1:])  # the connection opened before timing
        started = time.perf_counter()
        statuses: Counter[int] = Counter()
        for _, method, path, headers, body in operations[:requests]:
            status, _size = await connection.request(method, path, headers, body)
            statuses[status] += 1
        means[name] = round((time.perf_counter() - started) / requests * 1000, 2)
        await connection.close()
        if set(statuses) != {200}:
            raise RuntimeError(f"{name}: statuses {dict(statuses)}")
    return means


def mixed(world: World, rng: random.Random, token: str, write_share: float = 0.05) -> Operation:
    if rng.random() < write_share:
        return write_operation(world, rng, token)
    return read_operation(world, rng, token)


def trivial(world: World, rng: random.Random, token: str) -> Operation:
    return "trivial", "GET", TRIVIAL, {"Authorization": f"Bearer {token}"}, b""


# --- the run -----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of the concurrency phase")
    parser.add_argument("--think", type=float, default=10.0, help="mean pause between a client's requests (s)")
    parser.add_argument("--saturation-clients", type=int, default=200)
    parser.add_argument("--saturation-seconds", type=float, default=30.0)
    parser.add_argument("--people", type=int, default=20, help="signed-in analysts and portfolio managers")
    parser.add_argument(
        "--worker-apart", action="store_true", help="run the job worker as its own process (investai worker)"
    )
    parser.add_argument(
        "--one-at-a-time",
        type=int,
        default=0,
        metavar="N",
        help="only measure each read N times, one request at a time (after the preparation)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not 0 <= args.one_at_a_time <= 10_000:
        parser.error("--one-at-a-time must be 0..10000")
    if not 1 <= args.clients <= MAX_CLIENTS or not 0 < args.duration <= MAX_DURATION_S:
        parser.error(f"clients must be 1..{MAX_CLIENTS} and duration 0..{MAX_DURATION_S:.0f} s")
    results: dict[str, Any] = {
        "clients": args.clients,
        "duration_s": args.duration,
        "think_s": args.think,
        "worker_apart": args.worker_apart,
    }
    with tempfile.TemporaryDirectory(prefix="investai-load-") as scratch:
        data_dir = Path(scratch) / "data"
        with served(data_dir, worker_apart=args.worker_apart) as (port, pids):
            world = prepare(port, data_dir, people=args.people)
            if args.one_at_a_time:
                results["one_at_a_time_ms"] = asyncio.run(one_at_a_time(port, world, requests=args.one_at_a_time))
                return _report(results, args.json)
            rss: list[tuple[float, int]] = []
            started = time.monotonic()
            results["rss_after_preparation_mb"] = round(rss_bytes(*pids) / 2**20, 1)

            def sample() -> None:
                rss.append((round(time.monotonic() - started, 1), rss_bytes(*pids)))

            saturation = {}
            for label, choose in (("trivial", trivial), ("mixed reads", read_operation)):
                tally = asyncio.run(
                    run_clients(
                        port, world, clients=args.saturation_clients, duration_s=args.saturation_seconds,
                        think_s=0.0, choose=choose, first_address=100_000 if label == "trivial" else 200_000,
                        on_tick=sample,
                    )
                )  # fmt: skip
                saturation[label] = tally.summary(writes=WRITES)
            ratio = saturation["mixed reads"]["requests_per_s"] / max(saturation["trivial"]["requests_per_s"], 1e-9)
            results["saturation"] = {"clients": args.saturation_clients, "ratio": round(ratio, 3), **saturation}
            tally = asyncio.run(
                run_clients(
                    port, world, clients=args.clients, duration_s=args.duration, think_s=args.think,
                    choose=mixed, on_tick=sample,
                )
            )  # fmt: skip
            results["concurrency"] = tally.summary(writes=WRITES)
            sample()
            results["rss_mb"] = [(at, round(value / 2**20, 1)) for at, value in rss]
            results["rss_peak_mb"] = round(max(value for _, value in rss) / 2**20, 1)
    return _report(results, args.json)


def _report(results: dict[str, Any], path: Path | None) -> dict[str, Any]:
    text = json.dumps(results, indent=2)
    print(text)
    if path:
        path.write_text(text)
    return results


def summarise(results: dict[str, Any]) -> str:
    """One paragraph for RESULTS.md."""
    concurrency, saturation = results["concurrency"], results["saturation"]
    return (
        f"{results['clients']} clients, {concurrency['seconds']:.0f} s: "
        f"{concurrency['requests_per_s']} req/s, read p50 "
        f"{concurrency['read_latency_ms'].get('p50')} ms, p99 {concurrency['read_latency_ms'].get('p99')} ms, errors "
        f"{concurrency['errors']}, 429 {concurrency['throttled_429']}; at {saturation['clients']} clients mixed reads "
        f"{saturation['mixed reads']['requests_per_s']} req/s vs trivial {saturation['trivial']['requests_per_s']} "
        f"req/s = {saturation['ratio']}; RSS peak {results['rss_peak_mb']} MB"
    )


if __name__ == "__main__":
    measured = main()
    if "concurrency" in measured:
        print(summarise(measured), file=sys.stderr)

"""SIGKILL the whole server at random moments, over and over, while clients upload documents, ingest market bars,
request ideas and create users; restart it each time; then count the acknowledged writes that were lost and the
stores that were damaged. Both must be zero.

A write is acknowledged when its client received a complete 2xx answer. Some kills land during start-up (sample
loading, store opening), the others while requests, document processing and idea generation are under way, since
the server runs its worker in-process. Leases are short (3 s) so that work a kill interrupted is taken up again
soon after the restart. Server processes are forked from ``server_zygote.py``, which imported the product once:
each child runs ``investai serve`` itself, and a restart costs what the server's own start costs, not the imports.

The figures go to ``artifacts/crash/report.json`` (and RESULTS.md by hand). ``INVESTAI_CRASH_CYCLES`` sets how
many kills (default 100).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from investai.bootstrap import build_container
from investai.config import Settings
from investai.domain.access import Principal
from investai.domain.errors import NotFound
from tests.processes import Api, Deployment, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

CYCLES = int(os.environ.get("INVESTAI_CRASH_CYCLES", "100"))
SEED = 20261206
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "crash"
FIRST_DAY = date(2023, 1, 2)


class Zygote:
    def __init__(self, deployment: Deployment) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("server_zygote.py"))],
            env=deployment.env(INVESTAI_JOB_VISIBILITY_TIMEOUT_S="3"),
            cwd=deployment.root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"
        self.deployment = deployment

    def serve(self) -> tuple[int, str]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        port = free_port()
        self.process.stdin.write(f"{port} {self.deployment.root / 'server.log'}\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline()), f"http://127.0.0.1:{port}"

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def _gone(pid: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
    raise AssertionError(f"server {pid} is still alive")


def _ready(base_url: str, timeout_s: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/ready", timeout=5).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False


@dataclass
class Tally:
    """Acknowledged writes, and what the run saw."""

    users: set[str] = field(default_factory=set)
    documents: dict[str, str] = field(default_factory=dict)
    bars: dict[str, float] = field(default_factory=dict)
    requests: set[str] = field(default_factory=set)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Report:
    cycles: int = 0
    kills_during_start: int = 0
    kills_under_load: int = 0
    starts_not_ready: int = 0
    acknowledged: dict[str, int] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)
    requests_failed_after_retries: int = 0
    corrupt_stores: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Load:
    """Clients writing through the API until the server dies under them."""

    def __init__(self, base_url: str, tokens: dict[str, str], tally: Tally, counter: list[int]) -> None:
        self.base_url = base_url
        self.tokens = tokens
        self.tally = tally
        self.counter = counter
        self.stop = threading.Event()

    def _loop(self, step: Callable[[httpx.Client, int], None], pause: float) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            while not self.stop.is_set():
                with self.tally.lock:
                    self.counter[0] += 1
                    index = self.counter[0]
                    self.tally.attempts += 1
                with contextlib.suppress(httpx.HTTPError):  # the server died under it: not acknowledged
                    step(client, index)
                self.stop.wait(pause)

    def _headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def upload(self, client: httpx.Client, index: int) -> None:
        body = f"label,value\ncrash-{index},{index}\nrow-{index},{index * 2}\n".encode()
        answer = client.post(
            "/api/v1/documents", headers=self._headers("analyst"), files={"file": (f"c{index}.csv", body, "text/csv")}
        )
        if answer.status_code == 201:
            with self.tally.lock:
                self.tally.documents[answer.json()["id"]] = hashlib.sha256(body).hexdigest()

    def bar(self, client: httpx.Client, index: int) -> None:
        day = (FIRST_DAY + timedelta(days=index)).isoformat()
        close = round(100 + (index % 50) * 0.01, 2)
        answer = client.post(
            "/api/v1/market/bars",
            headers=self._headers("manager"),
            json={"bars": [{"symbol": "CRSH", "date": day, "close": close}]},
        )
        if answer.status_code == 200:
            with self.tally.lock:
                self.tally.bars[day] = close

    def request_ideas(self, client: httpx.Client, index: int) -> None:
        body = {"risk_tolerance": "moderate", "investment_horizon": "medium", "max_ideas": 1, "tickers": ["KO", "XOM"]}
        answer = client.post("/api/v1/ideas/requests", headers=self._headers("analyst"), json=body)
        if answer.status_code == 202:
            with self.tally.lock:
                self.tally.requests.add(answer.json()["request_id"])

    def create_user(self, client: httpx.Client, index: int) -> None:
        email = f"crash{index}@example.com"
        answer = client.post(
            "/api/v1/admin/users", headers=self._headers("admin"), json={"email": email, "role": "analyst"}
        )
        if answer.status_code == 201:
            with self.tally.lock:
                self.tally.users.add(email)

    def run_for(self, seconds: float, kill: Callable[[], None]) -> None:
        plan = [(self.upload, 0.15), (self.bar, 0.05), (self.request_ideas, 0.6), (self.create_user, 0.3)]
        threads = [threading.Thread(target=self._loop, args=(step, pause)) for step, pause in plan]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        kill()
        self.stop.set()
        for thread in threads:
            thread.join(timeout=60)


def _set_up(base_url: str) -> dict[str, str]:
    admin = Api.admin(base_url)
    analyst = admin.new_user("crash.analyst@example.com", "analyst")
    manager = admin.new_user("crash.manager@example.com", "portfolio-manager")
    answer = manager.request(
        "POST", "/api/v1/market/symbols", json={"symbols": [{"symbol": "CRSH", "name": "Crash Test Corp"}]}
    )
    assert answer.status_code == 200, answer.text
    return {"admin": admin.token or "", "analyst": analyst.token or "", "manager": manager.token or ""}


def _settle(base_url: str, tokens: dict[str, str], tally: Tally, report: Report, timeout_s: float = 300.0) -> None:
    """Wait until every acknowledged request and document is finished by the worker."""
    headers = {"Authorization": f"Bearer {tokens['analyst']}", "Cache-Control": "no-cache"}
    pending_requests, pending_documents = set(tally.requests), set(tally.documents)
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=base_url, timeout=30, headers=headers) as client:
        while (pending_requests or pending_documents) and time.monotonic() < deadline:
            for request_id in sorted(pending_requests):
                answer = client.get(f"/api/v1/ideas/requests/{request_id}")
                if answer.status_code == 404:
                    report.lost["requests"] = report.lost.get("requests", 0) + 1
                    pending_requests.discard(request_id)
                elif answer.json()["status"] in {"succeeded", "failed"}:
                    report.requests_failed_after_retries += answer.json()["status"] == "failed"
                    pending_requests.discard(request_id)
            for document_id in sorted(pending_documents):
                answer = client.get(f"/api/v1/documents/{document_id}")
                if answer.status_code != 200 or answer.json()["status"] in {"indexed", "failed"}:
                    pending_documents.discard(document_id)
            time.sleep(0.5)
    assert not pending_requests, f"requests never finished: {sorted(pending_requests)[:5]}"
    assert not pending_documents, f"documents never processed: {sorted(pending_documents)[:5]}"


def _count_lost(deployment: Deployment, tally: Tally, report: Report) -> None:
    container = build_container(Settings(data_dir=deployment.data_dir, _env_file=None))
    try:
        lost = report.lost
        lost["users"] = sum(container.users.get_by_email(email) is None for email in tally.users)
        documents = 0
        for document_id, digest in tally.documents.items():
            try:
                document = container.documents.get(document_id)
                stored = container.objects.get(document.current.object_key, document.current.object_version)
                documents += hashlib.sha256(stored.data).hexdigest() != digest
            except Exception:
                documents += 1
        lost["documents"] = documents
        stored_bars = {bar.date.isoformat(): bar.close for bar in container.market.bars("CRSH")}
        lost["bars"] = sum(stored_bars.get(day) != close for day, close in tally.bars.items())
        owner = container.users.get_by_email("crash.analyst@example.com")
        assert owner is not None
        reader = Principal.acting_as(owner, actor="check", at=container.clock.now())
        missing = 0
        for request_id in tally.requests:
            try:
                container.idea_requests.peek(reader, request_id)
            except NotFound:
                missing += 1
        lost["requests"] = lost.get("requests", 0) + missing
        if not container.identity.audit.verify().ok:
            report.corrupt_stores.append("audit chain")
        if container.knowledge.index.count() <= 0:
            report.corrupt_stores.append("search index empty")
    finally:
        container.close()
    for name, result in deployment.integrity().items():
        if result != "ok":
            report.corrupt_stores.append(f"{name}: {result}")


def test_sigkill_of_the_server_at_random_moments_loses_no_acknowledged_write(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    deployment = Deployment(tmp_path)
    zygote = Zygote(deployment)
    tally, report, counter = Tally(), Report(), [0]
    started = time.monotonic()
    tokens: dict[str, str] = {}
    try:
        for cycle in range(CYCLES):
            pid, base_url = zygote.serve()

            def kill(pid: int = pid) -> None:
                os.kill(pid, signal.SIGKILL)

            if cycle > 0 and rng.random() < 0.15:  # during start-up: stores opening, samples loading
                time.sleep(rng.uniform(0.0, 1.5))
                kill()
                _gone(pid)
                report.kills_during_start += 1
                continue
            if not _ready(base_url):
                report.starts_not_ready += 1
                kill()
                _gone(pid)
                continue
            if not tokens:
                tokens.update(_set_up(base_url))
            Load(base_url, tokens, tally, counter).run_for(rng.uniform(0.2, 2.5), kill)
            _gone(pid)
            report.kills_under_load += 1
        report.cycles = CYCLES
        pid, base_url = zygote.serve()
        assert _ready(base_url), "the server did not come back after the last kill"
        _settle(base_url, tokens, tally, report)
        os.kill(pid, signal.SIGTERM)
        _gone(pid, timeout_s=60)
    finally:
        zygote.close()
    report.acknowledged = {
        "users": len(tally.users),
        "documents": len(tally.documents),
        "bars": len(tally.bars),
        "requests": len(tally.requests),
    }
    _count_lost(deployment, tally, report)
    report.seconds = round(time.monotonic() - started, 1)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "report.json").write_text(json.dumps(asdict(report), indent=2))
    print(json.dumps(asdict(report), indent=2))
    assert report.starts_not_ready == 0
    assert report.kills_during_start + report.kills_under_load == CYCLES
    assert sum(report.acknowledged.values()) > 5 * CYCLES
    assert sum(report.lost.values()) == 0, report.lost
    assert report.corrupt_stores == []

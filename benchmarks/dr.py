"""Backup, restore and recovery time on the sample deployment, measured by ``investai dr drill``.

    .venv/bin/python -m benchmarks.dr [--runs 3]

The deployment is what ``make run`` gives a new user: a server started on an empty data directory loads the
sample market history (20 stocks, the index and factor ETFs, 1990-2022) and the sample corpus, its worker
indexes the documents, and one ``investai ideas generate --max 5`` adds ideas. With that server still running,
``investai dr drill`` is run ``--runs`` times; each backs up the live directory, restores it into a fresh one,
starts a server there and checks it.

Baselines from the same run and disk: a plain copy of the data directory's files (``shutil.copytree``, no
consistency, no encryption) against the backup, and a start of ``investai serve`` on a plain copy of the data
directory until ``/ready`` against the drill's restore plus start. Targets: the backup of the sample data within
30 s, recovery (restore plus start until ready) within 5 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ADMIN_PASSWORD = "Benchmark-Admin-Passw0rd!"


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "INVESTAI_DATA_DIR": str(data_dir),
        "INVESTAI_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "INVESTAI_LOG_LEVEL": "WARNING",
        **extra,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(data_dir: Path, log: Path, **extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "investai", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=_env(data_dir, INVESTAI_ISSUER=f"http://127.0.0.1:{port}", **extra),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return process, f"http://127.0.0.1:{port}"


def _wait_ready(base_url: str, timeout_s: float = 300.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        try:
            if httpx.get(f"{base_url}/ready", timeout=5).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{base_url} not ready")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


def _wait_indexed(data_dir: Path, timeout_s: float = 600.0) -> None:
    """Until the sample corpus is uploaded and every document job has finished."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        connection = sqlite3.connect(f"file:{data_dir / 'investai.db'}?mode=ro", uri=True)
        try:
            busy = connection.execute(
                "SELECT count(*) FROM jobs WHERE status IN ('queued', 'leased') AND kind = 'documents.process'"
            ).fetchone()[0]
            documents = connection.execute("SELECT count(*) FROM documents").fetchone()[0]
        finally:
            connection.close()
        if documents and not busy:
            return
        time.sleep(0.25)
    raise RuntimeError("the sample corpus was not indexed")


def _dir_bytes(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


def _run(command: list[str], data_dir: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "investai", *command], env=_env(data_dir), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-2000:] + done.stderr[-2000:])
    return done.stdout


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3), "max": round(max(values), 3)}


def measure(runs: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="investai-dr-bench-"))
    data_dir = root / "var"
    results: dict[str, Any] = {}
    try:
        started = time.perf_counter()
        server, base_url = _serve(data_dir, root / "server.log")
        try:
            results["first_start_ready_s"] = round(_wait_ready(base_url), 1)
            _wait_indexed(data_dir)
            results["sample_indexed_after_start_s"] = round(time.perf_counter() - started, 1)
            _run(["ideas", "generate", "--max", "5"], data_dir)
            drills = [json.loads(_run(["dr", "drill", "--json"], data_dir)) for _ in range(runs)]
        finally:
            _stop(server)
        results["data_dir_mb"] = round(_dir_bytes(data_dir) / 1e6, 1)
        copies, starts = [], []
        for index in range(runs):
            copy = root / f"copy-{index}"
            began = time.perf_counter()
            shutil.copytree(data_dir, copy, ignore=shutil.ignore_patterns("*.lock", "*.want", ".in-use"))
            copies.append(time.perf_counter() - began)
            began = time.perf_counter()
            process, url = _serve(copy, root / f"plain-{index}.log", INVESTAI_BACKUP_DIR=str(root / "plain-backups"))
            try:
                _wait_ready(url)
                starts.append(time.perf_counter() - began)
            finally:
                _stop(process)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for key in ("backup_s", "restore_s", "ready_s", "rto_s"):
        results[key] = _spread([drill[key] for drill in drills])
    results["backup_mb"] = round(drills[0]["backup_bytes"] / 1e6, 1)
    results["copy_s"] = _spread(copies)
    results["plain_start_ready_s"] = _spread(starts)
    results["backup_vs_copy"] = round(results["backup_s"]["median"] / results["copy_s"]["median"], 2)
    results["rto_vs_plain_start"] = round(results["rto_s"]["median"] / results["plain_start_ready_s"]["median"], 2)
    results["checks"] = drills[-1]["checks"]
    return results


SECTION = "Recovery and robustness"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _artifact(name: str) -> dict[str, Any] | None:
    path = ARTIFACTS / name / "report.json"
    return json.loads(path.read_text()) if path.is_file() else None


def section(results: dict[str, Any]) -> list[str]:
    """RESULTS.md lines: the drill's figures, then the last crash and multi-process test runs of ``make test``
    (``artifacts/crash``, ``artifacts/processes``) when this checkout has them."""

    def spread(key: str) -> str:
        return "{min:.2f} / {median:.2f} / {max:.2f} s".format(**results[key])

    lines = [
        f"## {SECTION}",
        "",
        "Disaster recovery on the sample deployment (`benchmarks/dr.py`, `investai dr drill --json` against a "
        "running server, min / median / max over the runs; method in its docstring). Sample data directory: "
        f"{results['data_dir_mb']} MB, backup {results['backup_mb']} MB.",
        "",
        "| measure | value | baseline | ratio | target |",
        "|---|---:|---|---:|---:|",
        f"| backup (consistent, encrypted) | {spread('backup_s')} | plain copy of the files, "
        f"{results['copy_s']['median']:.3f} s | {results['backup_vs_copy']:.1f}x | ≤ 30 s |",
        f"| restore into an empty directory | {spread('restore_s')} | | | |",
        f"| restored server: start until `/ready` | {spread('ready_s')} | | | |",
        f"| RTO: restore plus start until ready | {spread('rto_s')} | a start on a plain copy, "
        f"{results['plain_start_ready_s']['median']:.2f} s | {results['rto_vs_plain_start']:.2f}x | ≤ 5 min |",
        "| RPO: age of the newest backup | at most 1 hour with the default hourly schedule | | | ≤ 1 hour |",
        f"| first start on an empty directory until `/ready` | {results['first_start_ready_s']} s | | | |",
        f"| first start until the sample corpus is indexed | {results['sample_indexed_after_start_s']} s | | | |",
        "",
        "Drill checks: " + "; ".join(f"{name} {outcome}" for name, outcome in results["checks"].items()) + ".",
    ]
    crash = _artifact("crash")
    if crash is not None:
        acknowledged = sum(crash["acknowledged"].values())
        lines += [
            "",
            f"Crash test (`tests/integration/test_server_crash.py`, from `make test`): {crash['cycles']} SIGKILLs of "
            f"`investai serve` ({crash['kills_during_start']} during start-up, {crash['kills_under_load']} under "
            f"load), {acknowledged:,} acknowledged writes ({_counts(crash['acknowledged'])}); lost: "
            f"{sum(crash['lost'].values())}; damaged stores: {len(crash['corrupt_stores'])}; idea requests failed "
            f"after three interrupted runs: {crash['requests_failed_after_retries']}; {crash['seconds']:.0f} s.",
        ]
    processes = _artifact("processes")
    if processes is not None:
        lines += [
            "",
            f"Multi-process test (`tests/integration/test_processes.py`, from `make test`): server, separate worker "
            f"and CLI writing one data directory for {processes['write_seconds']:.0f} s: {processes['users']} users, "
            f"{processes['documents']} documents, {processes['bars']} bars, {processes['idea_requests']} idea "
            f"requests, {processes['cli_commands']} CLI commands ({processes['backups']} backups), "
            f"{processes['audit_reads']} audit reads; "
            f"`PRAGMA integrity_check` ok on {', '.join(sorted(processes['integrity_check']))}, `investai audit "
            "verify` passes, every acknowledged write present.",
        ]
    return lines


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{value:,} {name}" for name, value in counts.items())


def write_section(results: dict[str, Any], path: Path) -> None:
    """Replace (or add) the section in RESULTS.md, leaving the rest as the last ``make bench`` wrote it."""
    text = path.read_text() if path.is_file() else "# Benchmark results\n"
    head = text.split(f"\n## {SECTION}\n", 1)[0].rstrip("\n")
    path.write_text(head + "\n\n" + "\n".join(section(results)) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="update this section of benchmarks/RESULTS.md")
    arguments = parser.parse_args()
    results = measure(arguments.runs)
    print(json.dumps(results, indent=2))
    if arguments.write:
        write_section(results, Path(__file__).with_name("RESULTS.md"))


if __name__ == "__main__":
    main()

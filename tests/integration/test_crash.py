"""Crash consistency: a writer killed with SIGKILL at random moments never loses or tears a write it
acknowledged, never leaves a document row pointing at a missing object version, and never corrupts the
database. The writer is :mod:`tests.integration.crash_child`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from investai.adapters.local.object_store import VERSIONS_DIR
from investai.bootstrap import build_container
from investai.config import Settings
from investai.domain.documents import Document
from investai.domain.errors import IntegrityError
from tests.integration.crash_child import Stores, crash_settings, open_stores

REPO_ROOT = Path(__file__).resolve().parents[2]
RESTARTS = 100
KILL_DELAY_S = (0.05, 0.4)
SEED = 20240102


@dataclass(frozen=True)
class Ack:
    key: str
    version: str
    sha256: str
    document_id: str


@dataclass
class Progress:
    acks: list[Ack] = field(default_factory=list)
    checked_rowid: int = 0  # document rows up to this rowid were checked after an earlier kill


def _run_child(data_dir: Path, seed: int, delay: float, stderr_path: Path) -> list[Ack]:
    """Start a writer, let it run ``delay`` seconds after it reports ready, SIGKILL it, return its acks."""
    with stderr_path.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.crash_child", str(data_dir), str(seed)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        assert child.stdout is not None
        try:
            ready = child.stdout.readline()
            if ready == b'{"ready": true}\n':
                time.sleep(delay)  # picks the moment of the crash; nothing is asserted on time
        finally:
            os.kill(child.pid, signal.SIGKILL)
            rest = child.stdout.read()
            child.wait()
    problem = stderr_path.read_text(errors="replace")
    assert ready == b'{"ready": true}\n', f"the writer did not start: {problem}"
    assert child.returncode == -signal.SIGKILL, f"the writer stopped on its own ({child.returncode}): {problem}"
    *complete, _partial = rest.split(b"\n")  # a line cut short by the kill is not an acknowledgement
    return [Ack(**json.loads(line)) for line in complete]


def _check_acks(stores: Stores, acks: list[Ack]) -> None:
    """Every acknowledged write reads back, decrypted and verified, and its document row points at it."""
    for ack in acks:
        stored = stores.objects.get(ack.key, ack.version)
        assert stored.version.sha256 == ack.sha256, f"{ack} came back with other bytes"
        document = stores.documents.get(ack.document_id)
        assert (document.current.object_key, document.current.object_version) == (ack.key, ack.version)
        assert document.current.sha256 == ack.sha256


def _document_rows(stores: Stores, *, after_rowid: int = 0) -> dict[int, Document]:
    """Document rows by rowid (documents are only added here, so rowids grow)."""
    rows = stores.database.connection().execute(
        "SELECT rowid, body FROM documents WHERE rowid > ? ORDER BY rowid", (after_rowid,)
    )
    return {row["rowid"]: Document.model_validate_json(row["body"]) for row in rows}


def _check_document_rows(stores: Stores, documents: dict[int, Document]) -> None:
    """No document row points at a missing (or different) object version."""
    for document in documents.values():
        for version in document.versions:
            stored = stores.objects.head(version.object_key, version.object_version)
            assert not stored.delete_marker
            assert (stored.sha256, stored.size) == (version.sha256, version.size), f"{document.id} points at {stored}"


def _check_after_kill(stores: Stores, new_acks: list[Ack], progress: Progress) -> None:
    """The cheap check after every kill: this run's acks, the new document rows (by head), integrity_check."""
    try:
        assert stores.database.integrity_check() == "ok"
        _check_acks(stores, new_acks)
        fresh = _document_rows(stores, after_rowid=progress.checked_rowid)
        _check_document_rows(stores, fresh)
        progress.checked_rowid = max(fresh, default=progress.checked_rowid)
    finally:
        stores.database.close()  # the next writer opens the database alone, as after a restart


@pytest.mark.slow
def test_acknowledged_writes_survive_sigkill_at_random_moments(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    data_dir = tmp_path / "var"
    settings = crash_settings(data_dir)
    progress = Progress()
    stores: Stores | None = None

    for restart in range(RESTARTS):
        new_acks = _run_child(data_dir, rng.randrange(2**32), rng.uniform(*KILL_DELAY_S), tmp_path / "stderr.log")
        progress.acks += new_acks
        if stores is None and settings.database_path.exists():
            stores = open_stores(settings)
        if stores is not None:
            _check_after_kill(stores, new_acks, progress)
        else:
            assert not new_acks, f"restart {restart}: acknowledged writes but no database"

    assert len(progress.acks) >= RESTARTS, "too few acknowledged writes for the test to mean much"
    _full_check_after_restart(settings, progress)
    _tamper_and_expect_integrity_error(settings, progress, rng)


def _full_check_after_restart(settings: Settings, progress: Progress) -> None:
    """Through the real composition root: every ack, every document row, every visible version."""
    container = build_container(settings)  # it opens (and migrates) the stores as the service would
    database = open_stores(settings).database  # the SQLite file itself, for its integrity check and raw rows
    try:
        stores = Stores(database=database, objects=container.objects, documents=container.documents)
        assert database.integrity_check() == "ok"
        whole = _read_every_visible_version(stores)
        for ack in progress.acks:
            assert whole.get((ack.key, ack.version)) == ack.sha256, f"{ack} is lost or changed"
        documents = {doc.id: doc for doc in _document_rows(stores).values()}
        for ack in progress.acks:
            current = documents[ack.document_id].current
            assert (current.object_key, current.object_version) == (ack.key, ack.version)
        for document in documents.values():
            for version in document.versions:
                assert whole.get((version.object_key, version.object_version)) == version.sha256, (
                    f"{document.id} points at a missing or different object version"
                )
    finally:
        database.close()
        container.close()


def _read_every_visible_version(stores: Stores) -> dict[tuple[str, str], str]:
    """Decrypt and verify every version the store lists, acknowledged or not: a visible version is whole."""
    whole: dict[tuple[str, str], str] = {}
    for latest in stores.objects.list_objects():
        for version in stores.objects.versions(latest.key):
            stored = stores.objects.get(version.key, version.version_id)
            assert stored.version == version
            whole[(version.key, version.version_id)] = hashlib.sha256(stored.data).hexdigest()
    return whole


def _tamper_and_expect_integrity_error(settings: Settings, progress: Progress, rng: random.Random) -> None:
    """Flip one byte inside the ciphertext of one stored blob: reading it must fail, and say which object."""
    target = rng.choice([ack for ack in progress.acks if ack.key.startswith("documents/")])
    blob_path = settings.objects_dir.joinpath(*target.key.split("/"), VERSIONS_DIR, f"{target.version}.blob")
    blob = bytearray(blob_path.read_bytes())
    body_start = 4 + 2 + int.from_bytes(blob[4:6], "big") + 12  # magic, length, wrapped key, nonce
    blob[rng.randrange(body_start, len(blob))] ^= 0x01
    blob_path.write_bytes(bytes(blob))

    container = build_container(settings)
    try:
        expected = rf"{re.escape(repr(target.key))} version {target.version}: .*authentication check"
        with pytest.raises(IntegrityError, match=expected):
            container.objects.get(target.key, target.version)
    finally:
        container.close()

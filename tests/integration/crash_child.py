"""Child process of ``test_crash``: stores objects and document rows until it is killed.

Run as ``python -m tests.integration.crash_child DATA_DIR SEED`` from the repository root. It opens the
embedded stores on ``DATA_DIR`` the way :func:`investai.bootstrap.build_container` does (same adapters,
paths and master secret) but imports only those adapters, so that a restart takes a fraction of a second.
It prints ``{"ready": true}`` once the stores are open, then loops: put an object of random bytes, add a
Document row pointing at that object version, and only then acknowledge the write with one JSON line
``{"key", "version", "sha256", "document_id"}`` on stdout, written with a single ``write`` call.
"""

from __future__ import annotations

import json
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from investai.adapters.local.clock import SystemClock
from investai.adapters.local.keyring import LocalKeyring
from investai.adapters.local.migrations import MIGRATIONS
from investai.adapters.local.object_store import LocalObjectStore
from investai.adapters.local.sqlite import SqliteDatabase
from investai.adapters.local.sqlite_records import SqliteDocumentRepository
from investai.config import Settings
from investai.domain.common import new_id
from investai.domain.documents import DocumentVersion
from investai.ports.object_store import ObjectStore
from investai.ports.repositories import DocumentRepository
from investai.security.envelope import EnvelopeCipher
from tests.factories import make_document

MAX_WRITES = 100_000  # a child the parent failed to kill still stops
MAX_OBJECT_BYTES = 48 * 1024
SHARED_KEYS = tuple(f"crash/shared/{n}" for n in range(8))  # some keys get many versions
SHARED_KEY_SHARE = 0.05


@dataclass
class Stores:
    database: SqliteDatabase
    objects: ObjectStore
    documents: DocumentRepository


def crash_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, _env_file=None)


def open_stores(settings: Settings) -> Stores:
    """The object store and document repository exactly as the composition root wires them."""
    clock = SystemClock()
    keys = LocalKeyring(path=settings.keyring_path, master_secret=settings.secret_value("master_secret"), clock=clock)
    database = SqliteDatabase(path=settings.database_path, migrations=MIGRATIONS)
    objects = LocalObjectStore(root=settings.objects_dir, cipher=EnvelopeCipher(key_manager=keys), clock=clock)
    return Stores(database=database, objects=objects, documents=SqliteDocumentRepository(db=database))


def write_one(stores: Stores, rng: random.Random) -> dict[str, Any]:
    """One object and the document row that points at it; returns the acknowledgement."""
    document_id = new_id("doc_")
    key = rng.choice(SHARED_KEYS) if rng.random() < SHARED_KEY_SHARE else f"documents/org_1/{document_id}"
    size = rng.choice([0, rng.randrange(1, 64), rng.randrange(64, MAX_OBJECT_BYTES)])
    stored = stores.objects.put(key, rng.randbytes(size), metadata={"document_id": document_id})
    template = make_document(id=document_id)
    version = DocumentVersion.model_validate(
        {
            **template.versions[0].model_dump(),
            "object_key": key,
            "object_version": stored.version_id,
            "sha256": stored.sha256,
            "size": stored.size,
        }
    )
    stores.documents.add(make_document(id=document_id, versions=[version]))
    return {"key": key, "version": stored.version_id, "sha256": stored.sha256, "document_id": document_id}


def emit(message: dict[str, Any]) -> None:
    """One line, one ``write`` (atomic on a pipe below PIPE_BUF bytes), no buffering."""
    line = (json.dumps(message) + "\n").encode()
    written = os.write(sys.stdout.fileno(), line)
    if written != len(line):
        raise OSError(f"short write to stdout ({written} of {len(line)} bytes)")


def main(argv: list[str]) -> int:
    data_dir, seed = Path(argv[1]), int(argv[2])
    rng = random.Random(seed)
    stores = open_stores(crash_settings(data_dir))
    stores.database.migrate()
    emit({"ready": True})
    for _ in range(MAX_WRITES):
        emit(write_one(stores, rng))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

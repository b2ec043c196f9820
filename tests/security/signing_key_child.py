"""A process sharing a data directory, for ``test_signing_keys.py``; run as
``python signing_key_child.py DATA_DIR LOCK_FILE ACTION COUNT GO_FILE``.

It opens the signing keys stored in DATA_DIR the way the container does (keyring, encrypted object store,
token issuer guarded by a file lock at LOCK_FILE) without the rest of the container, so that several of
these start quickly; waits until GO_FILE exists, so that they all start together; then either makes sure a
signing key exists (ACTION ``start``, what the app does when it starts) or rotates the keys COUNT times
(ACTION ``rotate``, what ``investai tokens rotate-keys`` does), printing each key id.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from filelock import FileLock

from investai.adapters.local.clock import SystemClock
from investai.adapters.local.keyring import LocalKeyring
from investai.adapters.local.object_store import LocalObjectStore
from investai.adapters.local.token_issuer import LocalTokenIssuer
from investai.config import Settings
from investai.security.envelope import EnvelopeCipher

WAIT_S = 60.0


def main(argv: list[str]) -> None:
    data_dir, lock_file, action, count, go = Path(argv[1]), Path(argv[2]), argv[3], int(argv[4]), Path(argv[5])
    settings = Settings(data_dir=data_dir, _env_file=None)
    clock = SystemClock()
    keys = LocalKeyring(path=settings.keyring_path, master_secret=settings.secret_value("master_secret"), clock=clock)
    objects = LocalObjectStore(root=settings.objects_dir, cipher=EnvelopeCipher(key_manager=keys), clock=clock)
    issuer = LocalTokenIssuer(
        objects=objects, clock=clock, issuer=settings.issuer, max_token_ttl_s=3600, lock=FileLock(lock_file)
    )
    deadline = time.monotonic() + WAIT_S
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("never told to start")
        time.sleep(0.002)
    for _ in range(count):
        print(issuer.ensure_signing_key() if action == "start" else issuer.rotate(), flush=True)


if __name__ == "__main__":
    main(sys.argv)

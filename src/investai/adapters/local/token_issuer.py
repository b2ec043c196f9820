"""The local token issuer: RS256 signing keys kept envelope-encrypted in the object store, rotated on
demand, published as a JWKS. Retired keys stay published until every token they signed has expired.

The first key is made when the app starts (:meth:`LocalTokenIssuer.ensure_signing_key`), so the JWKS is never
empty once the service answers. Several processes may share the data directory (the server, ``investai
worker``, ``investai tokens rotate-keys``): every change to the stored key list — the first key, a rotation —
happens under ``lock``, a lock those processes share (a file lock in the data directory), and re-reads the
stored list inside it, so no process can overwrite a key another one just added.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from investai.domain.errors import NotFound
from investai.ports.clock import Clock
from investai.ports.object_store import ObjectStore
from investai.security.jwt import SigningKey, sign

KEYS_OBJECT = "system/identity/signing-keys"
RELOAD_EVERY = timedelta(seconds=30)


class LocalTokenIssuer:
    def __init__(
        self,
        *,
        objects: ObjectStore,
        clock: Clock,
        issuer: str,
        max_token_ttl_s: int,
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        """``lock`` guards changes to the stored keys across processes (reentrant, reusable; e.g. a
        ``filelock.FileLock``); without one only this process's threads are coordinated."""
        self._objects = objects
        self._clock = clock
        self._issuer = issuer
        self._max_ttl = timedelta(seconds=max_token_ttl_s + 60)
        self._lock = threading.Lock()
        self._shared: AbstractContextManager[object] = lock if lock is not None else nullcontext()
        self._entries: list[dict[str, Any]] = []
        self._keys: dict[str, SigningKey] = {}
        self._loaded_at: datetime | None = None
        self._published: tuple[frozenset[str], dict[str, object]] | None = None

    def issue(self, claims: Mapping[str, object], *, token_use: str, ttl_s: int) -> str:
        now = self._clock.now()
        body = {
            **claims,
            "iss": self._issuer,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + ttl_s,
            "jti": secrets.token_hex(16),
            "token_use": token_use,
        }
        return sign(body, self._active())

    def jwks(self) -> dict[str, object]:
        """The key set; the same object is returned while the live keys are unchanged (cheap to verify with)."""
        self._ensure_loaded()
        now = self._clock.now()
        with self._lock:
            live = [entry["kid"] for entry in self._entries if not _expired(entry, now, self._max_ttl)]
            if self._published is None or self._published[0] != frozenset(live):
                document: dict[str, object] = {"keys": [self._keys[kid].public_jwk() for kid in live]}
                self._published = (frozenset(live), document)
            return self._published[1]

    def ensure_signing_key(self) -> str:
        """The active key's ``kid``, making the first key if there is none yet (at start-up)."""
        with self._lock, self._shared:
            self._load()  # under the shared lock: another process may have made the key meanwhile
            kid = self._active_kid()
            if kid is None:
                kid = self._add_key(self._clock.now())
                self._save()
            return kid

    def rotate(self) -> str:
        with self._lock, self._shared:
            self._load()  # under the shared lock: keys another process added are kept
            now = self._clock.now()
            for entry in self._entries:
                entry.setdefault("retired_at", now.isoformat())
            kid = self._add_key(now)
            self._save()
            return kid

    # -- internals ----------------------------------------------------------------------------------
    def _active(self) -> SigningKey:
        self._ensure_loaded()
        with self._lock:
            kid = self._active_kid()
            if kid is not None:
                return self._keys[kid]
        kid = self.ensure_signing_key()
        with self._lock:
            return self._keys[kid]

    def _active_kid(self) -> str | None:
        active = [entry for entry in self._entries if "retired_at" not in entry]
        return str(active[-1]["kid"]) if active else None

    def _ensure_loaded(self) -> None:
        with self._lock:
            now = self._clock.now()
            if self._loaded_at is None or now - self._loaded_at >= RELOAD_EVERY or now < self._loaded_at:
                self._load()

    def _load(self) -> None:
        try:
            stored = json.loads(self._objects.get(KEYS_OBJECT).data)
        except NotFound:
            stored = {"keys": []}
        self._entries = list(stored["keys"])
        self._keys = {entry["kid"]: _signing_key(entry) for entry in self._entries}
        self._loaded_at = self._clock.now()

    def _add_key(self, now: datetime) -> str:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        kid = f"k{int(now.timestamp())}{secrets.token_hex(4)}"
        entry = {"kid": kid, "pem": pem, "created_at": now.isoformat()}
        self._entries.append(entry)
        self._keys[kid] = _signing_key(entry)
        return kid

    def _save(self) -> None:
        body = json.dumps({"keys": self._entries}).encode()
        self._objects.put(KEYS_OBJECT, body, content_type="application/json")


def _signing_key(entry: dict[str, Any]) -> SigningKey:
    private = serialization.load_pem_private_key(entry["pem"].encode(), password=None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise TypeError("signing keys must be RSA")
    return SigningKey(kid=entry["kid"], private_key=private, created_at=datetime.fromisoformat(entry["created_at"]))


def _expired(entry: dict[str, Any], now: datetime, max_ttl: timedelta) -> bool:
    retired = entry.get("retired_at")
    return retired is not None and now - datetime.fromisoformat(retired) > max_ttl

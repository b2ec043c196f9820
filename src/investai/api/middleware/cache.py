"""A per-principal response cache for safe reads, modelled on API Gateway stage caching with the caller's
identity in the cache key (docs/ARCHITECTURE.md: TTL 300 s, keyed by principal).

* Only ``GET``/``HEAD`` under ``/api/`` from an authenticated principal (``scope["state"]["principal"]``, set
  by the authentication middleware outside this one) are looked up or stored; anonymous requests never are.
* The key is (method, principal — user, organisation and role —, path, query string sorted by parameter
  name with the order of repeated parameters kept), so two principals never share an entry.
* A response marked ``Cache-Control: public`` (the same for every reader of the organisation and role, such as
  market bars) is stored under a key with no user in it, so colleagues of one role share it; the route's
  permission depends on the role alone, so a hit skips no check a miss would make. Every other response is
  stored for its principal alone.
* Only complete ``200`` responses are stored, and never one that says ``Cache-Control: no-store`` or
  ``private``, sets a cookie or carries ``Vary`` (the key does not vary by request headers).
* A successful (status < 400) write — any other method — drops every entry of every principal under the
  write's resource collection (``/api/v1/<resource>``, the first three path segments), and under the
  collections ``related`` names for the write's path: the web UI's forms change the same resources as the
  API (``POST /profile`` what ``PUT /api/v1/profile`` changes), so their writes drop those collections too.
* A client can skip the lookup (not the store) with ``Cache-Control: no-cache`` or ``max-age=0``.
* Responses carry ``X-Cache: HIT`` when served from the cache and ``X-Cache: MISS`` when looked up but
  produced by the application; a hit is the stored response byte for byte otherwise.

Memory is bounded by ``max_entries`` (least recently used evicted), ``max_entry_bytes`` and
``max_total_bytes``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD"})
NON_WRITE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CACHED_PREFIX = "/api/"
X_CACHE = b"x-cache"
UNCACHEABLE_DIRECTIVES = frozenset({"no-store", "private"})
SHARED_DIRECTIVE = "public"
ANY_USER = "*"  # the user part of a shared entry's key (no user id is "*")
STRIPPED_HEADERS = frozenset({X_CACHE, b"x-request-id"})
DEFAULT_MAX_ENTRY_BYTES = 1_048_576
DEFAULT_MAX_TOTAL_BYTES = 64 * 1_048_576

CacheKey = tuple[str, str, str, str, str, tuple[tuple[str, str], ...]]
Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class CachedResponse:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    path: str
    expires_at: float

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(name) + len(value) for name, value in self.headers)


def collection_of(path: str) -> str:
    """The resource collection a path belongs to: its first three segments (``/api/v1/ideas``)."""
    segments = path.split("/")
    return "/".join(segments[:4]) if len(segments) > 4 else path.rstrip("/") or "/"


def in_collection(path: str, collection: str) -> bool:
    return path == collection or path.startswith(collection.rstrip("/") + "/")


def collections_changed_by(path: str, related: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The collections a successful write to ``path`` may have changed: its own under ``/api/``, and those
    ``related`` maps the path's prefix to (a web form's path to the API collections it writes)."""
    own = (collection_of(path),) if path.startswith(CACHED_PREFIX) else ()
    others = (
        collection
        for prefix, collections in related.items()
        if in_collection(path, prefix)
        for collection in collections
    )
    return tuple(dict.fromkeys((*own, *others)))


def directives(headers: Headers, name: bytes) -> set[str]:
    """The comma-separated directives of every ``name`` header, lower case, without arguments."""
    found: set[str] = set()
    for key, value in headers:
        if key.lower() == name:
            found.update(part.strip().partition("=")[0].lower() for part in value.decode("latin-1").split(","))
    return found


def is_storable(status: int, headers: Headers) -> bool:
    if status != 200:
        return False
    names = {key.lower() for key, _ in headers}
    if b"set-cookie" in names or b"vary" in names:
        return False
    return not directives(headers, b"cache-control") & UNCACHEABLE_DIRECTIVES


def wants_fresh(headers: Headers) -> bool:
    """The client asked to skip cached copies (``Cache-Control: no-cache`` or ``max-age=0``)."""
    for key, value in headers:
        if key.lower() == b"cache-control":
            parts = {part.strip().lower().replace(" ", "") for part in value.decode("latin-1").split(",")}
            if parts & {"no-cache", "max-age=0", "no-store"}:
                return True
    return False


class ResponseCache:
    """The store: an LRU of :class:`CachedResponse` by key, with TTL and size bounds."""

    def __init__(
        self,
        *,
        ttl_s: float,
        max_entries: int,
        now: Callable[[], float],
        max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.max_entry_bytes = max_entry_bytes
        self.max_total_bytes = max_total_bytes
        self.now = now
        self._entries: OrderedDict[CacheKey, CachedResponse] = OrderedDict()
        self._bytes = 0
        self._generation = 0  # bumped by every invalidation
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, key: CacheKey) -> CachedResponse | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            now = self.now()
            if not entry.expires_at - self.ttl_s <= now < entry.expires_at:  # expired, or stored "later" than now:
                self._remove(key)  # the clock stepped back, so the entry's age is unknown
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: CacheKey, status: int, headers: Headers, body: bytes, path: str, generation: int) -> bool:
        """Store a response unless a write invalidated entries since ``generation`` (the response may
        predate it) or it is too large."""
        entry = CachedResponse(status, tuple(headers), body, path, self.now() + self.ttl_s)
        with self._lock:
            if generation != self._generation or entry.size > self.max_entry_bytes:
                return False
            self._remove(key)
            self._entries[key] = entry
            self._bytes += entry.size
            while self._entries and (len(self._entries) > self.max_entries or self._bytes > self.max_total_bytes):
                self._remove(next(iter(self._entries)))
            return True

    def invalidate(self, collection: str) -> int:
        """Drop every entry, of every principal, under ``collection``; the number dropped."""
        with self._lock:
            self._generation += 1
            doomed = [key for key, entry in self._entries.items() if in_collection(entry.path, collection)]
            for key in doomed:
                self._remove(key)
            return len(doomed)

    def _remove(self, key: CacheKey) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size


def cache_key(scope: Scope, principal: object, *, shared: bool = False) -> CacheKey:
    """The key of ``principal``'s own entry for this request, or with ``shared`` of the entry every reader of
    the principal's organisation and role shares."""
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    pairs = parse_qsl(query, keep_blank_values=True, errors="replace")
    return (
        str(scope["method"]),
        ANY_USER if shared else str(getattr(principal, "user_id", "")),
        str(getattr(principal, "organisation_id", "")),
        str(getattr(principal, "role", "")),
        str(scope["path"]),
        tuple(sorted(pairs, key=lambda pair: pair[0])),  # stable: repeated parameters keep their order
    )


class ResponseCacheMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        ttl_s: float,
        max_entries: int,
        now: Callable[[], float],
        max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
        related: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.app = app
        self.related = dict(related or {})
        self.cache = ResponseCache(
            ttl_s=ttl_s,
            max_entries=max_entries,
            now=now,
            max_entry_bytes=max_entry_bytes,
            max_total_bytes=max_total_bytes,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = str(scope["method"]).upper()
        if method not in NON_WRITE_METHODS:
            await self._write(scope, receive, send)
            return
        principal = scope.get("state", {}).get("principal")
        if method in SAFE_METHODS and principal is not None and str(scope["path"]).startswith(CACHED_PREFIX):
            await self._read(
                scope, receive, send, cache_key(scope, principal), cache_key(scope, principal, shared=True)
            )
            return
        await self.app(scope, receive, send)

    async def _read(self, scope: Scope, receive: Receive, send: Send, own: CacheKey, shared: CacheKey) -> None:
        entry = None if wants_fresh(scope["headers"]) else self.cache.get(shared) or self.cache.get(own)
        if entry is not None:
            headers = [*entry.headers, (X_CACHE, b"HIT")]
            await send({"type": "http.response.start", "status": entry.status, "headers": headers})
            await send({"type": "http.response.body", "body": entry.body})
            return
        generation = self.cache.generation
        status = 0
        stored_headers: Headers = []
        chunks: list[bytes] = []
        size = 0
        storable = False

        async def capture(message: Message) -> None:
            nonlocal status, stored_headers, size, storable
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                stored_headers = [(name, value) for name, value in headers if name.lower() not in STRIPPED_HEADERS]
                storable = is_storable(status, stored_headers)
                message["headers"] = [*((n, v) for n, v in headers if n.lower() != X_CACHE), (X_CACHE, b"MISS")]
            elif message["type"] == "http.response.body" and storable:
                chunk = message.get("body", b"")
                size += len(chunk)
                storable = size <= self.cache.max_entry_bytes
                chunks.append(chunk)
                if storable and not message.get("more_body", False):
                    public = SHARED_DIRECTIVE in directives(stored_headers, b"cache-control")
                    key = shared if public else own
                    self.cache.put(key, status, stored_headers, b"".join(chunks), str(scope["path"]), generation)
            await send(message)

        await self.app(scope, receive, capture)

    async def _write(self, scope: Scope, receive: Receive, send: Send) -> None:
        collections = collections_changed_by(str(scope["path"]), self.related)
        if not collections:
            await self.app(scope, receive, send)
            return

        async def invalidate_on_success(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                for collection in collections:
                    self.cache.invalidate(collection)
            await send(message)

        await self.app(scope, receive, invalidate_on_success)

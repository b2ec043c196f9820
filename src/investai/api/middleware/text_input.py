"""Every text a request carries must be valid Unicode; anything else is refused with 422 before a handler
sees it, on every route of the API and the web UI, before and after sign-in.

JSON lets a client escape a lone UTF-16 surrogate (``"\\ud800"``), which Python decodes into a ``str`` that
no encoder accepts, so it would fail deep inside a handler (a 500) or a store; bytes that are not UTF-8 at
all would be silently replaced or read as latin-1. The rules, one per place text arrives:

* the path and the query string, percent-decoded, are UTF-8;
* a JSON body (``application/json``, ``*/*+json``) is UTF-8 (RFC 8259 section 8.1), and no string in it,
  key or value, holds a surrogate (a ``\\uD800``-``\\uDFFF`` escape that is not half of a pair);
* a form body (``application/x-www-form-urlencoded``): every name and value, percent-decoded, is UTF-8;
* a multipart body: every part's field name and file name, and every text field, is valid in the body's
  charset (UTF-8 unless the request says otherwise). File contents belong to the upload pipeline. The parts
  are checked as the body streams to the application, which reads it anyway, so an upload is never held in
  memory here; the refusal is then raised from the read as :class:`InvalidText`, an ``HTTPException`` that
  the application's error handlers render (a page on web paths).

The answer is 422 ``validation_error`` in the service's error shape, with ``details`` naming the field as
FastAPI's validation errors do (``["body", "email"]``, ``["query", "q"]``, ``["path"]``).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from investai.api.middleware.body_watch import call_watching_body
from investai.api.middleware.rate_limit import send_json_error

Location = tuple[str | int, ...]

ERROR_TYPE = "string_unicode"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_JSON_ENCODINGS = frozenset({"utf-8", "utf-8-sig"})
_MAX_FIELD_BYTES = 1024 * 1024
"""Text fields larger than this are refused by the form parser itself (Starlette's part limit)."""


class InvalidText(HTTPException):
    """Text that is not valid Unicode, found while the application was reading the body."""

    def __init__(self, location: Location) -> None:
        super().__init__(422, detail=message_for(location))
        self.details = details_for(location)


def message_for(location: Location) -> str:
    return f"{'.'.join(str(part) for part in location)}: text must be valid Unicode (UTF-8, no lone surrogates)"


def details_for(location: Location) -> list[dict[str, Any]]:
    return [{"loc": list(location), "msg": "text must be valid Unicode", "type": ERROR_TYPE}]


def printable(text: str) -> str:
    """``text`` with anything unencodable escaped, fit to quote in an error message."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- path, query string, form --------------------------------------------------------------------------------


def _percent_decoded(data: bytes, *, plus: bool) -> bytes:
    return unquote_to_bytes(data.replace(b"+", b" ") if plus else data)


def encoded_pairs_problem(data: bytes, where: str) -> Location | None:
    """The first name or value of a ``name=value&...`` string (query or form body) that is not UTF-8 once
    percent-decoded."""
    if data.isascii() and b"%" not in data:
        return None
    if is_utf8(_percent_decoded(data, plus=True)):  # UTF-8 as a whole is UTF-8 in every part
        return None
    for pair in data.split(b"&"):
        name, _, value = pair.partition(b"=")
        decoded_name = _percent_decoded(name, plus=True)
        if not is_utf8(decoded_name) or not is_utf8(_percent_decoded(value, plus=True)):
            return (where, decoded_name.decode("utf-8", "replace"))
    return (where,)


def path_problem(scope: Scope) -> Location | None:
    raw_path = scope.get("raw_path")
    if isinstance(raw_path, bytes):
        path = raw_path.split(b"?", 1)[0]
        if path.isascii() and b"%" not in path:
            return None
        return None if is_utf8(_percent_decoded(path, plus=False)) else ("path",)
    return None if is_encodable(str(scope.get("path", ""))) else ("path",)


# --- JSON ----------------------------------------------------------------------------------------------------


def json_problem(body: bytes) -> Location | None:
    """Where a JSON body holds text that is not valid Unicode, or ``None``. A body that is not JSON at all is
    left to the application's parser, which answers it."""
    if not body:
        return None
    encoding = json.detect_encoding(body)
    if encoding not in _JSON_ENCODINGS:
        return ("body",)
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        text = body.decode(encoding, "surrogateescape")  # each bad byte becomes a lone surrogate, found below
        return _first_surrogate(text) or ("body",)
    return _first_surrogate(text) if _SURROGATE_ESCAPE.search(text) else None


def _first_surrogate(text: str) -> Location | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    stack: list[tuple[Location, Any]] = [(("body",), value)]
    while stack:
        location, item = stack.pop()
        if isinstance(item, str):
            if not is_encodable(item):
                return location
        elif isinstance(item, dict):
            for key in item:
                if not is_encodable(key):
                    return (*location, printable(key))
            stack.extend(((*location, key), child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend(((*location, index), child) for index, child in reversed(list(enumerate(item))))
    return None


# --- multipart -----------------------------------------------------------------------------------------------


class MultipartTextCheck:
    """Follows a multipart body chunk by chunk and notes the first field name, file name or text field that
    is not valid in the body's charset. A body the parser cannot follow is left to the application's parser."""

    def __init__(self, boundary: bytes, charset: str) -> None:
        self.problem: Location | None = None
        self._charset = charset
        self._broken = False
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._field = ""
        self._is_file = False
        self._data = bytearray()
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value_part,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
            },
        )

    def feed(self, chunk: bytes) -> None:
        if self.problem is not None or self._broken or not chunk:
            return
        try:
            self._parser.write(chunk)
        except Exception:  # a malformed body is the application's parser's to refuse
            self._broken = True

    def _valid(self, data: bytes) -> bool:
        try:
            data.decode(self._charset)
        except UnicodeDecodeError:
            return False
        return True

    def _part_begin(self) -> None:
        self._disposition, self._field, self._is_file = b"", "", False
        self._data = bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_part(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"")
        self._field = name.decode(self._charset, "replace")
        self._is_file = b"filename" in options
        if not self._valid(name):
            self.problem = ("body", self._field)
        elif self._is_file and not self._valid(options[b"filename"]):
            self.problem = ("body", self._field, "filename")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._is_file and len(self._data) <= _MAX_FIELD_BYTES:
            self._data += data[start:end]

    def _part_end(self) -> None:
        if self.problem is None and not self._is_file and not self._valid(bytes(self._data)):
            self.problem = ("body", self._field)
        self._data = bytearray()


def multipart_check(content_type: str) -> MultipartTextCheck | None:
    """A checker for a multipart body with this Content-Type, or ``None`` when it names no boundary."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        return None
    try:
        charset = codecs.lookup(params.get(b"charset", b"utf-8").decode("latin-1")).name
    except LookupError:
        charset = "latin-1"  # what the form parser falls back to
    return MultipartTextCheck(boundary, charset)


# --- the middleware ------------------------------------------------------------------------------------------


def media_type(scope: Scope) -> tuple[str, str]:
    """The request's Content-Type header, and its media type in lower case."""
    for key, value in scope["headers"]:
        if key.lower() == b"content-type":
            header = value.decode("latin-1")
            return header, header.partition(";")[0].strip().lower()
    return "", ""


def is_json(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_all(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body (its size is capped outside), and the messages to hand on after it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), [message]
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), []


def replay(body: bytes, pending: Sequence[Message], receive: Receive) -> Receive:
    queue: list[Message] = [*reversed(pending), {"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        if queue:
            return queue.pop()
        return await receive()

    return replayed


class TextInputMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = path_problem(scope) or encoded_pairs_problem(bytes(scope.get("query_string", b"")), "query")
        if problem is not None:
            await self._refuse(scope, send, problem)
            return
        header, media = media_type(scope)
        if is_json(media) or media == "application/x-www-form-urlencoded":
            body, pending = await read_all(receive)
            problem = json_problem(body) if is_json(media) else encoded_pairs_problem(body, "body")
            if problem is not None:
                await self._refuse(scope, send, problem)
                return
            receive = replay(body, pending, receive)
        elif media == "multipart/form-data":
            check = multipart_check(header)
            if check is not None:
                await self._multipart(scope, receive, send, check)
                return
        await self.app(scope, receive, send)

    async def _multipart(self, scope: Scope, receive: Receive, send: Send, check: MultipartTextCheck) -> None:
        def look(chunk: bytes) -> None:
            check.feed(chunk)
            if check.problem is not None:
                raise InvalidText(check.problem)

        refused = await call_watching_body(self.app, scope, receive, send, look=look, refusal=InvalidText)
        if isinstance(refused, InvalidText):
            await self._refuse(scope, send, tuple(refused.details[0]["loc"]))

    @staticmethod
    async def _refuse(scope: Scope, send: Send, location: Location) -> None:
        await send_json_error(
            scope, send, 422, message_for(location), code="validation_error", extra={"details": details_for(location)}
        )

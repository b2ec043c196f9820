"""One JSON error shape for every 4xx and 5xx: ``{"error": {"code", "message", "request_id"}}``.

Domain errors are mapped to HTTP at the edge only, by :mod:`investai.http.errors` (shared with the web UI's
pages); this module answers with the JSON body. No response carries a stack trace.
"""

from __future__ import annotations

import errno
import math
import sqlite3
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from investai.domain.errors import BudgetExceeded, DomainError, IntegrityError
from investai.http.errors import error_body, headers_of, status_of
from investai.http.headers import request_id_of
from investai.observability.logging import get_logger

log = get_logger(__name__)


def error_response(
    request: Request,
    status: int,
    message: str,
    *,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body = error_body(status, message, request_id_of(request), code=code)
    if extra:
        body["error"].update(extra)
    request.state.error_code = body["error"]["code"]
    return JSONResponse(body, status_code=status, headers=headers)


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    details = getattr(exc, "details", None)  # e.g. which field held text that is not valid Unicode
    extra = {"details": details} if details else None
    return error_response(request, exc.status_code, message, headers=exc.headers, extra=extra)


async def _validation_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": str(error.get("type", ""))}
        for error in exc.errors()[:50]
    ]
    return error_response(request, 422, "request validation failed", extra={"details": details})


async def _domain_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = status_of(exc)
    if isinstance(exc, IntegrityError):
        log.error("domain.server_error", error_code=exc.code, error=str(exc))
        return error_response(request, status, "stored data failed an integrity check", code=exc.code)
    if isinstance(exc, BudgetExceeded):  # which budget, its limit, the spend and when it resets
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
        return error_response(request, 429, str(exc), code=exc.code, headers=headers, extra=exc.body_fields())
    details = getattr(exc, "details", None)  # e.g. the reason each rejected row was refused
    extra = {"details": details} if details else None
    return error_response(request, status, str(exc), code=exc.code, headers=headers_of(exc), extra=extra)


STORAGE_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
STORAGE_FULL_RETRY_AFTER_S = 60


def is_storage_full(exc: BaseException) -> bool:
    """Whether ``exc`` says a disk (or quota) is full: ``ENOSPC``/``EDQUOT`` from a file write, SQLITE_FULL."""
    if isinstance(exc, OSError):
        return exc.errno in STORAGE_FULL_ERRNOS
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorcode", None)
        return code == sqlite3.SQLITE_FULL or "database or disk is full" in str(exc)
    return False


async def _storage_exception(request: Request, exc: Exception) -> JSONResponse:
    """A full disk answers 507 ``storage_full`` (the write was refused, nothing half-made is visible); any other
    OS or SQLite error goes on to the last-resort 500."""
    if not is_storage_full(exc):
        raise exc
    log.error("storage.full", error=str(exc), error_type=type(exc).__name__)
    message = "the server's storage is full: nothing was stored; try again once space is freed"
    headers = {"Retry-After": str(STORAGE_FULL_RETRY_AFTER_S)}
    return error_response(request, 507, message, code="storage_full", headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(OSError, _storage_exception)
    app.add_exception_handler(sqlite3.OperationalError, _storage_exception)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_exception)
    app.add_exception_handler(DomainError, _domain_exception)

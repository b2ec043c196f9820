"""One JSON error shape for every 4xx and 5xx: ``{"error": {"code", "message", "request_id"}}``.

Domain errors are mapped to HTTP here, at the edge, and nowhere else. No response carries a stack trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from investai.domain.errors import (
    AuthenticationFailed,
    Conflict,
    DocumentTooLarge,
    DomainError,
    IntegrityError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    UnsupportedDocumentType,
    ValidationFailed,
)
from investai.domain.market import MarketStoreBusy
from investai.observability.logging import get_logger

log = get_logger(__name__)

STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}

DOMAIN_STATUS: list[tuple[type[DomainError], int]] = [
    (AuthenticationFailed, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (DocumentTooLarge, 413),
    (UnsupportedDocumentType, 415),
    (InvalidTransition, 409),
    (Conflict, 409),
    (ValidationFailed, 422),
    (IntegrityError, 500),
    (MarketStoreBusy, 503),
]


def status_of(exc: DomainError) -> int:
    """The HTTP status of a domain error (400 for one no rule names): the one mapping API and pages share."""
    return next((code for kind, code in DOMAIN_STATUS if isinstance(exc, kind)), 400)


def error_body(status: int, message: str, request_id: str | None, *, code: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code or STATUS_CODES.get(status, f"http_{status}"),
            "message": message,
            "request_id": request_id,
        }
    }


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


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
    headers = {"WWW-Authenticate": 'Bearer realm="investai"'} if status == 401 else None
    details = getattr(exc, "details", None)  # e.g. the reason each rejected row was refused
    extra = {"details": details} if details else None
    return error_response(request, status, str(exc), code=exc.code, headers=headers, extra=extra)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_exception)
    app.add_exception_handler(DomainError, _domain_exception)

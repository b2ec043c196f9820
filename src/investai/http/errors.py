"""Domain errors as HTTP: the status and error code of each, the headers that go with it, and the one JSON
error body ``{"error": {"code", "message", "request_id"}}``. The API answers with that body; web pages render the
same status and count the same code."""

from __future__ import annotations

import math
from typing import Any

from investai.domain.errors import (
    AuthenticationFailed,
    BudgetExceeded,
    Conflict,
    DocumentTooLarge,
    DomainError,
    IntegrityError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    StoreUnavailable,
    UnsupportedDocumentType,
    ValidationFailed,
)

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
    (BudgetExceeded, 429),
    (IntegrityError, 500),
    (StoreUnavailable, 503),
]

BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="investai"'}


def status_of(exc: DomainError) -> int:
    """The HTTP status of a domain error (400 for one no rule names): the one mapping API and pages share."""
    return next((code for kind, code in DOMAIN_STATUS if isinstance(exc, kind)), 400)


def headers_of(exc: DomainError) -> dict[str, str] | None:
    """The headers an answer to ``exc`` carries: the Bearer challenge with a 401, ``Retry-After`` (whole
    seconds, at least 1) when a store is briefly unavailable or a monthly budget is spent (until it resets)."""
    if isinstance(exc, StoreUnavailable | BudgetExceeded):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    if status_of(exc) == 401:
        return dict(BEARER_CHALLENGE)
    return None


def error_body(status: int, message: str, request_id: str | None, *, code: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code or STATUS_CODES.get(status, f"http_{status}"),
            "message": message,
            "request_id": request_id,
        }
    }

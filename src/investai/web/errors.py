"""Errors on web pages answer with a page, not JSON: the API's handlers stay in charge of API paths.

``LoginRequired`` becomes a redirect to the sign-in page, ``PageForbidden`` a 403 page; HTTP, validation and
domain errors raised under a web path render ``error.html`` with the same status the API would use, the headers
that go with it (``Retry-After`` with a 429 or 503) and the message only (never a stack trace)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from investai.domain.errors import DomainError, IntegrityError
from investai.http.errors import STATUS_CODES, headers_of, status_of
from investai.web.deps import LoginRequired, PageForbidden, login_redirect_target
from investai.web.rendering import render
from investai.web.session import is_api_path

Handler = Callable[[Request, Exception], Awaitable[Response]]
AnyHandler = Callable[[Request, Any], Response | Awaitable[Response]]


def _status_and_message(exc: Exception) -> tuple[int, str, str]:
    """The status, the message shown and the error code the metrics count (the API's codes)."""
    if isinstance(exc, StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return exc.status_code, detail, STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
    if isinstance(exc, RequestValidationError):
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}" for e in exc.errors()[:5]]
        return 422, "The request was not valid: " + "; ".join(problems), STATUS_CODES[422]
    if isinstance(exc, IntegrityError):
        return 500, "Stored data failed an integrity check.", exc.code
    if isinstance(exc, DomainError):
        return status_of(exc), str(exc), exc.code
    return 500, "Something went wrong.", STATUS_CODES[500]


def _retry_after(exc: Exception) -> dict[str, str] | None:
    """A domain error's ``Retry-After`` (a spent budget, a store briefly away); a page never sends a Bearer
    challenge, which a browser could not answer."""
    headers = headers_of(exc) if isinstance(exc, DomainError) else None
    return {"Retry-After": headers["Retry-After"]} if headers and "Retry-After" in headers else None


def error_page(
    request: Request,
    status: int,
    message: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    request.state.error_code = code or STATUS_CODES.get(status, f"http_{status}")
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    page = render(request, "error.html", {"status": status, "title": title, "message": message}, status_code=status)
    page.headers.update(headers or {})
    return page


def _dispatch(api_handler: AnyHandler | None) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if is_api_path(request.url.path) and api_handler is not None:
            answer = api_handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        status, message, code = _status_and_message(exc)
        return error_page(request, status, message, code=code, headers=_retry_after(exc))

    return handle


async def _login_required(request: Request, exc: Exception) -> Response:
    return RedirectResponse(login_redirect_target(request), status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageForbidden)
    return error_page(request, 403, "Your role does not allow this page.")


def install_web_error_handlers(app: FastAPI) -> None:
    """Wrap the API's handlers (installed first) so that web paths get pages."""
    for kind in (StarletteHTTPException, RequestValidationError, DomainError):
        app.add_exception_handler(kind, _dispatch(app.exception_handlers.get(kind)))
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(PageForbidden, _forbidden)

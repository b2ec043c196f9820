"""The OpenAPI document: every operation lists the error answers it can give, in the one error shape.

The edge (WAF 403, rate limit and throttle 429) can answer any operation; authenticated operations can
answer 401 and 403; operations with path parameters 404; operations with a body 413, 415 and 422.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA = {
    "title": "ErrorResponse",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "request_id"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "request_id": {"type": ["string", "null"]},
            },
            "additionalProperties": True,
        }
    },
}
DESCRIPTIONS = {
    400: "Malformed request",
    401: "Not authenticated, or the credentials were not accepted",
    403: "Forbidden: missing permission, or blocked by a WAF rule (named in the body)",
    404: "Not found, or not visible to you",
    405: "Method not allowed",
    409: "Conflicts with the current state",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Rate limited or throttled (see Retry-After)",
    500: "Internal error (no details are disclosed)",
}
PUBLIC_OPERATIONS = {"/health", "/ready", "/.well-known/jwks.json"}


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {}).setdefault("schemas", {})["ErrorResponse"] = ERROR_SCHEMA
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                _add_error_responses(path, operation)
        app.openapi_schema = schema
        return schema

    setattr(app, "openapi", build)  # noqa: B010 - FastAPI's documented way to customise the document


def _add_error_responses(path: str, operation: dict[str, Any]) -> None:
    codes = {400, 403, 405, 429, 500}
    if path not in PUBLIC_OPERATIONS:
        codes |= {401}
    if "{" in path:
        codes |= {404}
    if "requestBody" in operation or operation.get("parameters"):
        codes |= {413, 415, 422}
    responses = operation.setdefault("responses", {})
    for code in sorted(codes):
        entry = responses.setdefault(str(code), {"description": DESCRIPTIONS[code]})
        entry["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}

"""The REST API on an app: its JSON error handlers, its OpenAPI document and its routes per resource.

The app itself, with the middleware every request passes and the web UI beside the API, is assembled by
:func:`investai.server.create_app`."""

from __future__ import annotations

from fastapi import FastAPI

from investai.api import idea_json
from investai.api.errors import install_error_handlers
from investai.api.openapi import install_openapi
from investai.api.routes import (
    admin,
    admin_pitr,
    analytics,
    auth,
    documents,
    ideas,
    knowledge,
    market,
    market_review,
    ops,
    profile,
    resources,
    wellknown,
)

ROUTES = (
    ops,
    wellknown,
    auth,
    admin,
    profile,
    ideas,
    resources,
    documents,
    knowledge,
    market,
    analytics,
    market_review,
    admin_pitr,
)


def install_api(app: FastAPI) -> None:
    """The API's error handlers, OpenAPI document and routes; install before the web UI, whose page error
    handlers wrap these."""
    install_error_handlers(app)
    install_openapi(app)
    idea_json.install(app)
    for module in ROUTES:
        app.include_router(module.router)

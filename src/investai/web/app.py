"""Mounting the web UI on the app beside the API (:mod:`investai.server` assembles the two): pages, static
files, plotly.js from the installed ``plotly`` package (nothing is fetched from elsewhere), the cookie session and
the page error handlers."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import FileResponse, Response

from investai.bootstrap import Container
from investai.web.errors import install_web_error_handlers
from investai.web.rendering import build_templates
from investai.web.routes import (
    admin,
    auth,
    compliance,
    dashboard,
    documents,
    idea_detail,
    ideas,
    knowledge,
    market,
    profile,
)
from investai.web.session import CookiePolicy, CsrfTokens, WebSessionMiddleware

STATIC_MAX_AGE_S = 3600
PAGES = (auth, dashboard, documents, knowledge, market, ideas, idea_detail, compliance, admin, profile)
API_COLLECTIONS_CHANGED_BY_FORMS: dict[str, tuple[str, ...]] = {
    "/profile": ("/api/v1/profile", "/api/v1/auth"),  # preferences; password and MFA
    "/documents": ("/api/v1/documents",),  # restore, delete, sharing
    "/ideas": ("/api/v1/ideas",),  # new requests, status changes, feedback
    "/compliance": ("/api/v1/ideas",),  # approve, reject
    "/admin": ("/api/v1/admin",),  # users, roles, audit verification
}
"""The web forms' paths (by prefix) and the API collections a form under each one writes: a successful form
post drops the response cache's entries of those collections, as the API's own write would."""


def plotly_bundle() -> Path:
    """plotly.js as shipped inside the ``plotly`` Python package."""
    return Path(str(files("plotly") / "package_data" / "plotly.min.js"))


def install_web(app: FastAPI, container: Container) -> None:
    """Pages and static files; call after the API's error handlers are installed. Pages reference the static
    files under ``static_url`` when it is set (a CDN serving a copy of ``static/`` and ``vendor/plotly.min.js``);
    this server keeps serving them at ``/static`` either way."""
    settings = container.settings
    app.state.web_templates = build_templates(
        static_url=settings.static_base, progress_transport=settings.progress_transport
    )
    app.state.web_cookies = cookie_policy(container)
    bundle = plotly_bundle()

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        return FileResponse(
            bundle, media_type="text/javascript", headers={"Cache-Control": f"public, max-age={STATIC_MAX_AGE_S}"}
        )

    app.mount("/static", StaticFiles(packages=[("investai.web", "static")]), name="static")
    for module in PAGES:
        app.include_router(module.router, include_in_schema=False)
    install_web_error_handlers(app)


def cookie_policy(container: Container) -> CookiePolicy:
    settings = container.settings
    return CookiePolicy(
        secure=settings.secure_cookies,
        access_ttl_s=settings.access_token_ttl_s,
        refresh_ttl_s=settings.refresh_token_ttl_days * 86400,
    )


def add_web_session(app: FastAPI, container: Container) -> None:
    """The cookie session middleware; add it right after (outside) the bearer authentication middleware."""
    app.add_middleware(
        WebSessionMiddleware,
        verifier=container.identity.verifier,
        refresher=container.identity.auth.refresh,
        csrf=CsrfTokens(container.secret("secret_key")),
        cookies=cookie_policy(container),
    )

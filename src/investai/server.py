"""The ASGI app that serves the product: the REST API (:mod:`investai.api`) and, when enabled, the web UI
(:mod:`investai.web`) side by side on one FastAPI app, behind one middleware stack. Neither entry point imports
the other; this module is the one place that puts them together. ``investai serve`` runs it under uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from investai import __version__
from investai.api.app import install_api
from investai.api.middleware.authentication import AuthenticationMiddleware
from investai.api.middleware.body_limit import BodyLimitMiddleware
from investai.api.middleware.edge import add_edge_protection, add_response_cache
from investai.api.middleware.request_context import RequestContextMiddleware
from investai.api.middleware.text_input import TextInputMiddleware
from investai.bootstrap import Container
from investai.config import TracingExporter
from investai.observability.logging import get_logger
from investai.observability.tracing import get_tracer
from investai.web.app import API_COLLECTIONS_CHANGED_BY_FORMS, add_web_session, install_web

log = get_logger(__name__)


def create_app(container: Container, *, background: bool = False) -> FastAPI:
    """Build the app around ``container``; with ``background`` it also runs the job worker and the
    scheduler for as long as the app is served (``investai serve``)."""
    docs = container.settings.environment.api_docs_enabled
    app = FastAPIOffline(
        title="Investment AI Agent",
        version=__version__,
        description="Ranked, risk-assessed, compliance-checked investment ideas from your documents and market data.",
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        lifespan=_lifespan(container, background=background),
        # our RequestContextMiddleware makes the span, the metrics and the log line of every request from
        # the container's own providers; FastAPI's native telemetry would repeat them against the globals
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.container = container
    if container.identity.issuer is not None:
        container.identity.issuer.ensure_signing_key()  # the first JWKS served already holds the signing key
    install_api(app)
    settings = container.settings
    if settings.web_enabled:
        install_web(app, container)

    def now() -> float:
        return container.clock.now().timestamp()

    # add_middleware wraps: the last added is the outermost. Outermost first, a request passes: request
    # context -> hard body cap (413) -> edge (headers, CORS, WAF, rate limit, throttle) -> text check (422 for
    # text that is not valid Unicode) -> web session (cookies, CSRF) -> authentication -> cache
    add_response_cache(
        app, settings, now=now, related=API_COLLECTIONS_CHANGED_BY_FORMS if settings.web_enabled else None
    )
    app.add_middleware(AuthenticationMiddleware, verifier=container.identity.verifier)
    if settings.web_enabled:
        add_web_session(app, container)
    app.add_middleware(TextInputMiddleware)
    add_edge_protection(app, settings, now=now)
    app.add_middleware(
        BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes
    )
    app.add_middleware(
        RequestContextMiddleware,
        metrics=container.metrics,
        tracer=get_tracer(container.tracer_provider, "investai.api"),
        record_spans=settings.tracing_exporter is not TracingExporter.NONE,
    )
    return app


def _lifespan(container: Container, *, background: bool) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        container.keys.current_key_id()  # open the keyring now, not on the first request
        pool = container.worker_pool() if background and container.settings.serve_with_worker else None
        if pool is not None:
            pool.start()
        if background and container.settings.serve_with_scheduler:
            container.start_scheduler()
        log.info("app.started", profile=container.settings.profile.value, background=background)
        try:
            yield
        finally:
            if pool is not None:
                pool.stop(timeout=container.settings.job_visibility_timeout_s)
            container.scheduler.shutdown()
            log.info("app.stopped")

    return lifespan

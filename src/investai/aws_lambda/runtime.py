"""One Lambda execution environment of the AWS shape: settings read once from the environment, logging set up,
and the container built on the first invocation that needs it, then kept for every later one — clients,
connections and the keyring are opened once per environment, outside the per-event work. Importing this module
does nothing.

A function needs its ``INVESTAI_*`` variables (the CDK app sets them) and the application secret in Secrets
Manager (``<prefix>/app`` or ``INVESTAI_AWS_SECRET_ID``): ``secret_key`` is read from it, and so is
``openai_api_key`` when that provider is configured; the data keys are KMS's, identities Cognito's. Nothing is
read from a file.

Lambda's own defaults, each kept unless its variable is set: the AWS shape, JSON logs, scratch files under the
temporary directory (the only writable place), idea progress by polling (API Gateway buffers responses, so
server-sent events would arrive all at once), and uploads capped at what one invocation can carry. No worker or
scheduler ever runs inside a function: SQS and EventBridge invoke the processing and scheduler functions
instead.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import context as otel_context

from investai.config import Backend, ConfigurationError, Settings, load_settings
from investai.observability.logging import configure_logging, get_logger
from investai.observability.tracing import lambda_invocation_context

if TYPE_CHECKING:
    from investai.bootstrap import Container

T = TypeVar("T")
log = get_logger(__name__)

TRACE_FLUSH_TIMEOUT_MS = 2_000
"""How long the end of an invocation waits for its spans to reach the collector: Lambda freezes the environment
as soon as the handler returns, so spans still queued would be sent late (or never)."""
IN_PROCESS_WORK_OFF: dict[str, Any] = {"serve_with_worker": False, "serve_with_scheduler": False}
QUIET_LIBRARIES = ("botocore", "boto3", "mangum", "aws_lambda_powertools")
# A synchronous invocation carries at most 6 MB, and API Gateway sends a binary upload base64-encoded (4 bytes per
# 3): 4 MiB of file is what fits with room for the multipart framing. A larger upload gets the product's clear 413
# instead of a bare gateway error.
LAMBDA_MAX_UPLOAD_BYTES = 4 * 1_048_576


def lambda_defaults() -> dict[str, Any]:
    """Settings a Lambda function starts from, each replaced by its ``INVESTAI_*`` variable when set."""
    return {
        "backend": Backend.AWS,
        "log_json": True,
        "data_dir": Path(tempfile.gettempdir()) / "investai",
        "progress_transport": "poll",
        "max_upload_bytes": LAMBDA_MAX_UPLOAD_BYTES,
    }


def lambda_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of a function: its environment over Lambda's defaults, in-process work off. Refuses any
    shape but AWS (a function keeps nothing between environments)."""
    present = {name.upper() for name in (os.environ if environ is None else environ)}
    chosen = {name: value for name, value in lambda_defaults().items() if f"INVESTAI_{name.upper()}" not in present}
    settings = load_settings(**chosen, **IN_PROCESS_WORK_OFF)
    if settings.backend is not Backend.AWS:
        raise ConfigurationError("the Lambda functions run the AWS shape: INVESTAI_BACKEND must be aws")
    return settings


class LambdaRuntime:
    """What one execution environment builds once: the settings, the container, and each handler's parts."""

    def __init__(self, *, settings_loader: Callable[[], Settings] = lambda_settings) -> None:
        self._load_settings = settings_loader
        self._lock = threading.RLock()
        self._settings: Settings | None = None
        self._container: Container | None = None
        self._parts: dict[str, Any] = {}

    def settings(self) -> Settings:
        """The settings, read (and logging configured from them) on first use."""
        with self._lock:
            if self._settings is None:
                settings = self._load_settings()
                configure_logging(level=settings.effective_log_level, json=settings.log_json)
                for chatty in QUIET_LIBRARIES:  # per-request lines that repeat ours, or say where boto3 connects
                    logging.getLogger(chatty).setLevel(logging.WARNING)
                self._settings = settings
            return self._settings

    def container(self) -> Container:
        """The whole AWS shape, built on first use; a failed build is tried again on the next invocation."""
        with self._lock:
            if self._container is None:
                from investai.bootstrap import build_container

                settings = self.settings()
                self._container = build_container(settings)
                log.info("lambda.container_built", shape=self._container.shape, profile=settings.profile.value)
            return self._container

    def part(self, name: str, build: Callable[[], T]) -> T:
        """The part ``name`` of a handler (its app, its consumer), built by ``build`` on first use."""
        with self._lock:
            if name not in self._parts:
                self._parts[name] = build()
            built: T = self._parts[name]
            return built

    @contextmanager
    def invocation(self, environ: Mapping[str, str] | None = None) -> Iterator[None]:
        """Hold while handling one event: the invocation's X-Ray trace (``_X_AMZN_TRACE_ID``) is the current
        trace, so the spans and log lines of the event continue it unless the event carries its own (an HTTP
        trace header, a job's payload); at the end the spans recorded are sent before Lambda freezes."""
        token = otel_context.attach(lambda_invocation_context(os.environ if environ is None else environ))
        try:
            yield
        finally:
            otel_context.detach(token)
            with self._lock:
                built = self._container
            if built is not None:
                built.tracer_provider.force_flush(TRACE_FLUSH_TIMEOUT_MS)

    def reset(self) -> None:
        """Forget (and close) everything built, so the next invocation reads the environment afresh. Lambda never
        needs this; tests do between deployments."""
        with self._lock:
            parts, container = list(self._parts.values()), self._container
            self._parts, self._container, self._settings = {}, None, None
        for part in reversed(parts):
            close = getattr(part, "close", None)
            if callable(close):
                close()
        if container is not None:
            container.close()


_runtime = LambdaRuntime()


def settings() -> Settings:
    return _runtime.settings()


def container() -> Container:
    return _runtime.container()


def part(name: str, build: Callable[[], T]) -> T:
    return _runtime.part(name, build)


def reset() -> None:
    _runtime.reset()


def invocation() -> AbstractContextManager[None]:
    """:meth:`LambdaRuntime.invocation` of this environment."""
    return _runtime.invocation()

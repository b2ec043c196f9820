"""The domain's exception tree. Outer layers map these to HTTP at the edge only."""

from __future__ import annotations

from datetime import datetime


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "domain_error"


class ValidationFailed(DomainError):
    """Input breaks a domain rule that a schema alone cannot express."""

    code = "validation_failed"


class InvalidTransition(DomainError):
    """A status change that the lifecycle graph does not allow."""

    code = "invalid_transition"


class NotFound(DomainError):
    """The object does not exist, or the caller may not know that it exists."""

    code = "not_found"


class Conflict(DomainError):
    """The write conflicts with the stored state (duplicate key, stale version, lease lost)."""

    code = "conflict"


class Unsupported(Conflict):
    """The operation does not exist in this deployment's shape (e.g. file backups where AWS backs up)."""

    code = "unsupported_in_this_deployment"


class IntegrityError(DomainError):
    """Stored data failed its integrity check (authentication tag or hash mismatch)."""

    code = "integrity_error"


class InvalidKey(ValidationFailed):
    """An object key that is not safe to store."""

    code = "invalid_key"


class AuthenticationFailed(DomainError):
    """Credentials or a token were not accepted (HTTP 401). The message never says which part failed."""

    code = "unauthorized"


class InvalidToken(AuthenticationFailed):
    code = "invalid_token"


class PermissionDenied(DomainError):
    """The principal lacks a permission for an action on a resource it may see (HTTP 403)."""

    code = "forbidden"


class WeakPassword(ValidationFailed):
    code = "weak_password"


class UnsupportedDocumentType(ValidationFailed):
    """The content is none of the accepted document types (whatever its name or declared type says)."""

    code = "unsupported_media_type"


class DocumentTooLarge(ValidationFailed):
    """An upload over the size cap, or a document whose content expands past a limit."""

    code = "payload_too_large"


class UnsafeDocument(ValidationFailed):
    """Content refused for safety: an archive bomb, XML entity tricks, macros, active PDF content when
    configured to refuse it."""

    code = "unsafe_document"


class MalformedDocument(ValidationFailed):
    """Content of an accepted type that cannot be read: broken structure, limits on depth or numbers."""

    code = "malformed_document"


class StoreUnavailable(DomainError):
    """A store cannot serve the call right now but will shortly (held by another process, throttled, failing
    over): the caller should retry after ``retry_after_s`` seconds (HTTP 503 with ``Retry-After``)."""

    code = "store_unavailable"
    retry_after_s: float = 5.0

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s


class BudgetExceeded(DomainError):
    """A monthly model budget (the user's or the organisation's; cost in USD or tokens) is spent: no new work
    until it resets at ``resets_at``, the first instant of the next month, UTC (HTTP 429 with ``Retry-After``)."""

    code = "budget_exceeded"

    def __init__(
        self, *, budget: str, metric: str, limit: float, spent: float, resets_at: datetime, retry_after_s: float
    ) -> None:
        whose = "your" if budget == "user" else "your organisation's"
        unit = "model cost (USD)" if metric == "usd" else "model tokens"
        super().__init__(
            f"{whose} monthly budget of {limit:g} {unit} is spent ({spent:g}); it resets at {resets_at.isoformat()}"
        )
        self.budget = budget
        self.metric = metric
        self.limit = limit
        self.spent = spent
        self.resets_at = resets_at
        self.retry_after_s = retry_after_s

    def body_fields(self) -> dict[str, object]:
        """The JSON fields an answer carries beside the code and message."""
        return {
            "budget": self.budget,
            "metric": self.metric,
            "limit": self.limit,
            "spent": self.spent,
            "resets_at": self.resets_at.isoformat().replace("+00:00", "Z"),
        }

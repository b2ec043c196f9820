"""The domain's exception tree. Outer layers map these to HTTP at the edge only."""

from __future__ import annotations


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


class IntegrityError(DomainError):
    """Stored data failed its integrity check (authentication tag or hash mismatch)."""

    code = "integrity_error"


class InvalidKey(ValidationFailed):
    """An object key that is not safe to store."""

    code = "invalid_key"

"""The IdentityVerifier: a verified access token becomes a Principal, unless its session was revoked."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from investai.domain.access import Principal
from investai.domain.errors import InvalidToken
from investai.security.jwt import JwtVerifier


class TokenVerifier:
    def __init__(
        self,
        *,
        jwt_verifier: JwtVerifier,
        session_active: Callable[[str, datetime], bool],
        now: Callable[[], datetime],
    ) -> None:
        self._jwt = jwt_verifier
        self._session_active = session_active
        self._now = now

    def verify(self, token: str) -> Principal:
        claims = self._jwt.claims(token, token_use="access")
        principal = principal_from_claims(claims)
        if not self._session_active(principal.session_id, self._now()):
            raise InvalidToken("token has been revoked")
        return principal


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    try:
        return Principal(
            user_id=claims["sub"],
            organisation_id=claims["custom:organisation"],
            role=claims["custom:role"],
            session_id=claims["sid"],
            token_id=claims["jti"],
            authenticated_at=datetime.fromtimestamp(float(claims.get("auth_time", claims["iat"])), tz=UTC),
            mfa="mfa" in claims.get("amr", []),
        )
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise InvalidToken("token claims are incomplete") from exc

"""Cognito access tokens -> principals: RS256 against the pool's JWKS (fetched, cached, refetched on an unknown
``kid`` at most once a minute), the pool's issuer, the app client's ``client_id`` and ``token_use == "access"``
(all by :class:`~investai.security.jwt.JwtVerifier`); then the principal from the users table, refused when the
account is disabled or the session (the token's ``origin_jti``) is not live in the TokenStore.

Cognito's tokens carry neither role nor organisation: those come from the users table on every request, so a
role change or a disabled account takes effect at once. The session check is an allow-list: the provider
records a session at sign-in and revokes it at sign-out, so tokens of a signed-out session, and tokens minted
outside the product's sign-in (the app client is public), are refused although their signatures verify.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt

from investai.domain.access import Principal
from investai.domain.errors import InvalidToken, NotFound, StoreUnavailable
from investai.domain.users import UserStatus
from investai.ports.clock import Clock
from investai.ports.identity import TokenStore
from investai.ports.repositories import UserRepository
from investai.security.jwt import JwtVerifier

JwksFetcher = Callable[[str], Mapping[str, Any]]
MAX_JWKS_BYTES = 64 * 1024
AWS_ENDPOINT = "https://cognito-idp.{region}.amazonaws.com"


def pool_issuer(region: str, pool_id: str) -> str:
    """The ``iss`` of the pool's tokens (moto writes the same, whatever its own address)."""
    return f"{AWS_ENDPOINT.format(region=region)}/{pool_id}"


def jwks_url(cognito: Any, pool_id: str) -> str:
    """Where the pool publishes its keys: under the issuer on AWS; under the client's endpoint when boto3 is
    pointed elsewhere (``AWS_ENDPOINT_URL[_COGNITO_IDP]`` or an explicit ``endpoint_url``: an emulator)."""
    region = str(cognito.meta.region_name)
    endpoint = str(cognito.meta.endpoint_url).rstrip("/")
    if endpoint == AWS_ENDPOINT.format(region=region):
        return f"{pool_issuer(region, pool_id)}/.well-known/jwks.json"
    return f"{endpoint}/{pool_id}/.well-known/jwks.json"


def fetch_jwks(url: str, *, timeout_s: float = 5.0) -> Mapping[str, Any]:
    """The key set at ``url`` (https, or http to an emulator), size-capped; ``StoreUnavailable`` on failure."""
    try:
        with httpx.stream("GET", url, timeout=timeout_s, follow_redirects=False) as response:
            response.raise_for_status()
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise StoreUnavailable("the identity provider's key set is too large")
        document = json.loads(body)
    except (httpx.HTTPError, ValueError) as exc:
        raise StoreUnavailable("the identity provider's key set cannot be read; try again shortly") from exc
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise StoreUnavailable("the identity provider's key set is malformed")
    return document


class JwksCache:
    """The pool's JWKS, fetched on first use and kept; refetched when older than ``max_age_s`` or when a token
    names an unknown key, at most once per ``min_refetch_s`` (so forged ``kid`` values cannot flood Cognito).
    Returns the same document object until it changes, which is what :class:`JwtVerifier` caches on."""

    def __init__(
        self,
        url: str,
        *,
        fetch: JwksFetcher = fetch_jwks,
        monotonic: Callable[[], float] = time.monotonic,
        max_age_s: float = 86400.0,
        min_refetch_s: float = 60.0,
    ) -> None:
        self.url = url
        self._fetch = fetch
        self._monotonic = monotonic
        self._max_age_s = max_age_s
        self._min_refetch_s = min_refetch_s
        self._document: Mapping[str, Any] | None = None
        self._known: frozenset[str] = frozenset()
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Mapping[str, Any]:
        with self._lock:
            if self._document is None or self._monotonic() - self._fetched_at > self._max_age_s:
                self._refetch(stale_ok=self._document is not None)
            assert self._document is not None
            return self._document

    def refresh_for(self, kid: str) -> bool:
        """Refetch when ``kid`` is unknown and the last fetch is old enough; whether it is known now."""
        if kid in self._known:  # the common case, without waiting for a fetch in progress
            return True
        with self._lock:
            if kid in self._known:
                return True
            now = self._monotonic()
            if self._attempted_at is None or now - self._attempted_at >= self._min_refetch_s:
                self._refetch(stale_ok=self._document is not None)
            return kid in self._known

    def _refetch(self, *, stale_ok: bool) -> None:
        self._attempted_at = self._monotonic()
        try:
            document = self._fetch(self.url)
        except StoreUnavailable:
            if stale_ok:  # keep verifying with the keys we have
                return
            raise
        if self._document is None or dict(document) != dict(self._document):
            self._document = document
            keys = document.get("keys", [])
            self._known = frozenset(str(k.get("kid")) for k in keys if isinstance(k, Mapping))
        self._fetched_at = self._attempted_at


class AccessTokenRegistry:
    """The raw access tokens of recently verified principals, by token id (``jti``), in this process only.

    Cognito's own MFA enrolment calls (AssociateSoftwareToken, VerifySoftwareToken) need the user's access
    token, which the seam's ``MfaEnrolment`` does not carry: the verifier that turned the request's token into
    its principal a moment before records it here. Bounded, and entries go with their token's expiry."""

    def __init__(self, *, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, token_id: str, token: str, expires_at: float) -> None:
        with self._lock:
            self._tokens[token_id] = (token, expires_at)
            self._tokens.move_to_end(token_id)
            while len(self._tokens) > self._max:
                self._tokens.popitem(last=False)

    def get(self, token_id: str, *, at: float) -> str | None:
        with self._lock:
            entry = self._tokens.get(token_id)
            if entry is None or entry[1] <= at:
                self._tokens.pop(token_id, None)
                return None
            return entry[0]


class CognitoTokenVerifier:
    """The IdentityVerifier of the AWS shape."""

    def __init__(
        self,
        *,
        jwks: JwksCache,
        region: str,
        pool_id: str,
        client_id: str,
        users: UserRepository,
        tokens: TokenStore,
        clock: Clock,
        registry: AccessTokenRegistry | None = None,
        leeway_s: int = 30,
    ) -> None:
        self._jwks = jwks
        self._users = users
        self._tokens = tokens
        self._clock = clock
        self.registry = registry or AccessTokenRegistry()
        self._jwt = JwtVerifier(
            jwks=jwks,
            issuer=pool_issuer(region, pool_id),
            client_ids=frozenset({client_id}),
            now=clock.now,
            leeway_s=leeway_s,
        )

    def claims(self, token: str, *, token_use: str = "access") -> dict[str, Any]:  # noqa: S107
        """The verified claims of a Cognito token (signature, issuer, client, use, times); no session check."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise InvalidToken("token is malformed") from exc
        if isinstance(kid, str) and len(kid) <= 64:
            self._jwks.refresh_for(kid)
        return self._jwt.claims(token, token_use=token_use)

    def verify(self, token: str) -> Principal:
        claims = self.claims(token)
        user_id, session_id = claims.get("username"), claims.get("origin_jti")
        if not isinstance(user_id, str) or not isinstance(session_id, str):
            raise InvalidToken("token claims are incomplete")
        try:
            user = self._users.get(user_id)
        except NotFound as exc:
            raise InvalidToken("token is not valid") from exc
        now = self._clock.now()
        if user.status is UserStatus.DISABLED:
            raise InvalidToken("token is not valid")
        if not self._tokens.is_family_active(family_id=session_id, at=now):
            raise InvalidToken("token has been revoked")
        try:
            principal = Principal(
                user_id=user.id,
                organisation_id=user.organisation_id,
                role=user.role,
                session_id=session_id,
                token_id=str(claims["jti"]),
                authenticated_at=datetime.fromtimestamp(float(claims.get("auth_time", claims["iat"])), tz=UTC),
                mfa=user.mfa_enabled,  # Cognito asks every sign-in of an MFA user for a code
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidToken("token claims are incomplete") from exc
        self.registry.remember(principal.token_id, token, float(claims["exp"]))
        return principal

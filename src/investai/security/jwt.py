"""RS256 JSON Web Tokens: signing with rotating keys and verification against any JWKS (the local
issuer's or a Cognito user pool's).

Verification pins the algorithm list, refuses header-supplied keys (``jku``, ``jwk``, ``x5u``, ``x5c``),
looks ``kid`` up only in the configured JWKS, and checks ``iss``, the client (``aud`` or ``client_id``),
``token_use``, ``exp``, ``nbf`` and ``iat`` with at most 60 s leeway.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from investai.domain.errors import InvalidToken

ALGORITHMS = ("RS256",)
MAX_TOKEN_BYTES = 8192
MAX_LEEWAY_S = 60
KID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
FORBIDDEN_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c", "crit"})
REQUIRED_CLAIMS = ("exp", "iat", "iss", "sub", "token_use", "jti")
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: RSAPrivateKey
    created_at: datetime

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}


def sign(claims: Mapping[str, Any], key: SigningKey) -> str:
    return jwt.encode(dict(claims), key.private_key, algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"})


class JwtVerifier:
    """Verifies tokens; ``jwks`` returns the current key set (it may refresh itself)."""

    def __init__(
        self,
        *,
        jwks: Callable[[], Mapping[str, Any]],
        issuer: str,
        client_ids: frozenset[str],
        now: Callable[[], datetime],
        leeway_s: int = 30,
    ) -> None:
        if leeway_s > MAX_LEEWAY_S:
            raise ValueError(f"leeway above {MAX_LEEWAY_S} s is not allowed")
        self._jwks = jwks
        self._issuer = issuer
        self._client_ids = client_ids
        self._now = now
        self._leeway = leeway_s
        self._parsed: tuple[Mapping[str, Any], dict[str, Any]] | None = None  # (JWKS document, kid -> key)
        self._verified: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._verified_lock = threading.Lock()

    def claims(self, token: str, *, token_use: str) -> dict[str, Any]:
        """The verified claims of ``token``; :class:`InvalidToken` for any defect.

        A token that verified once is remembered (bounded LRU) for as long as the key set is unchanged and
        the token has not expired, so repeat requests skip signature checking; expiry is checked every time.
        Revocation is not cached here: callers check the session on every request.
        """
        if not token or len(token) > MAX_TOKEN_BYTES or not token.isascii():
            raise InvalidToken("token is missing or too large")
        remembered = self._remembered(token, token_use)
        if remembered is not None:
            return remembered
        claims = self._verify(token, token_use)
        with self._verified_lock:
            self._verified[(token, token_use)] = claims
            while len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return claims

    def _remembered(self, token: str, token_use: str) -> dict[str, Any] | None:
        document = self._parsed[0] if self._parsed is not None else None
        if document is None or self._jwks() is not document:  # the key set changed: verify afresh
            with self._verified_lock:
                self._verified.clear()
            return None
        with self._verified_lock:
            claims = self._verified.get((token, token_use))
            if claims is not None:
                self._verified.move_to_end((token, token_use))
        if claims is not None:
            self._check_times(claims)
        return dict(claims) if claims is not None else None

    def _verify(self, token: str, token_use: str) -> dict[str, Any]:
        header = self._header(token)
        key = self._key_for(header)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=list(ALGORITHMS),
                issuer=self._issuer,
                leeway=self._leeway,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_aud": False,  # checked below: Cognito access tokens carry client_id, not aud
                    "verify_exp": False,  # times are checked below against the injected clock
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken("token is not valid") from exc
        self._check_times(claims)
        self._check_client(claims)
        if claims.get("token_use") != token_use:
            raise InvalidToken(f"not an {token_use} token")
        return claims

    def _header(self, token: str) -> dict[str, Any]:
        """The unverified header, read once here; ``jwt.decode`` re-checks everything it relies on."""
        segment = token.split(".", 1)[0]
        try:
            header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        except (ValueError, binascii.Error, RecursionError) as exc:  # deeply nested JSON raises RecursionError
            raise InvalidToken("token is malformed") from exc
        if not isinstance(header, dict) or token.count(".") != 2:
            raise InvalidToken("token is malformed")
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken("token algorithm is not accepted")
        if FORBIDDEN_HEADERS & set(header):
            raise InvalidToken("token names its own key or critical extensions")
        kid = header.get("kid")
        if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
            raise InvalidToken("token key id is malformed")
        return header

    def _key_for(self, header: Mapping[str, Any]) -> Any:
        key = self._keys().get(header["kid"])
        if key is None:
            raise InvalidToken("token key id is unknown")
        return key

    def _keys(self) -> dict[str, Any]:
        """RSA keys of the current JWKS by kid, parsed once per key-set document."""
        document = self._jwks()
        if self._parsed is not None and self._parsed[0] is document:
            return self._parsed[1]
        keys = document.get("keys")
        if not isinstance(keys, list):
            raise InvalidToken("no usable key set")  # a malformed JWKS is untrusted input, not a crash
        parsed: dict[str, Any] = {}
        for jwk in keys:
            if isinstance(jwk, Mapping) and jwk.get("kty") == "RSA" and isinstance(jwk.get("kid"), str):
                try:
                    parsed[jwk["kid"]] = jwt.PyJWK(dict(jwk), algorithm="RS256").key
                except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                    continue  # an unusable key is skipped; its tokens will be rejected as unknown
        self._parsed = (document, parsed)
        return parsed

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._now().timestamp()
        for name in ("exp", "iat", "nbf"):
            if name in claims and not isinstance(claims[name], int | float):
                raise InvalidToken(f"token {name} is not a number")
        if now > claims["exp"] + self._leeway:
            raise InvalidToken("token has expired")
        if claims["iat"] > now + self._leeway or claims.get("nbf", 0) > now + self._leeway:
            raise InvalidToken("token is not valid yet")

    def _check_client(self, claims: Mapping[str, Any]) -> None:
        audience = claims.get("aud", claims.get("client_id"))
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or not self._client_ids.intersection(map(str, audiences)):
            raise InvalidToken("token was issued to another client")

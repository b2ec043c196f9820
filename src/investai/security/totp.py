"""TOTP (RFC 6238) and one-time recovery codes.

Secrets the product makes come from pyotp (160 bits). Codes are computed with ``cryptography``'s TOTP without
its key-length floor, so a secret an identity provider issued (Cognito's) is checked as the provider checks it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

RECOVERY_CODES = 10
STEP_S = 30


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    secret_key(secret)  # refuses what is not base32
    return pyotp.utils.build_uri(secret, account, issuer=issuer)


def secret_key(secret: str) -> bytes:
    """The key bytes of a base32 secret (padding optional, any case); ``ValueError`` if it is not base32."""
    text = secret.strip().replace(" ", "").upper()
    try:
        key = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a TOTP secret must be base32") from exc
    if not key:
        raise ValueError("a TOTP secret must not be empty")
    return key


def code_at(secret: str, at_s: float) -> str:
    """The six-digit code of ``secret`` at ``at_s`` (seconds since the epoch)."""
    totp = TOTP(secret_key(secret), 6, SHA1(), STEP_S, enforce_key_length=False)  # noqa: S303 - RFC 6238 uses SHA-1
    return totp.generate(int(at_s)).decode()


def accepted_step(secret: str, code: str, *, at: datetime, last_used_step: int | None) -> int | None:
    """The time step the code belongs to (current, or one either side), or None. A step at or before
    ``last_used_step`` is refused, so a code cannot be replayed."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    now_step = int(at.timestamp()) // STEP_S
    for step in (now_step, now_step - 1, now_step + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        if hmac.compare_digest(code_at(secret, step * STEP_S), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    return [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]


def hash_recovery_code(code: str) -> str:
    return hashlib.sha256(code.strip().lower().encode()).hexdigest()

"""Password policy (Cognito's: 12+ characters with upper, lower, digit and symbol), argon2id hashing and
temporary passwords."""

from __future__ import annotations

import secrets
import string

from argon2 import PasswordHasher as Argon2Hasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from investai.domain.errors import WeakPassword

MIN_LENGTH = 12
MAX_LENGTH = 256  # hashing cost is bounded; longer input is refused, not truncated
SYMBOLS = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-"


def password_problems(password: str) -> list[str]:
    """What the password lacks under the policy; empty when it complies."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"at most {MAX_LENGTH} characters")
    if not any(ch.isupper() for ch in password):
        problems.append("an upper-case letter")
    if not any(ch.islower() for ch in password):
        problems.append("a lower-case letter")
    if not any(ch.isdigit() for ch in password):
        problems.append("a digit")
    if not any(ch in SYMBOLS or (not ch.isalnum() and not ch.isspace()) for ch in password):
        problems.append("a symbol")
    return problems


def check_policy(password: str) -> None:
    problems = password_problems(password)
    if problems:
        raise WeakPassword("the password needs " + ", ".join(problems))


def temporary_password(length: int = 20) -> str:
    """A random password that satisfies the policy."""
    alphabet = string.ascii_letters + string.digits + "!@#%&*-_=+"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if not password_problems(candidate):
            return candidate


class PasswordHasher:
    """argon2id with the library's RFC 9106 low-memory defaults."""

    def __init__(self) -> None:
        self._hasher = Argon2Hasher()
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Constant work whether or not a hash exists, so timing does not reveal unknown users."""
        if len(password) > MAX_LENGTH:
            password = password[:MAX_LENGTH]
        try:
            return self._hasher.verify(stored_hash or self._dummy, password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def matches_any(self, hashes: list[str], password: str) -> bool:
        return any(self.verify(stored, password) for stored in hashes)

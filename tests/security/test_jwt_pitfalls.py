"""JWT pitfalls at the HTTP edge: every forged, malformed, misused or revoked bearer token answers a JSON 401.

Tokens are forged by hand (JSON segments signed with ``cryptography`` or ``hmac``) so that the verifier, not
PyJWT's encoder, decides what is refused. Positive controls sign a forged token with the issuer's real key and
show that it *is* accepted, so that no refusal below can pass merely because the forging helpers are broken.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from investai.adapters.local.clock import FakeClock
from investai.adapters.local.object_store import LocalObjectStore
from investai.adapters.local.token_issuer import LocalTokenIssuer
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.users import Role, UserStatus
from investai.security.jwt import SigningKey
from investai.server import create_app
from investai.services.auth_common import CallContext, Challenge
from tests.conftest import Account, sign_up
from tests.factories import T0

if TYPE_CHECKING:
    from httpx2 import Response  # what the TestClient answers with

PROFILE = "/api/v1/profile"
ADMIN_USERS = "/api/v1/admin/users"
JWKS = "/.well-known/jwks.json"
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


# -- forging helpers ---------------------------------------------------------------------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segment(value: object) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def rs256(header: Mapping[str, object], claims: Mapping[str, object], key: rsa.RSAPrivateKey) -> str:
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def hmac_signed(header: Mapping[str, object], claims: Mapping[str, object], secret: bytes, digest: str) -> str:
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = hmac.new(secret, signing_input.encode("ascii"), getattr(hashlib, digest)).digest()
    return f"{signing_input}.{b64url(signature)}"


def header_for(kid: object, **extra: object) -> dict[str, object]:
    return {"alg": "RS256", "typ": "JWT", "kid": kid, **extra}


def fresh(claims: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """``claims`` with a new ``jti`` and ``changes`` applied (a value of ``...`` removes the claim)."""
    updated = {**claims, "jti": secrets.token_hex(16), **changes}
    return {name: value for name, value in updated.items() if value is not ...}


def self_signed_certificate(key: rsa.RSAPrivateKey, clock: FakeClock) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker.example")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(clock.now() - timedelta(days=1))
        .not_valid_after(clock.now() + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


def assert_rejected(response: Response) -> None:
    """A 401 in the one JSON error shape, with no trace of the server's internals."""
    assert response.status_code == 401, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"code", "message", "request_id"} <= set(error)
    assert error["code"] == "unauthorized"
    assert isinstance(error["message"], str)
    assert error["request_id"] == response.headers["x-request-id"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    for leak in ("Traceback", 'File "', "site-packages", "jwt.exceptions", "PyJWT"):
        assert leak not in response.text


# -- fixtures ----------------------------------------------------------------------------------------------
@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture
def issuer(container: Container) -> LocalTokenIssuer:
    issuer = container.identity.issuer
    assert isinstance(issuer, LocalTokenIssuer)
    return issuer


@pytest.fixture
def real_key(issuer: LocalTokenIssuer, analyst: Account) -> SigningKey:
    """The key that signed the analyst's tokens (the analyst fixture makes sure one exists)."""
    key = issuer._active()
    assert jwt.get_unverified_header(analyst.tokens.access_token)["kid"] == key.kid
    return key


@pytest.fixture
def claims(analyst: Account) -> dict[str, Any]:
    """The analyst's genuine access-token claims: the template for every forgery."""
    decoded: dict[str, Any] = jwt.decode(analyst.tokens.access_token, options={"verify_signature": False})
    return decoded


@pytest.fixture(scope="module")
def attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class SharedApp:
    container: Container
    clock: FakeClock
    client: TestClient
    analyst: Account


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedApp]:
    """One container for the read-only cases: a refused token changes nothing, and building a container per
    case would cost about a second each. The clock of this container never moves."""
    clock = FakeClock(T0)
    settings = Settings(data_dir=tmp_path_factory.mktemp("jwt-pitfalls") / "var", _env_file=None)
    built = build_container(settings, clock=clock)
    try:
        analyst = sign_up(built, role=Role.ANALYST)
        with TestClient(create_app(built), base_url="http://127.0.0.1") as test_client:
            yield SharedApp(container=built, clock=clock, client=test_client, analyst=analyst)
    finally:
        built.close()


class SharedContainer:
    """Subclasses (whose tests change nothing another test could notice) get the shared container, client,
    clock and analyst under the usual fixture names."""

    @pytest.fixture
    def container(self, shared_app: SharedApp) -> Container:
        return shared_app.container

    @pytest.fixture
    def clock(self, shared_app: SharedApp) -> FakeClock:
        return shared_app.clock

    @pytest.fixture
    def client(self, shared_app: SharedApp) -> TestClient:
        return shared_app.client

    @pytest.fixture
    def analyst(self, shared_app: SharedApp) -> Account:
        return shared_app.analyst


def get_profile(client: TestClient, token: str) -> Response:
    return client.get(PROFILE, headers={"Authorization": f"Bearer {token}"})


# -- positive controls -------------------------------------------------------------------------------------
class TestPositiveControls(SharedContainer):
    def test_the_genuine_access_token_is_accepted(self, client: TestClient, analyst: Account) -> None:
        response = client.get(PROFILE, headers=analyst.headers)
        assert response.status_code == 200
        assert response.json()["user_id"] == analyst.user.id

    def test_a_hand_forged_token_signed_with_the_real_key_is_accepted(
        self, client: TestClient, claims: dict[str, Any], real_key: SigningKey
    ) -> None:
        token = rs256(header_for(real_key.kid), fresh(claims), real_key.private_key)
        response = get_profile(client, token)
        assert response.status_code == 200
        assert response.json()["user_id"] == claims["sub"]

    def test_escalated_claims_signed_with_the_real_key_are_accepted(
        self, client: TestClient, claims: dict[str, Any], real_key: SigningKey
    ) -> None:
        """So the tampering tests below fail only because the signature no longer matches."""
        escalated = fresh(claims, **{"custom:role": Role.ADMINISTRATOR.value})
        token = rs256(header_for(real_key.kid), escalated, real_key.private_key)
        assert client.get(ADMIN_USERS, headers={"Authorization": f"Bearer {token}"}).status_code == 200

    @pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
    def test_the_scheme_is_case_insensitive(self, client: TestClient, analyst: Account, scheme: str) -> None:
        response = client.get(PROFILE, headers={"Authorization": f"{scheme} {analyst.tokens.access_token}"})
        assert response.status_code == 200

    def test_the_analyst_cannot_use_an_admin_route_with_the_genuine_token(
        self, client: TestClient, analyst: Account
    ) -> None:
        assert client.get(ADMIN_USERS, headers=analyst.headers).status_code == 403


# -- algorithm confusion -----------------------------------------------------------------------------------
class TestAlgorithmConfusion(SharedContainer):
    @pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
    @pytest.mark.parametrize("signature", ["empty", "genuine", "junk", "missing-segment"])
    def test_alg_none_is_refused(
        self,
        client: TestClient,
        analyst: Account,
        claims: dict[str, Any],
        real_key: SigningKey,
        alg: str,
        signature: str,
    ) -> None:
        body = f"{segment({'alg': alg, 'typ': 'JWT', 'kid': real_key.kid})}.{segment(fresh(claims))}"
        token = {
            "empty": f"{body}.",
            "genuine": f"{body}.{analyst.tokens.access_token.rsplit('.', 1)[1]}",
            "junk": f"{body}.{b64url(secrets.token_bytes(32))}",
            "missing-segment": body,
        }[signature]
        assert_rejected(get_profile(client, token))

    def test_alg_none_without_a_kid_is_refused(self, client: TestClient, claims: dict[str, Any]) -> None:
        token = f"{segment({'alg': 'none'})}.{segment(fresh(claims))}."
        assert_rejected(get_profile(client, token))

    @pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
    @pytest.mark.parametrize(
        "form", ["pem-spki", "pem-spki-no-newline", "pem-pkcs1", "der", "jwk-served", "jwk-compact", "jwk-modulus"]
    )
    def test_hmac_signed_with_the_issuers_public_key_is_refused(
        self, client: TestClient, claims: dict[str, Any], real_key: SigningKey, alg: str, form: str
    ) -> None:
        public = real_key.private_key.public_key()
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        served = client.get(JWKS)
        jwk = next(key for key in served.json()["keys"] if key["kid"] == real_key.kid)
        secrets_by_form: dict[str, bytes] = {
            "pem-spki": public.public_bytes(serialization.Encoding.PEM, spki),
            "pem-spki-no-newline": public.public_bytes(serialization.Encoding.PEM, spki).strip(),
            "pem-pkcs1": public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
            "der": public.public_bytes(serialization.Encoding.DER, spki),
            "jwk-served": json.dumps(jwk).encode(),
            "jwk-compact": json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode(),
            "jwk-modulus": str(jwk["n"]).encode(),
        }
        secret = secrets_by_form[form]
        digest = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}[alg]
        header = {"alg": alg, "typ": "JWT", "kid": real_key.kid}
        assert_rejected(get_profile(client, hmac_signed(header, fresh(claims), secret, digest)))

    @pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "ES256", "EdDSA", "rs256", "RS256 ", ["RS256"], None])
    def test_other_algorithms_are_refused(
        self, client: TestClient, claims: dict[str, Any], real_key: SigningKey, alg: object
    ) -> None:
        header = {"alg": alg, "typ": "JWT", "kid": real_key.kid}
        signing_input = f"{segment(header)}.{segment(fresh(claims))}"
        signature = real_key.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        assert_rejected(get_profile(client, f"{signing_input}.{b64url(signature)}"))


# -- key identifiers ---------------------------------------------------------------------------------------
class TestKeyId(SharedContainer):
    @pytest.mark.parametrize(
        "kid",
        [
            "../../../../dev/null",
            "../../../../etc/passwd",
            "..%2f..%2f..%2fdev%2fnull",
            "' OR '1'='1",
            "x' UNION SELECT 'secret' --",
            "",
            " ",
            "k" * 65,
            "k" * 5000,
            "kid\u0000",
            "kid\n",
            "|/bin/true",
            12345,
            1.5,
            True,
            None,
            ["kid"],
            {"kid": "kid"},
        ],
        ids=lambda kid: repr(kid)[:40],
    )
    def test_a_hostile_kid_is_refused(
        self, client: TestClient, claims: dict[str, Any], real_key: SigningKey, kid: object
    ) -> None:
        token = rs256(header_for(kid), fresh(claims), real_key.private_key)
        assert_rejected(get_profile(client, token))

    def test_a_missing_kid_is_refused(self, client: TestClient, claims: dict[str, Any], real_key: SigningKey) -> None:
        token = rs256({"alg": "RS256", "typ": "JWT"}, fresh(claims), real_key.private_key)
        assert_rejected(get_profile(client, token))

    def test_an_unknown_kid_is_refused(self, client: TestClient, claims: dict[str, Any], real_key: SigningKey) -> None:
        unknown = f"k{secrets.token_hex(8)}"
        assert unknown != real_key.kid
        token = rs256(header_for(unknown), fresh(claims), real_key.private_key)
        assert_rejected(get_profile(client, token))

    def test_the_real_kid_with_another_key_is_refused(
        self, client: TestClient, claims: dict[str, Any], real_key: SigningKey, attacker_key: rsa.RSAPrivateKey
    ) -> None:
        token = rs256(header_for(real_key.kid), fresh(claims), attacker_key)
        assert_rejected(get_profile(client, token))


# -- header-supplied keys ----------------------------------------------------------------------------------
def _key_header(name: str, attacker_key: rsa.RSAPrivateKey, kid: str, clock: FakeClock) -> dict[str, object]:
    if name == "jwk":
        public: dict[str, object] = jwt.algorithms.RSAAlgorithm.to_jwk(attacker_key.public_key(), as_dict=True)
        return {"jwk": {**public, "kid": kid, "use": "sig", "alg": "RS256"}}
    if name == "x5c":
        der = self_signed_certificate(attacker_key, clock).public_bytes(serialization.Encoding.DER)
        return {"x5c": [base64.b64encode(der).decode()]}
    if name == "jku":
        return {"jku": "https://attacker.example/.well-known/jwks.json"}
    if name == "x5u":
        return {"x5u": "https://attacker.example/cert.pem"}
    if name == "crit":
        return {"crit": ["exp"]}
    raise AssertionError(name)


class TestHeaderSuppliedKeys(SharedContainer):
    @pytest.mark.parametrize("name", ["jwk", "x5c", "jku", "x5u"])
    @pytest.mark.parametrize("kid_source", ["real", "attacker"])
    def test_a_token_signed_by_the_attacker_naming_its_own_key_is_refused(
        self,
        client: TestClient,
        clock: FakeClock,
        claims: dict[str, Any],
        real_key: SigningKey,
        attacker_key: rsa.RSAPrivateKey,
        name: str,
        kid_source: str,
    ) -> None:
        kid = real_key.kid if kid_source == "real" else "attacker-key-1"
        header = header_for(kid, **_key_header(name, attacker_key, kid, clock))
        assert_rejected(get_profile(client, rs256(header, fresh(claims), attacker_key)))

    @pytest.mark.parametrize("name", ["jwk", "x5c", "jku", "x5u", "crit"])
    def test_a_key_naming_header_is_refused_even_over_a_genuine_signature(
        self,
        client: TestClient,
        clock: FakeClock,
        claims: dict[str, Any],
        real_key: SigningKey,
        attacker_key: rsa.RSAPrivateKey,
        name: str,
    ) -> None:
        header = header_for(real_key.kid, **_key_header(name, attacker_key, real_key.kid, clock))
        assert_rejected(get_profile(client, rs256(header, fresh(claims), real_key.private_key)))


# -- times -------------------------------------------------------------------------------------------------
class TestTimes(SharedContainer):
    def test_a_forged_exp_in_the_past_is_refused(
        self, client: TestClient, clock: FakeClock, claims: dict[str, Any], real_key: SigningKey
    ) -> None:
        now = int(clock.now().timestamp())
        token = rs256(header_for(real_key.kid), fresh(claims, exp=now - 3600), real_key.private_key)
        assert_rejected(get_profile(client, token))

    @pytest.mark.parametrize("claim", ["nbf", "iat"])
    @pytest.mark.parametrize("ahead_s", [None, 3600, 86400 * 365])
    def test_a_token_from_the_future_is_refused(
        self,
        client: TestClient,
        container: Container,
        clock: FakeClock,
        claims: dict[str, Any],
        real_key: SigningKey,
        claim: str,
        ahead_s: int | None,
    ) -> None:
        leeway = container.settings.token_leeway_s
        moment = int(clock.now().timestamp()) + (ahead_s or leeway + 1)
        changes = {claim: moment, "exp": moment + 3600}
        token = rs256(header_for(real_key.kid), fresh(claims, **changes), real_key.private_key)
        assert_rejected(get_profile(client, token))

    @pytest.mark.parametrize("claim", ["nbf", "iat"])
    def test_a_small_clock_skew_within_the_leeway_is_tolerated(
        self,
        client: TestClient,
        container: Container,
        clock: FakeClock,
        claims: dict[str, Any],
        real_key: SigningKey,
        claim: str,
    ) -> None:
        moment = int(clock.now().timestamp()) + container.settings.token_leeway_s
        token = rs256(header_for(real_key.kid), fresh(claims, **{claim: moment}), real_key.private_key)
        assert get_profile(client, token).status_code == 200

    @pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
    @pytest.mark.parametrize("value", ["9999999999", None, [1], {"t": 1}])
    def test_a_non_numeric_time_is_refused(
        self, client: TestClient, claims: dict[str, Any], real_key: SigningKey, claim: str, value: object
    ) -> None:
        token = rs256(header_for(real_key.kid), fresh(claims, **{claim: value}), real_key.private_key)
        assert_rejected(get_profile(client, token))


# -- claims ------------------------------------------------------------------------------------------------
class TestClaims(SharedContainer):
    @pytest.mark.parametrize(
        "claim",
        ["exp", "iat", "iss", "sub", "token_use", "jti", "sid", "custom:role", "custom:organisation", "client_id"],
    )
    def test_a_missing_required_claim_is_refused(
        self, client: TestClient, claims: dict[str, Any], real_key: SigningKey, claim: str
    ) -> None:
        assert claim in claims
        token = rs256(header_for(real_key.kid), fresh(claims, **{claim: ...}), real_key.private_key)
        assert_rejected(get_profile(client, token))

    @pytest.mark.parametrize(
        "wrong_issuer", ["https://evil.example", "http://127.0.0.1:8000/", "HTTP://127.0.0.1:8000", "", None, ["x"]]
    )
    def test_a_wrong_issuer_is_refused(
        self, client: TestClient, claims: dict[str, Any], real_key: SigningKey, wrong_issuer: object
    ) -> None:
        assert claims["iss"] != wrong_issuer
        token = rs256(header_for(real_key.kid), fresh(claims, iss=wrong_issuer), real_key.private_key)
        assert_rejected(get_profile(client, token))

    @pytest.mark.parametrize(
        "changes",
        [
            {"client_id": "other-client"},
            {"client_id": ""},
            {"client_id": None},
            {"client_id": 42},
            {"client_id": ["other-client"]},
            {"client_id": ..., "aud": "other-client"},
            {"client_id": ..., "aud": ["other-client", "another"]},
            {"aud": "other-client"},  # aud takes precedence over a correct client_id
        ],
        ids=repr,
    )
    def test_a_token_for_another_client_is_refused(
        self, client: TestClient, claims: dict[str, Any], real_key: SigningKey, changes: dict[str, object]
    ) -> None:
        token = rs256(header_for(real_key.kid), fresh(claims, **changes), real_key.private_key)
        assert_rejected(get_profile(client, token))

    @pytest.mark.parametrize("token_use", ["id", "refresh", "challenge", "ACCESS", "access ", "", None])
    def test_a_token_of_another_use_is_refused(
        self, client: TestClient, claims: dict[str, Any], real_key: SigningKey, token_use: object
    ) -> None:
        token = rs256(header_for(real_key.kid), fresh(claims, token_use=token_use), real_key.private_key)
        assert_rejected(get_profile(client, token))

    @pytest.mark.parametrize(
        "changes",
        [
            {"custom:role": "superuser"},
            {"custom:role": None},
            {"custom:organisation": ""},
            {"sid": ""},
            {"sid": "s" * 65},
            {"sub": 42},
            {"amr": 5},
            {"auth_time": "yesterday"},
        ],
        ids=repr,
    )
    def test_malformed_identity_claims_are_refused(
        self, client: TestClient, claims: dict[str, Any], real_key: SigningKey, changes: dict[str, object]
    ) -> None:
        token = rs256(header_for(real_key.kid), fresh(claims, **changes), real_key.private_key)
        assert_rejected(get_profile(client, token))

    def test_a_session_that_never_existed_is_refused(
        self, client: TestClient, claims: dict[str, Any], real_key: SigningKey
    ) -> None:
        token = rs256(header_for(real_key.kid), fresh(claims, sid="ses_forged"), real_key.private_key)
        assert_rejected(get_profile(client, token))


# -- tokens used for the wrong purpose ---------------------------------------------------------------------
class TestTokenConfusion(SharedContainer):
    def test_an_id_token_is_not_an_access_token(self, client: TestClient, analyst: Account) -> None:
        assert_rejected(get_profile(client, analyst.tokens.id_token))

    def test_a_refresh_token_is_not_an_access_token(self, client: TestClient, analyst: Account) -> None:
        assert_rejected(get_profile(client, analyst.tokens.refresh_token))

    @pytest.mark.parametrize("temporary", [True, False], ids=["new-password", "mfa"])
    def test_a_challenge_session_is_not_an_access_token(
        self, client: TestClient, container: Container, temporary: bool
    ) -> None:
        created = container.identity.users.create_user(
            actor=None,
            email=f"challenged.{secrets.token_hex(4)}@example.com",
            role=Role.ADMINISTRATOR,
            organisation_id="org_1",
        )
        assert created.temporary_password is not None
        if not temporary:  # an active account with MFA on answers the MFA challenge instead
            container.users.update(created.user.model_copy(update={"mfa_enabled": True, "status": UserStatus.ACTIVE}))
        challenge = container.identity.auth.login(created.user.email, created.temporary_password, CallContext())
        assert isinstance(challenge, Challenge)
        assert challenge.challenge == ("NEW_PASSWORD_REQUIRED" if temporary else "MFA")
        assert_rejected(get_profile(client, challenge.session))
        assert_rejected(client.get(ADMIN_USERS, headers={"Authorization": f"Bearer {challenge.session}"}))


# -- expiry and revoked sessions ---------------------------------------------------------------------------
class TestExpiryAndRevocation:
    def test_an_access_token_expires_after_exp_plus_leeway(
        self, client: TestClient, container: Container, clock: FakeClock, analyst: Account
    ) -> None:
        leeway = container.settings.token_leeway_s
        clock.advance(timedelta(seconds=container.settings.access_token_ttl_s + leeway))
        assert client.get(PROFILE, headers=analyst.headers).status_code == 200
        clock.advance(timedelta(seconds=1))
        assert_rejected(client.get(PROFILE, headers=analyst.headers))

    def test_logout_revokes_the_access_token(self, client: TestClient, analyst: Account) -> None:
        assert client.post("/api/v1/auth/logout", headers=analyst.headers).status_code == 204
        assert_rejected(client.get(PROFILE, headers=analyst.headers))

    def test_global_sign_out_revokes_every_access_token(
        self, client: TestClient, container: Container, analyst: Account
    ) -> None:
        second = container.identity.auth.login(analyst.user.email, analyst.password, CallContext())
        assert not isinstance(second, Challenge)
        response = client.post("/api/v1/auth/sign-out-everywhere", headers=analyst.headers)
        assert response.status_code == 200
        assert response.json()["revoked_sessions"] == 2
        assert_rejected(client.get(PROFILE, headers=analyst.headers))
        assert_rejected(get_profile(client, second.access_token))

    def test_a_password_change_revokes_the_access_token(self, client: TestClient, analyst: Account) -> None:
        response = client.post(
            "/api/v1/auth/password",
            json={"current_password": analyst.password, "new_password": "Another-Horse-8-Battery?"},
            headers=analyst.headers,
        )
        assert response.status_code == 204
        assert_rejected(client.get(PROFILE, headers=analyst.headers))

    def test_a_forged_token_over_a_revoked_session_is_refused(
        self, client: TestClient, claims: dict[str, Any], real_key: SigningKey, analyst: Account
    ) -> None:
        assert client.post("/api/v1/auth/logout", headers=analyst.headers).status_code == 204
        token = rs256(header_for(real_key.kid), fresh(claims), real_key.private_key)
        assert_rejected(get_profile(client, token))


# -- another issuer, tampering -----------------------------------------------------------------------------
class TestForeignAndTamperedTokens(SharedContainer):
    @pytest.fixture
    def other_issuer(self, container: Container, clock: FakeClock, tmp_path: Path) -> LocalTokenIssuer:
        """A second issuer instance: same issuer name, its own keys."""
        objects = LocalObjectStore(root=tmp_path / "other-objects", cipher=container.cipher, clock=clock)
        return LocalTokenIssuer(
            objects=objects,
            clock=clock,
            issuer=container.settings.issuer,
            max_token_ttl_s=container.settings.access_token_ttl_s,
        )

    def test_a_token_from_another_issuer_instance_is_refused(
        self, client: TestClient, other_issuer: LocalTokenIssuer, claims: dict[str, Any], real_key: SigningKey
    ) -> None:
        reserved = {"iss", "iat", "exp", "jti", "token_use"}
        token = other_issuer.issue(
            {name: value for name, value in claims.items() if name not in reserved}, token_use="access", ttl_s=3600
        )
        assert jwt.get_unverified_header(token)["kid"] != real_key.kid
        assert_rejected(get_profile(client, token))

    def test_another_issuers_key_under_the_real_kid_is_refused(
        self, client: TestClient, other_issuer: LocalTokenIssuer, claims: dict[str, Any], real_key: SigningKey
    ) -> None:
        token = rs256(header_for(real_key.kid), fresh(claims), other_issuer._active().private_key)
        assert_rejected(get_profile(client, token))

    def test_an_escalated_role_with_the_original_signature_is_refused(
        self, client: TestClient, analyst: Account, claims: dict[str, Any]
    ) -> None:
        header, _, signature = analyst.tokens.access_token.split(".")
        escalated = {**claims, "custom:role": Role.ADMINISTRATOR.value}
        token = f"{header}.{segment(escalated)}.{signature}"
        assert_rejected(client.get(ADMIN_USERS, headers={"Authorization": f"Bearer {token}"}))
        assert_rejected(get_profile(client, token))

    @pytest.mark.parametrize(
        "changes",
        [{"custom:organisation": "org_2"}, {"sub": "usr_someoneelse"}, {"exp": 4102444800}, {"amr": ["pwd", "mfa"]}],
        ids=repr,
    )
    def test_any_tampered_claim_breaks_the_signature(
        self, client: TestClient, analyst: Account, claims: dict[str, Any], changes: dict[str, object]
    ) -> None:
        header, _, signature = analyst.tokens.access_token.split(".")
        assert_rejected(get_profile(client, f"{header}.{segment({**claims, **changes})}.{signature}"))

    def test_a_tampered_header_breaks_the_signature(self, client: TestClient, analyst: Account) -> None:
        _, payload, signature = analyst.tokens.access_token.split(".")
        decoded = jwt.get_unverified_header(analyst.tokens.access_token)
        assert_rejected(get_profile(client, f"{segment({**decoded, 'typ': 'at+jwt'})}.{payload}.{signature}"))

    @pytest.mark.parametrize("damage", ["flip", "truncate", "drop", "double"])
    def test_a_damaged_signature_is_refused(self, client: TestClient, analyst: Account, damage: str) -> None:
        body, signature = analyst.tokens.access_token.rsplit(".", 1)
        raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
        raw[len(raw) // 2] ^= 0x01
        damaged = {
            "flip": b64url(bytes(raw)),
            "truncate": signature[:-4],
            "drop": "",
            "double": signature + signature,
        }[damage]
        assert_rejected(get_profile(client, f"{body}.{damaged}"))


# -- the Authorization header itself -----------------------------------------------------------------------
class TestAuthorizationHeader(SharedContainer):
    def test_a_header_over_8_kb_is_refused(self, client: TestClient) -> None:
        response = client.get(PROFILE, headers={"Authorization": "Bearer " + "A" * 9000})
        assert_rejected(response)

    def test_a_genuinely_signed_token_over_8_kb_is_refused(
        self, client: TestClient, claims: dict[str, Any], real_key: SigningKey
    ) -> None:
        small = rs256(header_for(real_key.kid), fresh(claims, pad="x" * 5000), real_key.private_key)
        assert get_profile(client, small).status_code == 200  # control: size alone decides below
        large = rs256(header_for(real_key.kid), fresh(claims, pad="x" * 7000), real_key.private_key)
        assert len(large) > 8192
        assert_rejected(get_profile(client, large))

    @pytest.mark.parametrize(
        "template",
        [
            "Basic dXNlcjpwYXNzd29yZA==",
            "Basic {token}",
            "Token {token}",
            "JWT {token}",
            "Bearer: {token}",
            "Bearer",
            "Bearer ",
            "Bearer    ",
            "{token}",
            " Bearer {token}",
            "Bearer {token} extra",
            "Bearer {token},Bearer {token}",
            "Digest username=admin",
            "Negotiate YIIC",
        ],
    )
    def test_a_wrong_scheme_or_shape_is_refused(self, client: TestClient, analyst: Account, template: str) -> None:
        value = template.format(token=analyst.tokens.access_token)
        assert_rejected(client.get(PROFILE, headers={"Authorization": value}))

    @pytest.mark.parametrize(
        "token",
        [
            pytest.param("garbage", id="one-word"),
            pytest.param("a.b.c", id="three-words"),
            pytest.param("...", id="dots-only"),
            pytest.param("..", id="two-dots"),
            pytest.param("e30.e30.", id="empty-objects-no-signature"),
            pytest.param("e30.e30", id="two-segments"),
            pytest.param("e30..", id="empty-payload"),
            pytest.param("!!!.@@@.###", id="not-base64"),
            pytest.param("a.b.c.d.e", id="jwe-shaped"),
            pytest.param(segment([]) + ".e30.", id="header-is-a-list"),
            pytest.param(segment("RS256") + ".e30.", id="header-is-a-string"),
            pytest.param(b64url(b"\xff\xfe\xfd") + ".e30.", id="header-not-utf8"),
            pytest.param(b64url(b"[" * 3000 + b"]" * 3000) + ".e30.sig", id="header-nested-3000-deep"),
            pytest.param(b64url(b'{"alg":"RS256","kid":"' + b"\\" * 10 + b'"}') + ".e30.sig", id="header-bad-escape"),
            pytest.param("null", id="null"),
            pytest.param("%00", id="percent-nul"),
        ],
    )
    def test_garbage_is_refused(self, client: TestClient, analyst: Account, token: str) -> None:
        assert_rejected(get_profile(client, token))

    def test_a_detached_payload_header_is_refused(
        self, client: TestClient, claims: dict[str, Any], real_key: SigningKey
    ) -> None:
        token = rs256(header_for(real_key.kid, b64=False), fresh(claims), real_key.private_key)
        assert_rejected(get_profile(client, token))

    def test_a_payload_that_is_not_json_is_refused_even_when_signed(
        self, client: TestClient, real_key: SigningKey
    ) -> None:
        signing_input = f"{segment(header_for(real_key.kid))}.{b64url(b'not json at all')}"
        signature = real_key.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        assert_rejected(get_profile(client, f"{signing_input}.{b64url(signature)}"))

    @pytest.mark.parametrize(
        "value",
        [
            "Bearer tökén".encode(),
            "Bearer tökén".encode("latin-1"),
            "Bearer \u2603.\u2603.\u2603".encode(),
            b"Bearer \xff\xfe\xfd",
        ],
    )
    def test_non_ascii_is_refused(self, client: TestClient, value: bytes) -> None:
        assert_rejected(client.get(PROFILE, headers={b"authorization": value}))

    def test_a_genuine_token_with_non_ascii_appended_is_refused(self, client: TestClient, analyst: Account) -> None:
        value = f"Bearer {analyst.tokens.access_token}é".encode()
        assert_rejected(client.get(PROFILE, headers={b"authorization": value}))


# -- signing-key rotation ----------------------------------------------------------------------------------
def _published_kids(client: TestClient) -> list[str]:
    response = client.get(JWKS)  # public: no Authorization header
    assert response.status_code == 200
    keys = response.json()["keys"]
    for key in keys:
        assert not PRIVATE_JWK_MEMBERS & set(key)
        assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    return [str(key["kid"]) for key in keys]


class TestKeyRotation:
    def test_a_retired_keys_tokens_stay_valid_until_they_expire(
        self,
        client: TestClient,
        container: Container,
        clock: FakeClock,
        issuer: LocalTokenIssuer,
        analyst: Account,
        real_key: SigningKey,
    ) -> None:
        new_kid = issuer.rotate()
        assert new_kid != real_key.kid
        assert client.get(PROFILE, headers=analyst.headers).status_code == 200
        newcomer = sign_up(container, role=Role.ANALYST)
        assert jwt.get_unverified_header(newcomer.tokens.access_token)["kid"] == new_kid
        assert client.get(PROFILE, headers=newcomer.headers).status_code == 200
        assert {real_key.kid, new_kid} <= set(_published_kids(client))

        leeway = container.settings.token_leeway_s
        clock.advance(timedelta(seconds=container.settings.access_token_ttl_s + leeway))
        assert client.get(PROFILE, headers=analyst.headers).status_code == 200  # still within exp + leeway
        clock.advance(timedelta(seconds=1))
        assert_rejected(client.get(PROFILE, headers=analyst.headers))

    def test_a_retired_key_leaves_the_jwks_after_the_longest_token_life(
        self,
        client: TestClient,
        container: Container,
        clock: FakeClock,
        issuer: LocalTokenIssuer,
        real_key: SigningKey,
    ) -> None:
        assert _published_kids(client) == [real_key.kid]
        new_kid = issuer.rotate()
        assert _published_kids(client) == [real_key.kid, new_kid]
        clock.advance(timedelta(seconds=container.settings.access_token_ttl_s + 60))
        assert real_key.kid in _published_kids(client)
        clock.advance(timedelta(seconds=1))
        assert _published_kids(client) == [new_kid]

    def test_a_token_signed_by_a_dropped_key_is_refused(
        self,
        client: TestClient,
        container: Container,
        clock: FakeClock,
        issuer: LocalTokenIssuer,
        real_key: SigningKey,
    ) -> None:
        issuer.rotate()
        clock.advance(timedelta(seconds=container.settings.access_token_ttl_s + 61))
        now = int(clock.now().timestamp())
        # a fresh session so that only the dropped key can be the reason for refusal
        session = sign_up(container, role=Role.ANALYST)
        live = jwt.decode(session.tokens.access_token, options={"verify_signature": False})
        forged = fresh(live, iat=now, exp=now + 600)
        active = issuer._active()
        assert get_profile(client, rs256(header_for(active.kid), forged, active.private_key)).status_code == 200
        assert_rejected(get_profile(client, rs256(header_for(real_key.kid), forged, real_key.private_key)))

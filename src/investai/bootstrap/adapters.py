"""One shape's adapters: everything the services need, as ports. ``embedded.py`` and ``aws.py`` each build one
:class:`Adapters`; :mod:`investai.bootstrap.container` wires the services once from it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from investai.ports.audit import AuditLog
from investai.ports.backups import Backups
from investai.ports.clock import Clock
from investai.ports.health import HealthCheck
from investai.ports.identity import (
    IdentityVerifier,
    MfaEnrolment,
    MfaSecretRepository,
    SignIn,
    TokenIssuer,
    TokenStore,
    UserDirectory,
)
from investai.ports.jobs import JobDispatch, JobRecords
from investai.ports.keys import KeyManager
from investai.ports.knowledge import Embedder, SearchIndex
from investai.ports.market import MarketDataProvider, TimeSeriesStore
from investai.ports.market_feeds import MarketFeed
from investai.ports.object_store import ObjectStore
from investai.ports.rate_limit import RequestQuota
from investai.ports.repositories import (
    DocumentRepository,
    FeedbackRepository,
    IdeaRepository,
    IdeaRequestRepository,
    ProfileRepository,
    UserRepository,
)
from investai.ports.scheduler import Scheduler
from investai.ports.secrets import SecretStore
from investai.ports.usage import UsageLedger
from investai.security.envelope import EnvelopeCipher


@dataclass(frozen=True)
class Records:
    """The record repositories, built once and shared by every service."""

    ideas: IdeaRepository
    users: UserRepository
    profiles: ProfileRepository
    documents: DocumentRepository
    feedback: FeedbackRepository
    idea_requests: IdeaRequestRepository


@dataclass(frozen=True)
class IdentityProvider:
    """Sign-in, MFA, user administration and token verification: the local issuer or a Cognito user pool."""

    sign_in: SignIn
    mfa: MfaEnrolment
    directory: UserDirectory
    verifier: IdentityVerifier
    tokens: TokenStore
    mfa_secrets: MfaSecretRepository
    issuer: TokenIssuer | None = None
    """The local issuer, whose JWKS the service publishes; ``None`` when the provider publishes its own."""


@dataclass
class Adapters:
    """The adapters of one shape. Health checks are the adapters' own; ``closers`` run on shutdown, in order."""

    shape: str
    clock: Clock
    secrets: SecretStore
    keys: KeyManager
    cipher: EnvelopeCipher
    objects: ObjectStore
    records: Records
    audit: AuditLog
    jobs: JobRecords
    dispatch: JobDispatch | None
    embedder: Embedder
    index: SearchIndex
    market_store: TimeSeriesStore
    market_provider: MarketDataProvider
    scheduler: Scheduler
    identity: IdentityProvider
    backups: Backups | None
    first_start: Callable[[], AbstractContextManager[None]]
    usage: UsageLedger
    """Model usage and budget overrides, shared by every process of the deployment."""
    health_checks: list[HealthCheck] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)
    model_quota: RequestQuota | None = None
    """The models' request quota when it is shared beyond this process (AWS); ``None``: a per-process bucket."""
    market_feeds: list[MarketFeed] = field(default_factory=list)
    """The market-data vendor feeds the settings switch on (HTTP; the same in both shapes)."""

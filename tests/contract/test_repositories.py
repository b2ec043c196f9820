"""Contract of the record repositories (ideas, users, profiles, documents, feedback).

Every adapter must pass every test here. To add one, write a factory that yields a :class:`Repositories` on
fresh storage and add it to :data:`ADAPTERS`; the fixtures do the rest. The DynamoDB adapters run against the
session's moto server (started only when a DynamoDB case runs), on tables named with a fresh prefix per test.
The migration tests at the end are specific to the SQLite database that the embedded adapters share; the
DynamoDB-specific tests (pages over 1 MB, contention, transactions) follow them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from investai.adapters.aws.dynamodb_ideas import DynamoDbIdeaRepository
from investai.adapters.aws.dynamodb_records import DynamoDbDocumentRepository, DynamoDbFeedbackRepository
from investai.adapters.aws.dynamodb_users import DynamoDbProfileRepository, DynamoDbUserRepository
from investai.adapters.aws.provision import ensure_table
from investai.adapters.aws.resources import RECORD_TABLES, ResourceNames
from investai.adapters.local.clock import FakeClock
from investai.adapters.local.keyring import LocalKeyring
from investai.adapters.local.migrations import MIGRATIONS
from investai.adapters.local.sqlite import Migration, MigrationError, SqliteDatabase
from investai.adapters.local.sqlite_ideas import SqliteIdeaRepository
from investai.adapters.local.sqlite_records import (
    SqliteDocumentRepository,
    SqliteFeedbackRepository,
    SqliteProfileRepository,
    SqliteUserRepository,
)
from investai.domain.common import epoch_ms
from investai.domain.documents import Document, DocumentStatus
from investai.domain.errors import Conflict, NotFound
from investai.domain.ideas import InvestmentIdea
from investai.domain.lifecycle import IdeaStatus
from investai.domain.users import (
    EsgPreference,
    InvestmentPreferences,
    RiskTolerance,
    User,
    UserProfile,
    UserStatus,
)
from investai.ports.repositories import (
    DocumentRepository,
    FeedbackRepository,
    IdeaRepository,
    ProfileRepository,
    UserRepository,
)
from investai.security.envelope import EnvelopeCipher
from tests.aws import MotoServer, SerialisedClient, fresh_prefix
from tests.factories import T0, make_document, make_feedback, make_idea, make_profile, make_user

MASTER_SECRET = "contract-test-master-secret-0123456789abcdef"
DAY = T0.date().isoformat()
DAY_DELTA = timedelta(days=1)


@dataclass(frozen=True)
class Repositories:
    ideas: IdeaRepository
    users: UserRepository
    profiles: ProfileRepository
    documents: DocumentRepository
    feedback: FeedbackRepository


RepositoryFactory = Callable[[pytest.FixtureRequest, Path, FakeClock], AbstractContextManager[Repositories]]


@contextmanager
def sqlite_repositories(tmp_path: Path, clock: FakeClock) -> Iterator[Repositories]:
    db = SqliteDatabase(path=tmp_path / "investai.db", migrations=MIGRATIONS)
    db.migrate()
    keys = LocalKeyring(path=tmp_path / "keys" / "keyring.json", master_secret=MASTER_SECRET, clock=clock)
    try:
        yield Repositories(
            ideas=SqliteIdeaRepository(db=db),
            users=SqliteUserRepository(db=db),
            profiles=SqliteProfileRepository(db=db, cipher=EnvelopeCipher(key_manager=keys)),
            documents=SqliteDocumentRepository(db=db),
            feedback=SqliteFeedbackRepository(db=db),
        )
    finally:
        db.close()


@contextmanager
def dynamodb_tables(moto: MotoServer) -> Iterator[tuple[SerialisedClient, ResourceNames]]:
    """The record tables under a fresh prefix, deleted afterwards; asserts no request path scanned."""
    client = SerialisedClient(moto.client("dynamodb"))
    names = ResourceNames(prefix=fresh_prefix())
    for spec in RECORD_TABLES:
        ensure_table(client, spec, names.table(spec.role))
    try:
        yield client, names
        assert "scan" not in client.operations
    finally:
        for spec in RECORD_TABLES:
            with contextlib.suppress(client.exceptions.ResourceNotFoundException):
                client.delete_table(TableName=names.table(spec.role))


def dynamodb_adapters(client: Any, names: ResourceNames, tmp_path: Path, clock: FakeClock) -> Repositories:
    keys = LocalKeyring(path=tmp_path / "keys" / "keyring.json", master_secret=MASTER_SECRET, clock=clock)
    return Repositories(
        ideas=DynamoDbIdeaRepository(client=client, table=names.table("ideas")),
        users=DynamoDbUserRepository(client=client, table=names.table("users")),
        profiles=DynamoDbProfileRepository(
            client=client, table=names.table("profiles"), cipher=EnvelopeCipher(key_manager=keys)
        ),
        documents=DynamoDbDocumentRepository(client=client, table=names.table("documents")),
        feedback=DynamoDbFeedbackRepository(client=client, table=names.table("feedback")),
    )


@contextmanager
def dynamodb_repositories(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Repositories]:
    with dynamodb_tables(request.getfixturevalue("moto")) as (client, names):
        yield dynamodb_adapters(client, names, tmp_path, clock)


ADAPTERS: dict[str, RepositoryFactory] = {
    "sqlite": lambda _request, tmp_path, clock: sqlite_repositories(tmp_path, clock),
    "dynamodb": dynamodb_repositories,
}


@pytest.fixture(params=sorted(ADAPTERS))
def repositories(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Repositories]:
    with ADAPTERS[request.param](request, tmp_path, clock) as built:
        yield built


@pytest.fixture
def ideas(repositories: Repositories) -> IdeaRepository:
    return repositories.ideas


@pytest.fixture
def users(repositories: Repositories) -> UserRepository:
    return repositories.users


@pytest.fixture
def profiles(repositories: Repositories) -> ProfileRepository:
    return repositories.profiles


@pytest.fixture
def documents(repositories: Repositories) -> DocumentRepository:
    return repositories.documents


@pytest.fixture
def feedback(repositories: Repositories) -> FeedbackRepository:
    return repositories.feedback


def ids(items: list[InvestmentIdea]) -> list[str]:
    return [item.id for item in items]


# -- ideas: revisions ---------------------------------------------------------------------------------


def test_idea_round_trips(ideas: IdeaRepository) -> None:
    idea = make_idea()
    ideas.add(idea)
    assert ideas.get(idea.id) == idea
    assert ideas.get(idea.id, version=1) == idea


def test_revisions_are_kept_and_get_returns_the_latest(ideas: IdeaRepository) -> None:
    v1 = make_idea()
    ideas.add(v1)
    v2 = v1.transition(IdeaStatus.IN_REVIEW, by="user_1", at=T0 + timedelta(hours=1), reason="ready")
    ideas.add(v2)
    v3 = v2.revise(at=T0 + timedelta(hours=2), title="Quality compounder, revised")
    ideas.add(v3)

    assert ideas.get(v1.id) == v3
    assert ideas.get(v1.id, version=1) == v1
    assert ideas.get(v1.id, version=2) == v2
    assert ideas.get(v1.id).status is IdeaStatus.IN_REVIEW
    assert ideas.history(v1.id) == [v1, v2, v3]


def test_stale_revision_is_a_conflict_and_changes_nothing(ideas: IdeaRepository) -> None:
    v1 = make_idea()
    ideas.add(v1)
    mine = v1.revise(at=T0 + timedelta(minutes=1), title="Mine")
    theirs = v1.revise(at=T0 + timedelta(minutes=2), title="Theirs")  # also version 2, built on v1
    ideas.add(mine)

    with pytest.raises(Conflict):
        ideas.add(theirs)

    assert ideas.get(v1.id) == mine
    assert ideas.history(v1.id) == [v1, mine]


def test_duplicate_first_version_is_a_conflict(ideas: IdeaRepository) -> None:
    idea = make_idea()
    ideas.add(idea)
    with pytest.raises(Conflict):
        ideas.add(idea)
    assert ideas.history(idea.id) == [idea]


def test_concurrent_writers_of_the_same_version_one_wins(ideas: IdeaRepository) -> None:
    v1 = make_idea()
    ideas.add(v1)
    candidates = [v1.revise(at=T0 + timedelta(seconds=n + 1), title=f"Writer {n}") for n in range(6)]
    start = threading.Barrier(len(candidates))

    def write(candidate: InvestmentIdea) -> bool:
        start.wait()
        try:
            ideas.add(candidate)
        except Conflict:
            return False
        return True

    with ThreadPoolExecutor(max_workers=len(candidates)) as pool:
        won = list(pool.map(write, candidates))

    assert won.count(True) == 1
    winner = candidates[won.index(True)]
    assert ideas.get(v1.id) == winner
    assert ideas.history(v1.id) == [v1, winner]


def test_a_version_that_skips_ahead_is_a_conflict(ideas: IdeaRepository) -> None:
    v1 = make_idea()
    ideas.add(v1)
    v3 = v1.revise(at=T0 + timedelta(minutes=1)).revise(at=T0 + timedelta(minutes=2))
    with pytest.raises(Conflict):
        ideas.add(v3)
    with pytest.raises(Conflict):
        ideas.add(make_idea(version=2))  # an idea cannot start at version 2
    assert ideas.get(v1.id) == v1


def test_a_revision_must_advance_the_timestamp(ideas: IdeaRepository) -> None:
    v1 = make_idea()
    ideas.add(v1)
    same_key = v1.model_copy(update={"version": 2, "title": "Same (id, timestamp) key"})
    with pytest.raises(Conflict):
        ideas.add(same_key)
    assert ideas.get(v1.id) == v1


def test_unknown_idea_or_version_is_not_found(ideas: IdeaRepository) -> None:
    idea = make_idea()
    ideas.add(idea)
    with pytest.raises(NotFound):
        ideas.get("idea_missing")
    with pytest.raises(NotFound):
        ideas.get(idea.id, version=2)
    with pytest.raises(NotFound):
        ideas.history("idea_missing")


# -- ideas: list queries ------------------------------------------------------------------------------


IdeaQuery = Callable[[IdeaRepository, int, int | None], list[InvestmentIdea]]

QUERIES: dict[str, IdeaQuery] = {
    "by_user": lambda repo, limit, before: repo.list_by_user("user_1", limit=limit, before=before),
    "by_status": lambda repo, limit, before: repo.list_by_status("org_1", IdeaStatus.DRAFT, limit=limit, before=before),
    "by_date": lambda repo, limit, before: repo.list_by_date("org_1", DAY, limit=limit, before=before),
    "by_organisation": lambda repo, limit, before: repo.list_by_organisation("org_1", limit=limit, before=before),
}


def test_lists_return_the_latest_revision_of_each_idea_newest_first(ideas: IdeaRepository) -> None:
    a = make_idea(generated_at=T0)
    b = make_idea(generated_at=T0 + timedelta(minutes=1))
    c = make_idea(generated_at=T0 + timedelta(minutes=2))
    for idea in (a, b, c):
        ideas.add(idea)
    a2 = a.transition(IdeaStatus.IN_REVIEW, by="user_1", at=T0 + timedelta(minutes=3))
    ideas.add(a2)

    assert ideas.list_by_user("user_1") == [a2, c, b]
    assert ideas.list_by_date("org_1", DAY) == [a2, c, b]
    assert ideas.list_by_status("org_1", IdeaStatus.DRAFT) == [c, b]  # a's superseded draft is gone
    assert ideas.list_by_status("org_1", IdeaStatus.IN_REVIEW) == [a2]
    assert ideas.list_by_status("org_1", IdeaStatus.APPROVED) == []
    assert ideas.list_by_organisation("org_1") == [a2, c, b]  # every status, one latest revision each
    assert ideas.list_by_organisation("org_1", limit=2) == [a2, c]


def test_list_expiring_finds_approved_and_rejected_ideas_past_their_expiry(ideas: IdeaRepository) -> None:
    from investai.domain.idea_parts import ComplianceState, ComplianceStatus

    compliant = ComplianceStatus(state=ComplianceState.COMPLIANT)
    due, later, draft = (
        make_idea(generated_at=T0, compliance=compliant),
        make_idea(generated_at=T0, compliance=compliant, expires_at=T0 + timedelta(days=90)),
        make_idea(generated_at=T0, organisation_id="org_2"),
    )
    for idea in (due, later, draft):
        ideas.add(idea)
    at = T0 + timedelta(minutes=1)
    approved = due.transition(IdeaStatus.IN_REVIEW, by="u", at=at).transition(IdeaStatus.APPROVED, by="o", at=at)
    ideas.add(due.transition(IdeaStatus.IN_REVIEW, by="u", at=at))
    ideas.add(approved)
    later_rejected = later.transition(IdeaStatus.IN_REVIEW, by="u", at=at).transition(
        IdeaStatus.REJECTED, by="o", at=at, reason="no"
    )
    ideas.add(later.transition(IdeaStatus.IN_REVIEW, by="u", at=at))
    ideas.add(later_rejected)
    assert ideas.list_expiring(T0 + timedelta(days=29)) == []
    assert ideas.list_expiring(T0 + timedelta(days=30)) == [approved]  # drafts never expire
    assert ideas.list_expiring(T0 + timedelta(days=91)) == [approved, later_rejected]
    assert ideas.list_expiring(T0 + timedelta(days=91), limit=1) == [approved]


def test_list_by_date_uses_the_generation_day(ideas: IdeaRepository) -> None:
    today = make_idea(generated_at=T0)
    tomorrow = make_idea(generated_at=T0 + timedelta(days=1))
    ideas.add(today)
    ideas.add(tomorrow)
    ideas.add(today.revise(at=T0 + timedelta(days=2), title="Revised two days later"))

    assert ids(ideas.list_by_date("org_1", DAY)) == [today.id]
    assert ids(ideas.list_by_date("org_1", tomorrow.date)) == [tomorrow.id]
    assert ideas.list_by_date("org_1", "2023-12-31") == []


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_lists_honour_limit_and_paginate_with_before(ideas: IdeaRepository, query: str) -> None:
    run = QUERIES[query]
    stored = [make_idea(generated_at=T0 + timedelta(minutes=minute)) for minute in range(5)]
    for idea in stored:
        ideas.add(idea)
    newest_first = ids(stored[::-1])

    assert ids(run(ideas, 1, None)) == newest_first[:1]
    pages: list[list[str]] = []
    before: int | None = None
    while True:
        page = run(ideas, 2, before)
        if not page:
            break
        assert len(page) <= 2
        pages.append(ids(page))
        before = page[-1].timestamp
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_before_excludes_ideas_at_or_after_the_bound(ideas: IdeaRepository, query: str) -> None:
    first = make_idea(generated_at=T0)
    second = make_idea(generated_at=T0 + timedelta(minutes=1))
    ideas.add(first)
    ideas.add(second)
    assert ids(QUERIES[query](ideas, 50, second.timestamp)) == [first.id]
    assert QUERIES[query](ideas, 50, first.timestamp) == []
    assert QUERIES[query](ideas, 50, 0) == []  # a bound of zero is a bound, not "no bound"


def test_lists_are_scoped_to_the_organisation(ideas: IdeaRepository) -> None:
    ours = make_idea(generated_at=T0)
    theirs = make_idea(generated_at=T0 + timedelta(minutes=1), owner_id="user_9", organisation_id="org_2")
    ideas.add(ours)
    ideas.add(theirs)

    assert ids(ideas.list_by_status("org_1", IdeaStatus.DRAFT)) == [ours.id]
    assert ids(ideas.list_by_date("org_1", DAY)) == [ours.id]
    assert ids(ideas.list_by_user("user_1")) == [ours.id]
    assert ids(ideas.list_by_status("org_2", IdeaStatus.DRAFT)) == [theirs.id]
    assert ids(ideas.list_by_date("org_2", DAY)) == [theirs.id]
    assert ideas.list_by_status("org_3", IdeaStatus.DRAFT) == []
    assert ids(ideas.list_by_organisation("org_1")) == [ours.id]
    assert ids(ideas.list_by_organisation("org_2")) == [theirs.id]
    assert ideas.list_by_organisation("org_3") == []


# -- ideas: point in time -----------------------------------------------------------------------------


def test_idea_as_of_is_the_revision_current_at_that_millisecond(ideas: IdeaRepository) -> None:
    v1 = make_idea(generated_at=T0)
    v2 = v1.revise(at=T0 + timedelta(hours=1), title="Revised an hour later")
    v3 = v2.transition(IdeaStatus.IN_REVIEW, by="user_1", at=T0 + timedelta(hours=2))
    for revision in (v1, v2, v3):
        ideas.add(revision)

    with pytest.raises(NotFound):
        ideas.as_of(v1.id, v1.timestamp - 1)  # before its first revision
    assert ideas.as_of(v1.id, v1.timestamp) == v1
    assert ideas.as_of(v1.id, v2.timestamp - 1) == v1
    assert ideas.as_of(v1.id, v2.timestamp) == v2
    assert ideas.as_of(v1.id, v3.timestamp - 1) == v2
    assert ideas.as_of(v1.id, v3.timestamp + 86_400_000) == v3
    with pytest.raises(NotFound):
        ideas.as_of("idea_missing", v3.timestamp)


def test_list_as_of_gives_each_idea_of_the_organisation_as_it_was(ideas: IdeaRepository) -> None:
    a = make_idea(generated_at=T0)
    b = make_idea(generated_at=T0 + timedelta(minutes=1))
    theirs = make_idea(generated_at=T0, owner_id="user_9", organisation_id="org_2")
    for idea in (a, b, theirs):
        ideas.add(idea)
    a2 = a.transition(IdeaStatus.IN_REVIEW, by="user_1", at=T0 + timedelta(minutes=3))
    ideas.add(a2)
    minute = 60_000

    assert ideas.list_as_of("org_1", a.timestamp - 1) == []
    assert ideas.list_as_of("org_1", a.timestamp) == [a]
    assert ideas.list_as_of("org_1", a.timestamp + 2 * minute) == [b, a]  # a as it was, not a2
    assert ideas.list_as_of("org_1", a2.timestamp) == [a2, b]
    assert ideas.list_as_of("org_2", a2.timestamp) == [theirs]
    assert ideas.list_as_of("org_3", a2.timestamp) == []


def test_list_as_of_honours_limit_and_pages_with_before(ideas: IdeaRepository) -> None:
    stored = [make_idea(generated_at=T0 + timedelta(minutes=minute)) for minute in range(5)]
    for idea in stored:
        ideas.add(idea)
    ideas.add(stored[0].revise(at=T0 + timedelta(hours=1), title="Later, invisible as of the first minutes"))
    at = stored[-1].timestamp
    newest_first = ids(stored[::-1])

    pages: list[list[str]] = []
    before: int | None = None
    while page := ideas.list_as_of("org_1", at, limit=2, before=before):
        pages.append(ids(page))
        before = page[-1].timestamp
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]
    assert ideas.list_as_of("org_1", at, limit=50, before=stored[1].timestamp) == [stored[0]]


# -- users --------------------------------------------------------------------------------------------


def test_user_round_trips(users: UserRepository) -> None:
    user = make_user(display_name="Ana Lyst")
    users.add(user)
    assert users.get(user.id) == user
    with pytest.raises(NotFound):
        users.get("user_missing")


def test_duplicate_user_id_is_a_conflict(users: UserRepository) -> None:
    user = make_user()
    users.add(user)
    with pytest.raises(Conflict):
        users.add(make_user(id=user.id))
    assert users.get(user.id) == user


def test_duplicate_email_is_a_conflict_whatever_its_case(users: UserRepository) -> None:
    users.add(make_user(email="Ana.Lyst@Example.com"))
    with pytest.raises(Conflict):
        users.add(make_user(email="ana.lyst@example.COM"))
    assert len(users.list_users()) == 1


def test_get_by_email_ignores_case(users: UserRepository) -> None:
    user = make_user(email="Ana.Lyst@Example.com")
    users.add(user)
    assert users.get_by_email("ana.lyst@example.com") == user
    assert users.get_by_email("ANA.LYST@EXAMPLE.COM") == user
    assert users.get_by_email("someone.else@example.com") is None


def test_update_replaces_the_user_and_its_email_index(users: UserRepository) -> None:
    user = make_user(email="old@example.com")
    users.add(user)
    changed = user.model_copy(
        update={"email": "new@example.com", "status": UserStatus.ACTIVE, "updated_at": T0 + timedelta(hours=1)}
    )
    users.update(changed)

    assert users.get(user.id) == changed
    assert users.get_by_email("NEW@example.com") == changed
    assert users.get_by_email("old@example.com") is None


def test_update_to_a_taken_email_is_a_conflict(users: UserRepository) -> None:
    first = make_user(email="first@example.com")
    second = make_user(email="second@example.com")
    users.add(first)
    users.add(second)
    with pytest.raises(Conflict):
        users.update(second.model_copy(update={"email": "FIRST@example.com"}))
    assert users.get(second.id) == second


def test_update_of_an_unknown_user_is_not_found(users: UserRepository) -> None:
    with pytest.raises(NotFound):
        users.update(make_user())


def test_list_users_filters_by_organisation_and_honours_limit(users: UserRepository) -> None:
    ours = [make_user(organisation_id="org_1") for _ in range(3)]
    theirs = make_user(organisation_id="org_2")
    for user in [*ours, theirs]:
        users.add(user)

    assert {user.id for user in users.list_users(organisation_id="org_1")} == {user.id for user in ours}
    assert [user.id for user in users.list_users(organisation_id="org_2")] == [theirs.id]
    assert len(users.list_users()) == 4
    assert len(users.list_users(organisation_id="org_1", limit=2)) == 2


def test_delete_removes_the_user_and_frees_the_email(users: UserRepository) -> None:
    user = make_user(email="leaver@example.com")
    users.add(user)
    users.delete(user.id)

    with pytest.raises(NotFound):
        users.get(user.id)
    assert users.get_by_email("leaver@example.com") is None
    with pytest.raises(NotFound):
        users.delete(user.id)
    users.add(make_user(email="Leaver@example.com"))  # the address can be used again


def test_concurrent_sign_ups_with_one_address_admit_one(users: UserRepository) -> None:
    candidates = [make_user(email="ANA.lyst@example.com" if n % 2 else "ana.LYST@example.com") for n in range(6)]
    start = threading.Barrier(len(candidates))

    def sign_up(candidate: User) -> bool:
        start.wait()
        try:
            users.add(candidate)
        except Conflict:
            return False
        return True

    with ThreadPoolExecutor(max_workers=len(candidates)) as pool:
        won = list(pool.map(sign_up, candidates))

    assert won.count(True) == 1
    assert [user.id for user in users.list_users()] == [candidates[won.index(True)].id]


# -- profiles -----------------------------------------------------------------------------------------


def test_profile_put_get_overwrite_delete(profiles: ProfileRepository) -> None:
    user = make_user()
    with pytest.raises(NotFound):
        profiles.get(user.id)

    profile = make_profile(user)
    profiles.put(profile)
    assert profiles.get(user.id) == profile

    preferences = InvestmentPreferences(
        risk_tolerance=RiskTolerance.AGGRESSIVE, sectors=["Energy"], exclusions=["TOBACCO"], esg=EsgPreference.REQUIRE
    )
    changed = profile.model_copy(update={"preferences": preferences, "updated_at": T0 + timedelta(days=1)})
    profiles.put(changed)
    assert profiles.get(user.id) == changed

    profiles.delete(user.id)
    with pytest.raises(NotFound):
        profiles.get(user.id)


def test_profiles_are_kept_per_user(profiles: ProfileRepository) -> None:
    first, second = make_user(), make_user()
    profiles.put(make_profile(first, preferences=InvestmentPreferences(sectors=["Energy"])))
    profiles.put(make_profile(second, preferences=InvestmentPreferences(sectors=["Utilities"])))
    assert profiles.get(first.id).preferences.sectors == ["Energy"]
    assert profiles.get(second.id).preferences.sectors == ["Utilities"]


def test_profile_as_of_is_the_revision_current_at_that_millisecond(profiles: ProfileRepository) -> None:
    user = make_user()
    first = make_profile(user, updated_at=T0)
    second = make_profile(
        user, preferences=InvestmentPreferences(sectors=["Energy"]), updated_at=T0 + timedelta(days=1)
    )
    profiles.put(first)
    profiles.put(second)
    start = epoch_ms(T0)

    with pytest.raises(NotFound):
        profiles.as_of(user.id, start - 1)
    assert profiles.as_of(user.id, start) == first
    assert profiles.as_of(user.id, epoch_ms(second.updated_at) - 1) == first
    assert profiles.as_of(user.id, epoch_ms(second.updated_at)) == second
    assert profiles.get(user.id) == second
    with pytest.raises(NotFound):
        profiles.as_of("user_missing", start)


def test_profile_revisions_keep_write_order_when_the_clock_does_not_advance(profiles: ProfileRepository) -> None:
    user = make_user()
    late = make_profile(user, updated_at=T0 + timedelta(hours=1))
    same = make_profile(user, preferences=InvestmentPreferences(sectors=["Utilities"]), updated_at=late.updated_at)
    earlier = make_profile(user, preferences=InvestmentPreferences(sectors=["Energy"]), updated_at=T0)
    for profile in (late, same, earlier):
        profiles.put(profile)
    at = epoch_ms(late.updated_at)

    assert profiles.as_of(user.id, at) == late
    assert profiles.as_of(user.id, at + 1) == same  # 1 ms after the previous revision
    assert profiles.as_of(user.id, at + 2) == earlier  # written last, so current last
    assert profiles.get(user.id) == earlier
    with pytest.raises(NotFound):
        profiles.as_of(user.id, epoch_ms(T0))  # an older updated_at does not backdate the revision


def test_concurrent_profile_writes_each_become_a_revision(profiles: ProfileRepository) -> None:
    user = make_user()
    writes = [make_profile(user, preferences=InvestmentPreferences(sectors=[f"S{n}"]), updated_at=T0) for n in range(6)]
    start = threading.Barrier(len(writes))

    def put(profile: UserProfile) -> None:
        start.wait()
        profiles.put(profile)

    with ThreadPoolExecutor(max_workers=len(writes)) as pool:
        list(pool.map(put, writes))

    at = epoch_ms(T0)
    current = [profiles.as_of(user.id, at + offset).preferences.sectors[0] for offset in range(len(writes))]
    assert sorted(current) == sorted(f"S{n}" for n in range(len(writes)))  # one millisecond each, none lost
    assert profiles.get(user.id).preferences.sectors == [current[-1]]


def test_profile_delete_erases_every_revision(profiles: ProfileRepository) -> None:
    user, other = make_user(), make_user()
    profiles.put(make_profile(user, updated_at=T0))
    profiles.put(make_profile(user, preferences=InvestmentPreferences(sectors=["Energy"]), updated_at=T0 + DAY_DELTA))
    kept = make_profile(other, updated_at=T0)
    profiles.put(kept)

    profiles.delete(user.id)

    for at in (epoch_ms(T0), epoch_ms(T0 + DAY_DELTA), epoch_ms(T0 + 10 * DAY_DELTA)):
        with pytest.raises(NotFound):
            profiles.as_of(user.id, at)
    assert profiles.as_of(other.id, epoch_ms(T0)) == kept


def test_prune_keeps_the_revision_current_at_the_cutoff_and_everything_later(profiles: ProfileRepository) -> None:
    user, quiet = make_user(), make_user()
    revisions = [
        make_profile(
            user, preferences=InvestmentPreferences(sectors=[f"Sector {day}"]), updated_at=T0 + day * DAY_DELTA
        )
        for day in (0, 1, 2, 10)
    ]
    for profile in revisions:
        profiles.put(profile)
    untouched = make_profile(quiet, updated_at=T0)  # a single, old revision: the latest, always kept
    profiles.put(untouched)
    cutoff = epoch_ms(T0 + 5 * DAY_DELTA)

    assert profiles.prune_revisions(cutoff) == 2
    assert profiles.prune_revisions(cutoff) == 0

    with pytest.raises(NotFound):
        profiles.as_of(user.id, epoch_ms(T0 + DAY_DELTA))  # superseded before the cutoff: gone
    assert profiles.as_of(user.id, epoch_ms(T0 + 2 * DAY_DELTA)) == revisions[2]
    assert profiles.as_of(user.id, cutoff) == revisions[2]  # still current at the cutoff
    assert profiles.as_of(user.id, epoch_ms(T0 + 10 * DAY_DELTA)) == revisions[3]
    assert profiles.get(user.id) == revisions[3]
    assert profiles.as_of(quiet.id, cutoff) == untouched


# -- documents ----------------------------------------------------------------------------------------


def test_document_round_trips(documents: DocumentRepository) -> None:
    document = make_document()
    documents.add(document)
    assert documents.get(document.id) == document
    with pytest.raises(Conflict):
        documents.add(document)
    with pytest.raises(NotFound):
        documents.get("doc_missing")


def test_update_with_the_current_updated_at_succeeds(documents: DocumentRepository) -> None:
    document = make_document()
    documents.add(document)
    indexed = document.model_copy(update={"status": DocumentStatus.INDEXED, "updated_at": T0 + timedelta(minutes=5)})
    documents.update(indexed, expected_updated_at=document.updated_at)
    assert documents.get(document.id) == indexed


def test_update_with_a_stale_updated_at_is_a_conflict(documents: DocumentRepository) -> None:
    document = make_document()
    documents.add(document)
    first = document.model_copy(update={"status": DocumentStatus.PROCESSING, "updated_at": T0 + timedelta(seconds=1)})
    second = document.model_copy(update={"status": DocumentStatus.FAILED, "updated_at": T0 + timedelta(seconds=2)})
    documents.update(first, expected_updated_at=document.updated_at)

    with pytest.raises(Conflict):
        documents.update(second, expected_updated_at=document.updated_at)  # read before `first` was written
    assert documents.get(document.id) == first


def test_update_of_an_unknown_document_is_not_found(documents: DocumentRepository) -> None:
    document = make_document()
    with pytest.raises(NotFound):
        documents.update(document, expected_updated_at=document.updated_at)


def test_delete_document(documents: DocumentRepository) -> None:
    document = make_document()
    documents.add(document)
    documents.delete(document.id)
    with pytest.raises(NotFound):
        documents.get(document.id)
    with pytest.raises(NotFound):
        documents.delete(document.id)


def test_document_lists_are_newest_first_and_scoped(documents: DocumentRepository) -> None:
    old = make_document(updated_at=T0)
    newer = make_document(updated_at=T0 + timedelta(hours=1))
    colleague = make_document(owner_id="user_2", updated_at=T0 + timedelta(hours=2))
    outsider = make_document(owner_id="user_9", organisation_id="org_2", updated_at=T0 + timedelta(hours=3))
    for document in (newer, old, outsider, colleague):
        documents.add(document)

    assert [d.id for d in documents.list_by_owner("user_1")] == [newer.id, old.id]
    assert [d.id for d in documents.list_by_organisation("org_1")] == [colleague.id, newer.id, old.id]
    assert [d.id for d in documents.list_by_organisation("org_2")] == [outsider.id]
    assert [d.id for d in documents.list_by_organisation("org_1", limit=1)] == [colleague.id]
    assert [d.id for d in documents.list_by_owner("user_1", limit=1)] == [newer.id]


def test_document_lists_follow_updates(documents: DocumentRepository) -> None:
    first = make_document(updated_at=T0)
    second = make_document(updated_at=T0 + timedelta(hours=1))
    documents.add(first)
    documents.add(second)
    touched = first.model_copy(update={"title": "Touched", "updated_at": T0 + timedelta(hours=2)})
    documents.update(touched, expected_updated_at=first.updated_at)
    assert [d.id for d in documents.list_by_owner("user_1")] == [first.id, second.id]
    assert documents.list_by_owner("user_1")[0].title == "Touched"


PUBLISHED = datetime(2022, 11, 14, tzinfo=UTC)


def published_document(published_at: datetime = PUBLISHED) -> Document:
    document = make_document()
    version = document.current.model_copy(update={"published_at": published_at})
    return document.model_copy(update={"versions": [version]})


def test_document_versions_keep_their_publication_dates(documents: DocumentRepository) -> None:
    document = published_document()
    documents.add(document)
    stored = documents.get(document.id)
    assert stored.current.published_at == PUBLISHED
    assert stored.current.uploaded_at == T0
    redated = document.current.model_copy(update={"published_at": PUBLISHED - DAY_DELTA})
    second = redated.model_copy(update={"version": 2, "published_at": T0})
    changed = document.model_copy(
        update={"versions": [redated, second], "current_version": 2, "updated_at": T0 + timedelta(minutes=1)}
    )
    documents.update(changed, expected_updated_at=document.updated_at)
    assert [v.published_at for v in documents.get(document.id).versions] == [PUBLISHED - DAY_DELTA, T0]
    assert documents.list_by_owner("user_1")[0] == changed
    assert documents.list_by_organisation("org_1")[0] == changed


def without_publication_dates(document: Document) -> str:
    """``document`` as stored before versions had publication dates."""
    body = json.loads(document.model_dump_json())
    for version in body["versions"]:
        del version["published_at"]
    return json.dumps(body)


# -- feedback -----------------------------------------------------------------------------------------


def test_feedback_lists_by_idea_and_by_user_oldest_first(feedback: FeedbackRepository) -> None:
    idea, other_idea = make_idea(), make_idea()
    first = make_feedback(idea, created_at=T0)
    second = make_feedback(idea, user_id="user_2", rating=2, created_at=T0 + timedelta(minutes=1))
    elsewhere = make_feedback(other_idea, created_at=T0 + timedelta(minutes=2))
    for item in (second, elsewhere, first):
        feedback.add(item)

    assert feedback.list_for_idea(idea.id) == [first, second]
    assert feedback.list_for_idea(other_idea.id) == [elsewhere]
    assert feedback.list_by_user("user_1") == [first, elsewhere]
    assert feedback.list_by_user("user_2") == [second]
    assert feedback.list_for_idea("idea_missing") == []


def test_duplicate_feedback_is_a_conflict(feedback: FeedbackRepository) -> None:
    item = make_feedback(make_idea())
    feedback.add(item)
    with pytest.raises(Conflict):
        feedback.add(item.model_copy(update={"rating": 1}))
    assert feedback.list_for_idea(item.idea_id) == [item]


# -- the SQLite database itself -----------------------------------------------------------------------


@pytest.fixture
def database(tmp_path: Path) -> Iterator[SqliteDatabase]:
    db = SqliteDatabase(path=tmp_path / "investai.db", migrations=MIGRATIONS)
    yield db
    db.close()


def reopen(path: Path, migrations: tuple[Migration, ...]) -> SqliteDatabase:
    return SqliteDatabase(path=path, migrations=migrations)


def test_migrate_applies_everything_once(database: SqliteDatabase) -> None:
    latest = MIGRATIONS[-1].version
    assert database.migrate() == [migration.version for migration in MIGRATIONS]
    assert database.migrate() == []
    assert database.schema_version() == latest
    database.check()

    again = reopen(database.path, MIGRATIONS)
    try:
        assert again.migrate() == []
        assert again.schema_version() == latest
    finally:
        again.close()


def test_an_edited_applied_migration_is_refused(database: SqliteDatabase) -> None:
    database.migrate()
    first = MIGRATIONS[0]
    edited = (Migration(first.version, first.name, first.sql + "\nCREATE TABLE sneaky (id TEXT);\n"), *MIGRATIONS[1:])
    tampered = reopen(database.path, edited)
    try:
        with pytest.raises(MigrationError):
            tampered.migrate()
        tables = {row[0] for row in tampered.connection().execute("SELECT name FROM sqlite_master")}
        assert "sneaky" not in tables
    finally:
        tampered.close()


def test_a_new_migration_is_applied_alone(database: SqliteDatabase) -> None:
    database.migrate()
    version = MIGRATIONS[-1].version + 1
    extended = reopen(database.path, (*MIGRATIONS, Migration(version, "extra table", "CREATE TABLE extra (id TEXT);")))
    try:
        assert extended.migrate() == [version]
        assert extended.schema_version() == version
        extended.check()
    finally:
        extended.close()
    with pytest.raises(MigrationError):
        database.check()  # code that knows fewer migrations than the file holds notices


def test_a_failing_migration_leaves_the_schema_untouched(database: SqliteDatabase) -> None:
    database.migrate()
    version = MIGRATIONS[-1].version + 1
    broken = Migration(version, "broken", "CREATE TABLE half (id TEXT);\nINSERT INTO no_such_table VALUES (1);\n")
    failing = reopen(database.path, (*MIGRATIONS, broken))
    try:
        with pytest.raises(sqlite3.OperationalError):
            failing.migrate()
        tables = {row[0] for row in failing.connection().execute("SELECT name FROM sqlite_master")}
        assert "half" not in tables
        assert failing.schema_version() == MIGRATIONS[-1].version
    finally:
        failing.close()


def test_database_runs_in_wal_mode_with_full_sync(database: SqliteDatabase) -> None:
    database.migrate()
    conn = database.connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert database.integrity_check() == "ok"


def test_profiles_are_encrypted_at_rest(tmp_path: Path, clock: FakeClock) -> None:
    with sqlite_repositories(tmp_path, clock) as repos:
        user = make_user()
        repos.profiles.put(make_profile(user, preferences=InvestmentPreferences(sectors=["Quantum Widgets"])))
        assert repos.profiles.get(user.id).preferences.sectors == ["Quantum Widgets"]
    raw = sqlite3.connect(tmp_path / "investai.db")
    try:
        (body,) = raw.execute("SELECT body FROM user_profiles WHERE user_id = ?", (user.id,)).fetchone()
    finally:
        raw.close()
    assert b"Quantum Widgets" not in bytes(body)
    assert user.id.encode() not in bytes(body)


def test_profiles_stored_before_revisions_existed_start_their_history_at_the_upgrade(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "investai.db"
    keys = LocalKeyring(path=tmp_path / "keys" / "keyring.json", master_secret=MASTER_SECRET, clock=clock)
    cipher = EnvelopeCipher(key_manager=keys)
    user = make_user()
    profile = make_profile(user, preferences=InvestmentPreferences(sectors=["Energy"]))
    before_revisions = reopen(path, tuple(m for m in MIGRATIONS if m.version < 5))
    try:
        before_revisions.migrate()
        sealed = cipher.seal(profile.model_dump_json().encode(), aad=f"profile:{user.id}".encode())
        with before_revisions.transaction() as conn:
            conn.execute("INSERT INTO user_profiles VALUES (?, ?)", (user.id, sealed))
    finally:
        before_revisions.close()

    upgraded = reopen(path, MIGRATIONS)
    try:
        started = int(time.time()) * 1000
        assert 5 in upgraded.migrate()
        finished = int(time.time() + 1) * 1000
        profiles = SqliteProfileRepository(db=upgraded, cipher=cipher)
        assert profiles.get(user.id) == profile
        assert profiles.as_of(user.id, finished) == profile
        with pytest.raises(NotFound):
            profiles.as_of(user.id, started - 1)  # no history before the upgrade
    finally:
        upgraded.close()


def test_documents_stored_before_publication_dates_read_as_published_at_upload(
    tmp_path: Path, clock: FakeClock
) -> None:
    document = make_document()
    with sqlite_repositories(tmp_path, clock) as repos:
        repos.documents.add(document)
        raw = sqlite3.connect(tmp_path / "investai.db")
        try:
            with raw:
                raw.execute(
                    "UPDATE documents SET body = ? WHERE id = ?", (without_publication_dates(document), document.id)
                )
        finally:
            raw.close()
        legacy = repos.documents.get(document.id)
        assert legacy.current.published_at == legacy.current.uploaded_at == T0
        assert legacy == document
        assert repos.documents.list_by_owner("user_1") == [document]
        redated = legacy.model_copy(
            update={
                "versions": [legacy.current.model_copy(update={"published_at": PUBLISHED})],
                "updated_at": T0 + DAY_DELTA,
            }
        )
        repos.documents.update(redated, expected_updated_at=legacy.updated_at)  # written back with its date
        assert repos.documents.get(document.id).current.published_at == PUBLISHED


# -- DynamoDB specifics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dynamo:
    client: SerialisedClient
    names: ResourceNames
    repositories: Repositories

    def partition(self, role: str, **key: str) -> list[dict[str, Any]]:
        """The raw items of one partition, straight from the table."""
        ((attribute, value),) = key.items()
        found = self.client.query(
            TableName=self.names.table(role),
            KeyConditionExpression="#p = :p",
            ExpressionAttributeNames={"#p": attribute},
            ExpressionAttributeValues={":p": {"S": value}},
            ConsistentRead=True,
        )
        return list(found["Items"])


@pytest.fixture
def dynamo(moto: MotoServer, tmp_path: Path, clock: FakeClock) -> Iterator[Dynamo]:
    with dynamodb_tables(moto) as (client, names):
        yield Dynamo(client, names, dynamodb_adapters(client, names, tmp_path, clock))


def large_idea(minute: int) -> InvestmentIdea:
    """About 27 kB stored: 40 of them are more than DynamoDB returns in one page (1 MB)."""
    return make_idea(generated_at=T0 + timedelta(minutes=minute), rationale="r" * 20_000, summary="s" * 4_000)


def test_dynamodb_lists_follow_pages_past_one_megabyte(dynamo: Dynamo) -> None:
    ideas = dynamo.repositories.ideas
    stored = [large_idea(minute) for minute in range(45)]
    for idea in stored:
        ideas.add(idea)
    newest_first = ids(stored[::-1])
    dynamo.client.calls.clear()

    assert ids(ideas.list_by_user("user_1", limit=500)) == newest_first
    assert dynamo.client.operations.count("query") >= 2  # the first page stopped at 1 MB
    assert ids(ideas.list_by_date("org_1", DAY, limit=500)) == newest_first
    assert ids(ideas.list_by_status("org_1", IdeaStatus.DRAFT, limit=500)) == newest_first
    assert ids(ideas.list_as_of("org_1", stored[-1].timestamp, limit=500)) == newest_first
    assert ids(ideas.list_by_user("user_1", limit=44, before=stored[-1].timestamp)) == newest_first[1:]


def test_dynamodb_revisions_are_read_across_pages(dynamo: Dynamo) -> None:
    ideas = dynamo.repositories.ideas
    revisions = [large_idea(0)]
    for minute in range(1, 45):
        revisions.append(revisions[-1].revise(at=T0 + timedelta(minutes=minute), title=f"Revision {minute}"))
    for revision in revisions:
        ideas.add(revision)
    idea_id = revisions[0].id

    assert ideas.history(idea_id) == revisions
    assert ideas.get(idea_id, version=45) == revisions[-1]  # found by a filtered query past the first page
    assert ideas.get(idea_id) == revisions[-1]
    assert ideas.as_of(idea_id, revisions[20].timestamp + 1) == revisions[20]
    assert ideas.list_as_of("org_1", revisions[20].timestamp) == [revisions[20]]
    assert ideas.list_by_status("org_1", IdeaStatus.DRAFT) == [revisions[-1]]


def test_dynamodb_contending_writers_extend_one_unbroken_history(dynamo: Dynamo) -> None:
    ideas = dynamo.repositories.ideas
    first = make_idea()
    ideas.add(first)
    writers, each = 4, 4

    def write(number: int) -> int:
        conflicts = written = 0
        while written < each:
            try:
                ideas.add(ideas.get(first.id).revise(at=T0, title=f"Writer {number}"))
            except Conflict:
                conflicts += 1
                continue
            written += 1
        return conflicts

    with ThreadPoolExecutor(max_workers=writers) as pool:
        conflicts = sum(pool.map(write, range(writers)))

    history = ideas.history(first.id)
    assert [revision.version for revision in history] == list(range(1, 2 + writers * each))
    assert all(a.timestamp < b.timestamp for a, b in itertools.pairwise(history))
    assert ideas.list_by_user("user_1") == [history[-1]]  # the sparse indexes hold the latest alone
    assert ideas.list_as_of("org_1", history[-1].timestamp) == [history[-1]]
    items = dynamo.partition("ideas", id=first.id)
    head = items[-1]
    assert (head["version"]["N"], head["latest"]["N"]) == (str(len(history)), str(history[-1].timestamp))
    superseded = [int(item["supersededAt"]["N"]) for item in items[:-2]]
    assert superseded == [revision.timestamp for revision in history[1:]]  # each names its successor
    assert conflicts > 0  # the writers did collide


def test_dynamodb_a_refused_address_change_keeps_every_claim(dynamo: Dynamo) -> None:
    users = dynamo.repositories.users
    first, second = make_user(email="first@example.com"), make_user(email="second@example.com")
    users.add(first)
    users.add(second)
    with pytest.raises(Conflict):
        users.update(second.model_copy(update={"email": "First@Example.com"}))

    claims = {
        address: dynamo.partition("users", pk=f"email#{address}")
        for address in ("first@example.com", "second@example.com")
    }
    assert [item["userId"]["S"] for item in claims["first@example.com"]] == [first.id]
    assert [item["userId"]["S"] for item in claims["second@example.com"]] == [second.id]
    assert users.get_by_email("SECOND@example.com") == second


def test_dynamodb_profiles_are_encrypted_at_rest(dynamo: Dynamo) -> None:
    profiles = dynamo.repositories.profiles
    user = make_user()
    profiles.put(make_profile(user, preferences=InvestmentPreferences(sectors=["Quantum Widgets"])))
    profiles.put(make_profile(user, preferences=InvestmentPreferences(sectors=["Quantum Gadgets"])))
    items = dynamo.partition("profiles", userId=user.id)
    bodies = [bytes(item["body"]["B"]) for item in items if "body" in item]
    assert len(bodies) == 2
    for body in bodies:
        assert b"Quantum" not in body
        assert user.id.encode() not in body


def test_dynamodb_an_erasure_cut_short_before_its_head_still_hides_the_profile(dynamo: Dynamo) -> None:
    profiles = dynamo.repositories.profiles
    user = make_user()
    profiles.put(make_profile(user, updated_at=T0))
    profiles.put(make_profile(user, preferences=InvestmentPreferences(sectors=["Energy"]), updated_at=T0 + DAY_DELTA))
    table = dynamo.names.table("profiles")
    for item in dynamo.partition("profiles", userId=user.id):
        if "body" in item:  # delete() removes the revisions first; a crash here leaves the head alone
            dynamo.client.delete_item(TableName=table, Key={"userId": item["userId"], "timestamp": item["timestamp"]})

    with pytest.raises(NotFound):
        profiles.get(user.id)
    again = make_profile(user, preferences=InvestmentPreferences(sectors=["Utilities"]), updated_at=T0)
    profiles.put(again)
    assert profiles.get(user.id) == again
    assert profiles.as_of(user.id, epoch_ms(T0 + DAY_DELTA) + 1) == again  # after the named newest
    profiles.delete(user.id)
    assert dynamo.partition("profiles", userId=user.id) == []


def test_dynamodb_documents_stored_before_publication_dates_read_as_published_at_upload(dynamo: Dynamo) -> None:
    documents = dynamo.repositories.documents
    document = make_document()
    documents.add(document)
    dynamo.client.update_item(
        TableName=dynamo.names.table("documents"),
        Key={"id": {"S": document.id}},
        UpdateExpression="SET #b = :b",
        ExpressionAttributeNames={"#b": "body"},
        ExpressionAttributeValues={":b": {"S": without_publication_dates(document)}},
    )
    (item,) = dynamo.partition("documents", id=document.id)
    assert "published_at" not in item["body"]["S"]
    legacy = documents.get(document.id)
    assert legacy.current.published_at == legacy.current.uploaded_at == T0
    assert legacy == document
    assert documents.list_by_owner("user_1") == [document]


def test_dynamodb_adapters_check_their_tables(dynamo: Dynamo) -> None:
    repositories = [getattr(dynamo.repositories, name) for name in Repositories.__dataclass_fields__]
    for repository in repositories:
        repository.check()
    assert len({repository.health_name for repository in repositories}) == len(repositories)
    dynamo.client.delete_table(TableName=dynamo.names.table("documents"))
    with pytest.raises(dynamo.client.exceptions.ResourceNotFoundException):
        dynamo.repositories.documents.check()

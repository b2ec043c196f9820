"""Contract of the record repositories (ideas, users, profiles, documents, feedback).

Every adapter must pass every test here. To add one (DynamoDB, say), write a factory that yields a
:class:`Repositories` on fresh storage and add it to :data:`ADAPTERS`; the fixtures do the rest. The
migration tests at the end are specific to the SQLite database that the embedded adapters share.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

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
from investai.domain.documents import DocumentStatus
from investai.domain.errors import Conflict, NotFound
from investai.domain.ideas import InvestmentIdea
from investai.domain.lifecycle import IdeaStatus
from investai.domain.users import EsgPreference, InvestmentPreferences, RiskTolerance, UserStatus
from investai.ports.repositories import (
    DocumentRepository,
    FeedbackRepository,
    IdeaRepository,
    ProfileRepository,
    UserRepository,
)
from investai.security.envelope import EnvelopeCipher
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


RepositoryFactory = Callable[[Path, FakeClock], AbstractContextManager[Repositories]]


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


ADAPTERS: dict[str, RepositoryFactory] = {"sqlite": sqlite_repositories}


@pytest.fixture(params=sorted(ADAPTERS))
def repositories(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Repositories]:
    with ADAPTERS[request.param](tmp_path, clock) as built:
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

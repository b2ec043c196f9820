"""Point-in-time reads and restores of ideas and profiles: through the admin API, the service and the CLI.

Revisions are made at known seconds with the fake clock. "As of second S" covers every revision written up
to the end of S: a revision at 10:00:05.300 is part of the state as of 10:00:05, one at 10:00:06.000 is not.
Most ideas here cite market series only, so the administrator may see them whole; one test covers an idea
citing a document the administrator may not read.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.cli import app
from investai.config import Settings
from investai.domain.access import Principal
from investai.domain.audit import AuditOutcome
from investai.domain.citations import Evidence, MarketCitation
from investai.domain.common import epoch_ms
from investai.domain.errors import NotFound
from investai.domain.idea_parts import ComplianceState, ComplianceStatus
from investai.domain.ideas import InvestmentIdea
from investai.domain.lifecycle import IdeaStatus
from investai.domain.users import InvestmentPreferences, Role, UserProfile
from investai.jobs.handlers import PURGE_EXPIRED
from investai.server import create_app
from investai.services.auth_common import CallContext
from tests.conftest import PASSWORD, Account, sign_up
from tests.factories import T0, make_idea, make_profile

PITR = "/api/v1/admin/pitr"
ORG = "org_1"


def at(clock_time: str) -> datetime:
    """A moment of the test day (T0's date), e.g. ``at("10:00:05.300")``."""
    return datetime.fromisoformat(f"{T0.date().isoformat()}T{clock_time}+00:00")


def z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def principal_of(account: Account, clock: FakeClock) -> Principal:
    return Principal.acting_as(account.user, actor="test", at=clock.now())


def plain_idea(**overrides: Any) -> InvestmentIdea:
    """An idea whose evidence is a market series only: every reader of it sees it whole."""
    citation = MarketCitation(
        symbol="AAPL", series="volatility_63d", start=date(2023, 9, 29), end=date(2023, 12, 29), value=0.24
    )
    return make_idea(supporting_evidence=[Evidence(claim="63-day volatility 24%", citation=citation)], **overrides)


def shown(item: dict[str, Any]) -> InvestmentIdea:
    """The idea a response shows, checked to withhold nothing."""
    item = dict(item)
    assert item.pop("restricted_sources") == 0
    return InvestmentIdea.model_validate(item)


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["request_id"]


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="http://127.0.0.1") as test_client:
        yield test_client


def three_revisions(container: Container, owner: Account) -> list[InvestmentIdea]:
    """Revisions at 10:00:00.000, 10:00:05.300 and 10:00:06.000."""
    v1 = plain_idea(generated_at=at("10:00:00"), owner_id=owner.user.id, organisation_id=ORG)
    v2 = v1.revise(at=at("10:00:05.300"), title="Second thoughts on the compounder")
    v3 = v2.transition(IdeaStatus.IN_REVIEW, by=owner.user.id, at=at("10:00:06"), reason="ready for review")
    for revision in (v1, v2, v3):
        container.ideas.add(revision)
    return [v1, v2, v3]


def put_profile(client: TestClient, account: Account, preferences: dict[str, Any]) -> UserProfile:
    response = client.put("/api/v1/profile", json={"preferences": preferences}, headers=account.headers)
    assert response.status_code == 200, response.text
    return UserProfile.model_validate(response.json())


# -- reads as of a second -----------------------------------------------------------------------------


def test_an_idea_as_of_a_second_is_exactly_what_it_was_then(
    client: TestClient, container: Container, clock: FakeClock, admin: Account, analyst: Account
) -> None:
    v1, v2, v3 = three_revisions(container, analyst)
    clock.set(at("10:10:00"))

    expected = {
        "10:00:00": v1,
        "10:00:04": v1,
        "10:00:05": v2,  # the revision at 10:00:05.300 is part of second 10:00:05
        "10:00:05.999": v2,  # fractions are dropped: the same second
        "10:00:06": v3,
        "10:09:59": v3,
    }
    for as_of, revision in expected.items():
        response = client.get(f"{PITR}/ideas/{v1.id}", params={"as_of": z(at(as_of))}, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert shown(body["idea"]) == revision, as_of
        assert body["as_of"] == z(at(as_of).replace(microsecond=0))

    before_first = client.get(f"{PITR}/ideas/{v1.id}", params={"as_of": z(at("09:59:59"))}, headers=admin.headers)
    assert_error(before_first, 404, "not_found")
    unknown = client.get(f"{PITR}/ideas/idea_missing", params={"as_of": z(at("10:05:00"))}, headers=admin.headers)
    assert_error(unknown, 404, "not_found")


def test_a_profile_as_of_a_second_is_exactly_what_it_was_then(
    client: TestClient, clock: FakeClock, admin: Account, analyst: Account
) -> None:
    clock.set(at("10:00:00"))
    first = put_profile(client, analyst, {"risk_tolerance": "conservative", "sectors": ["Utilities"]})
    clock.set(at("10:00:05.300"))
    second = put_profile(client, analyst, {"risk_tolerance": "aggressive", "sectors": ["Energy"], "esg": "require"})
    clock.set(at("10:10:00"))

    url = f"{PITR}/profiles/{analyst.user.id}"
    for as_of, expected in {"10:00:00": first, "10:00:04": first, "10:00:05": second, "10:09:00": second}.items():
        response = client.get(url, params={"as_of": z(at(as_of))}, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert UserProfile.model_validate(response.json()["profile"]) == expected, as_of
    assert_error(client.get(url, params={"as_of": z(at("09:59:59"))}, headers=admin.headers), 404, "not_found")


def test_a_bulk_as_of_read_lists_the_organisations_ideas_as_they_were(
    client: TestClient, container: Container, clock: FakeClock, admin: Account, analyst: Account
) -> None:
    a = plain_idea(generated_at=at("10:00:00"), owner_id=analyst.user.id)
    b = plain_idea(generated_at=at("10:00:20"), owner_id=analyst.user.id)
    theirs = plain_idea(generated_at=at("10:00:10"), owner_id="user_9", organisation_id="org_2")
    a2 = a.revise(at=at("10:00:30"), title="Revised after the second idea")
    for revision in (a, b, theirs, a2):
        container.ideas.add(revision)
    clock.set(at("10:10:00"))

    then = client.get(f"{PITR}/ideas", params={"as_of": z(at("10:00:25"))}, headers=admin.headers)
    assert then.status_code == 200, then.text
    assert [shown(item) for item in then.json()["ideas"]] == [b, a]
    assert then.json()["next_before"] is None

    first_page = client.get(f"{PITR}/ideas", params={"as_of": z(at("10:05:00")), "limit": 1}, headers=admin.headers)
    assert [shown(item) for item in first_page.json()["ideas"]] == [a2]
    cursor = first_page.json()["next_before"]
    assert cursor == a2.timestamp
    params = {"as_of": z(at("10:05:00")), "limit": 1, "before": cursor}
    second_page = client.get(f"{PITR}/ideas", params=params, headers=admin.headers)
    assert [shown(item) for item in second_page.json()["ideas"]] == [b]


def test_a_point_in_time_read_withholds_documents_the_administrator_may_not_read(
    client: TestClient, container: Container, clock: FakeClock, admin: Account, analyst: Account
) -> None:
    idea = make_idea(generated_at=at("10:00:00"), owner_id=analyst.user.id)  # cites a passage of doc_1
    passage = "Services revenue grew"
    assert passage in idea.model_dump_json()
    container.ideas.add(idea)
    container.ideas.add(idea.revise(at=at("10:05:00"), title="Retitled later"))
    clock.set(at("10:10:00"))
    as_of = z(at("10:01:00"))

    one = client.get(f"{PITR}/ideas/{idea.id}", params={"as_of": as_of}, headers=admin.headers)
    assert one.status_code == 200, one.text
    assert one.json()["idea"]["restricted_sources"] == 1
    assert one.json()["idea"]["version"] == 1
    listed = client.get(f"{PITR}/ideas", params={"as_of": as_of}, headers=admin.headers)
    restored = client.post(f"{PITR}/ideas/{idea.id}/restore", json={"as_of": as_of}, headers=admin.headers)
    assert restored.status_code == 200, restored.text
    for response in (one, listed, restored):
        assert passage not in response.text

    latest = container.ideas.get(idea.id)  # the restore copied the stored revision whole, not the view
    assert latest.version == 3
    assert latest.supporting_evidence == idea.supporting_evidence


# -- restore ------------------------------------------------------------------------------------------


def test_restoring_an_idea_writes_a_new_revision_of_the_old_content_under_its_current_lifecycle(
    client: TestClient, container: Container, clock: FakeClock, admin: Account, analyst: Account
) -> None:
    v1, v2, v3 = three_revisions(container, analyst)
    clock.set(at("10:10:00"))
    url = f"{PITR}/ideas/{v1.id}/restore"
    in_review = client.post(url, json={"as_of": z(at("10:00:04"))}, headers=admin.headers)
    assert_error(in_review, 409, "conflict")  # what a compliance officer is reviewing never changes under them
    assert len(container.ideas.history(v1.id)) == 3

    v4 = v3.transition(IdeaStatus.DRAFT, by=analyst.user.id, at=at("10:10:01"), reason="withdrawn")
    container.ideas.add(v4)
    clock.set(at("10:10:02"))
    response = client.post(url, json={"as_of": z(at("10:00:04"))}, headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["created"] is True
    assert body["restored_version"] == 1
    restored = container.ideas.get(v1.id)
    assert shown(body["idea"]) == restored
    assert restored.version == 5
    assert restored.timestamp == epoch_ms(at("10:10:02"))
    lifecycle = {"version", "timestamp", "status", "status_history"}
    assert restored.model_dump(exclude=lifecycle) == v1.model_dump(exclude=lifecycle)
    assert (restored.status, restored.status_history) == (v4.status, v4.status_history)
    assert container.ideas.history(v1.id) == [v1, v2, v3, v4, restored]  # history is kept

    clock.advance(timedelta(seconds=5))
    again = client.post(url, json={"as_of": z(at("10:00:04"))}, headers=admin.headers)
    assert again.status_code == 200, again.text
    assert again.json()["created"] is False  # already as it was then: nothing written
    assert len(container.ideas.history(v1.id)) == 5

    undo = client.post(url, json={"as_of": z(at("10:00:07"))}, headers=admin.headers)  # back to v3's content
    assert undo.json()["created"] is True
    latest = container.ideas.get(v1.id)
    assert latest.version == 6
    assert latest.title == v3.title
    assert latest.status is IdeaStatus.DRAFT  # never back in review, nor approved, by a restore


def test_an_approved_idea_is_never_restored(
    client: TestClient, container: Container, clock: FakeClock, admin: Account, analyst: Account
) -> None:
    v1, _, v3 = three_revisions(container, analyst)
    checked = v3.revise(at=at("10:01:00"), compliance=ComplianceStatus(state=ComplianceState.COMPLIANT))
    approved = checked.transition(IdeaStatus.APPROVED, by="officer", at=at("10:02:00"), reason="fine")
    container.ideas.add(checked)
    container.ideas.add(approved)
    clock.set(at("10:10:00"))
    refused = client.post(f"{PITR}/ideas/{v1.id}/restore", json={"as_of": z(at("10:00:04"))}, headers=admin.headers)
    assert_error(refused, 409, "conflict")
    assert container.ideas.get(v1.id) == approved


def test_restoring_a_profile_brings_back_its_settings_under_the_current_account(
    client: TestClient, container: Container, clock: FakeClock, admin: Account, analyst: Account
) -> None:
    clock.set(at("10:00:00"))
    first = put_profile(client, analyst, {"risk_tolerance": "conservative", "sectors": ["Utilities"]})
    clock.set(at("10:00:05"))
    put_profile(client, analyst, {"risk_tolerance": "very_aggressive", "exclusions": ["XOM"]})
    clock.set(at("10:05:00"))
    promoted = client.patch(
        f"/api/v1/admin/users/{analyst.user.id}", json={"role": Role.PORTFOLIO_MANAGER.value}, headers=admin.headers
    )
    assert promoted.status_code == 200, promoted.text
    clock.set(at("10:10:00"))

    url = f"{PITR}/profiles/{analyst.user.id}/restore"
    response = client.post(url, json={"as_of": z(at("10:00:04"))}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["created"] is True
    restored = container.profiles.get(analyst.user.id)
    assert UserProfile.model_validate(response.json()["profile"]) == restored
    assert restored.preferences == first.preferences
    assert restored.notifications == first.notifications
    assert restored.role is Role.PORTFOLIO_MANAGER  # the account's role now, never a former one
    assert restored.updated_at == at("10:10:00")
    assert container.profiles.as_of(analyst.user.id, epoch_ms(at("10:00:05"))).preferences.exclusions == ["XOM"]

    clock.advance(timedelta(seconds=1))
    again = client.post(url, json={"as_of": z(at("10:00:04"))}, headers=admin.headers)
    assert again.json()["created"] is False
    assert container.profiles.get(analyst.user.id) == restored


def test_erasure_removes_every_profile_revision_for_good(
    client: TestClient, container: Container, clock: FakeClock, admin: Account, analyst: Account
) -> None:
    clock.set(at("10:00:00"))
    put_profile(client, analyst, {"sectors": ["Energy"]})
    clock.set(at("10:00:10"))
    url = f"{PITR}/profiles/{analyst.user.id}"
    before = client.get(url, params={"as_of": z(at("10:00:05"))}, headers=admin.headers)
    assert before.status_code == 200, before.text

    clock.set(at("10:01:00"))
    erased = client.post(
        "/api/v1/profile/erase", json={"password": PASSWORD, "confirm": "ERASE"}, headers=analyst.headers
    )
    assert erased.status_code == 204, erased.text
    clock.set(at("10:02:00"))

    for as_of in ("10:00:05", "10:01:00", "10:01:30"):  # absent at, after and even before the erasure
        assert_error(client.get(url, params={"as_of": z(at(as_of))}, headers=admin.headers), 404, "not_found")
    restore = client.post(f"{url}/restore", json={"as_of": z(at("10:00:05"))}, headers=admin.headers)
    assert_error(restore, 404, "not_found")
    with pytest.raises(NotFound):  # gone from the store, not merely hidden
        container.profiles.as_of(analyst.user.id, epoch_ms(at("10:00:05")))
    with closing(sqlite3.connect(f"file:{container.settings.database_path}?mode=ro", uri=True)) as database:
        rows = database.execute("SELECT COUNT(*) FROM profile_revisions WHERE user_id = ?", (analyst.user.id,))
        assert rows.fetchone()[0] == 0


# -- who may, and when --------------------------------------------------------------------------------


def test_only_administrators_of_the_organisation_may_read_or_restore(
    client: TestClient, container: Container, clock: FakeClock, admin: Account, analyst: Account
) -> None:
    v1, _, _ = three_revisions(container, analyst)
    clock.set(at("10:00:00"))
    put_profile(client, analyst, {"sectors": ["Energy"]})
    clock.set(at("10:10:00"))
    as_of = {"as_of": z(at("10:05:00"))}
    reads = [f"{PITR}/ideas/{v1.id}", f"{PITR}/profiles/{analyst.user.id}", f"{PITR}/ideas"]
    restores = [f"{PITR}/ideas/{v1.id}/restore", f"{PITR}/profiles/{analyst.user.id}/restore"]
    for url in reads:
        assert client.get(url, params=as_of, headers=admin.headers).status_code == 200, url

    compliance = sign_up(container, role=Role.COMPLIANCE_OFFICER, organisation=ORG)
    manager = sign_up(container, role=Role.PORTFOLIO_MANAGER, organisation=ORG)
    for account in (analyst, compliance, manager):
        for url in reads:
            assert_error(client.get(url, params=as_of, headers=account.headers), 403, "forbidden")
        for url in restores:
            assert_error(client.post(url, json=as_of, headers=account.headers), 403, "forbidden")

    outsider = sign_up(container, role=Role.ADMINISTRATOR, organisation="org_2")
    for url in reads[:2]:
        assert_error(client.get(url, params=as_of, headers=outsider.headers), 404, "not_found")
    for url in restores:
        assert_error(client.post(url, json=as_of, headers=outsider.headers), 404, "not_found")
    assert client.get(reads[2], params=as_of, headers=outsider.headers).json()["ideas"] == []
    assert len(container.ideas.history(v1.id)) == 3  # nothing was written by a refused restore
    assert client.get(f"{PITR}/ideas", params=as_of).status_code == 401


def test_an_as_of_outside_the_retention_window_is_a_422(
    client: TestClient, container: Container, clock: FakeClock, admin: Account, analyst: Account
) -> None:
    now = at("10:10:00")
    clock.set(now)
    old = plain_idea(generated_at=now - timedelta(days=40), owner_id=analyst.user.id)
    container.ideas.add(old)
    url = f"{PITR}/ideas/{old.id}"

    for inside in (now - timedelta(days=35), now):  # the window's first and last seconds
        assert client.get(url, params={"as_of": z(inside)}, headers=admin.headers).status_code == 200, inside
    too_old = client.get(url, params={"as_of": z(now - timedelta(days=35, seconds=1))}, headers=admin.headers)
    assert_error(too_old, 422, "outside_retention_window")
    assert "35-day retention window" in too_old.json()["error"]["message"]
    future = client.get(url, params={"as_of": z(now + timedelta(seconds=1))}, headers=admin.headers)
    assert_error(future, 422, "outside_retention_window")
    assert "future" in future.json()["error"]["message"]

    naive = client.get(url, params={"as_of": "2024-01-02T10:00:00"}, headers=admin.headers)
    assert_error(naive, 422, "validation_failed")
    assert_error(client.get(url, params={"as_of": "yesterday"}, headers=admin.headers), 422, "validation_error")
    assert_error(client.get(url, headers=admin.headers), 422, "validation_error")

    outside = {"as_of": z(now - timedelta(days=36))}
    assert_error(client.post(f"{url}/restore", json=outside, headers=admin.headers), 422, "outside_retention_window")
    profile_url = f"{PITR}/profiles/{analyst.user.id}"
    assert_error(client.get(profile_url, params=outside, headers=admin.headers), 422, "outside_retention_window")
    assert_error(client.get(f"{PITR}/ideas", params=outside, headers=admin.headers), 422, "outside_retention_window")
    assert len(container.ideas.history(old.id)) == 1


def test_the_retention_window_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from investai.domain.pitr import OutsideRetention

    monkeypatch.setenv("INVESTAI_PITR_RETENTION_DAYS", "7")
    settings = Settings(_env_file=None, data_dir=tmp_path / "var")
    assert settings.pitr_retention_days == 7
    clock = FakeClock(at("10:10:00"))
    container = build_container(settings, clock=clock)
    try:
        admin = sign_up(container, role=Role.ADMINISTRATOR)
        idea = plain_idea(generated_at=clock.now() - timedelta(days=10))
        container.ideas.add(idea)
        principal = principal_of(admin, clock)
        shown_then = container.pitr.idea_as_of(principal, CallContext(), idea.id, clock.now() - timedelta(days=7))
        assert (shown_then.id, shown_then.version) == (idea.id, 1)
        with pytest.raises(OutsideRetention):
            container.pitr.idea_as_of(principal, CallContext(), idea.id, clock.now() - timedelta(days=8))
    finally:
        container.close()


def test_every_point_in_time_read_and_restore_is_audited(
    client: TestClient, container: Container, clock: FakeClock, admin: Account, analyst: Account
) -> None:
    v1, _, v3 = three_revisions(container, analyst)
    container.ideas.add(v3.transition(IdeaStatus.DRAFT, by=analyst.user.id, at=at("10:00:07"), reason="withdrawn"))
    clock.set(at("10:00:00"))
    put_profile(client, analyst, {"sectors": ["Energy"]})
    clock.set(at("10:00:30"))
    put_profile(client, analyst, {"sectors": ["Utilities"]})
    clock.set(at("10:10:00"))
    as_of = z(at("10:00:04"))
    outsider = sign_up(container, role=Role.ADMINISTRATOR, organisation="org_2")

    assert client.get(f"{PITR}/ideas/{v1.id}", params={"as_of": as_of}, headers=admin.headers).status_code == 200
    assert client.get(f"{PITR}/ideas", params={"as_of": as_of}, headers=admin.headers).status_code == 200
    assert client.post(f"{PITR}/ideas/{v1.id}/restore", json={"as_of": as_of}, headers=admin.headers).is_success
    profile = f"{PITR}/profiles/{analyst.user.id}"
    assert client.get(profile, params={"as_of": as_of}, headers=admin.headers).status_code == 200
    assert client.post(f"{profile}/restore", json={"as_of": as_of}, headers=admin.headers).is_success
    denied = client.get(f"{PITR}/ideas/{v1.id}", params={"as_of": as_of}, headers=outsider.headers)
    assert denied.status_code == 404
    too_old = z(at("10:10:00") - timedelta(days=40))
    failed = client.get(f"{PITR}/ideas/{v1.id}", params={"as_of": too_old}, headers=admin.headers)
    assert failed.status_code == 422

    audit = container.identity.audit

    def events(action: str) -> list[Any]:
        return audit.list_events(action=action)

    (restore,) = events("pitr.idea.restore")
    assert (restore.actor_id, restore.organisation_id, restore.resource_type) == (admin.user.id, ORG, "idea")
    assert restore.resource_id == v1.id
    assert restore.outcome is AuditOutcome.SUCCESS
    assert restore.details == {
        "as_of": "2024-01-02T10:00:04+00:00",
        "restored_version": 1,
        "replaced_version": 4,
        "created": True,
        "version": 5,
    }
    (listed,) = events("pitr.idea.list")
    assert listed.outcome is AuditOutcome.SUCCESS
    assert listed.details["count"] == 1
    (profile_read,) = events("pitr.profile.read")
    assert (profile_read.resource_id, profile_read.outcome) == (analyst.user.id, AuditOutcome.SUCCESS)
    (profile_restore,) = events("pitr.profile.restore")
    assert profile_restore.details["created"] is True
    reads = events("pitr.idea.read")  # newest first: failed (too old), denied (other organisation), success
    assert [(event.actor_id, event.outcome) for event in reads] == [
        (admin.user.id, AuditOutcome.FAILURE),
        (outsider.user.id, AuditOutcome.DENIED),
        (admin.user.id, AuditOutcome.SUCCESS),
    ]
    assert reads[0].details["error"] == "outside_retention_window"
    assert reads[2].details["version"] == 1
    assert audit.verify().ok


def test_the_service_refuses_and_audits_a_principal_without_the_permission(
    container: Container, clock: FakeClock, analyst: Account
) -> None:
    from investai.domain.errors import PermissionDenied

    v1, _, _ = three_revisions(container, analyst)
    clock.set(at("10:10:00"))
    with pytest.raises(PermissionDenied):
        container.pitr.restore_idea(principal_of(analyst, clock), CallContext(), v1.id, at("10:00:04"))
    (refused,) = container.identity.audit.list_events(action="pitr.idea.restore")
    assert (refused.actor_id, refused.outcome) == (analyst.user.id, AuditOutcome.DENIED)
    assert len(container.ideas.history(v1.id)) == 3


# -- retention housekeeping ---------------------------------------------------------------------------


def test_the_daily_purge_prunes_old_profile_revisions_but_keeps_every_idea_revision(
    container: Container, clock: FakeClock, admin: Account, analyst: Account
) -> None:
    revisions = [
        make_profile(analyst.user, preferences=InvestmentPreferences(sectors=[f"Sector {day}"]), updated_at=moment)
        for day, moment in enumerate(T0 + timedelta(days=day) for day in range(3))
    ]
    for profile in revisions:
        container.profiles.put(profile)
    idea = plain_idea(generated_at=T0, owner_id=analyst.user.id)
    container.ideas.add(idea)
    container.ideas.add(idea.revise(at=T0 + timedelta(days=1), title="Revised the next day"))
    clock.set(T0 + timedelta(days=40))  # the window now starts at T0 + 5 days

    purge = container.jobs.enqueue(PURGE_EXPIRED)
    job = container.jobs.lease(visibility_timeout=timedelta(minutes=5), kinds=[PURGE_EXPIRED])
    assert job is not None
    assert job.id == purge.id
    assert container.handlers[PURGE_EXPIRED](job)["purged"]["profile_revisions"] == 2

    with pytest.raises(NotFound):
        container.profiles.as_of(analyst.user.id, epoch_ms(T0 + timedelta(days=1)))
    principal = principal_of(admin, clock)
    window_start = clock.now() - timedelta(days=35)
    assert container.pitr.profile_as_of(principal, CallContext(), analyst.user.id, window_start) == revisions[2]
    assert len(container.ideas.history(idea.id)) == 2  # ideas' history of versions is never pruned
    assert container.pitr.idea_as_of(principal, CallContext(), idea.id, window_start).version == 2


# -- the command line ---------------------------------------------------------------------------------


def test_the_cli_shows_restores_and_lists_as_of_a_second(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVESTAI_DATA_DIR", str(tmp_path / "var"))
    settings = Settings(_env_file=None, data_dir=tmp_path / "var")
    container = build_container(settings)  # the system clock, as the command line uses
    try:
        now = container.clock.now().replace(microsecond=0)
        org = settings.default_organisation
        users = container.identity.users
        users.create_user(
            actor=None, email=settings.admin_email, role=Role.ADMINISTRATOR, organisation_id=org, password=PASSWORD
        )
        ana = users.create_user(
            actor=None, email="ana@example.com", role=Role.ANALYST, organisation_id=org, password=PASSWORD
        ).user
        v1 = plain_idea(generated_at=now - timedelta(minutes=10), owner_id=ana.id, organisation_id=org)
        v2 = v1.revise(at=now - timedelta(minutes=5), title="Revised five minutes ago")
        container.ideas.add(v1)
        container.ideas.add(v2)
        first = make_profile(
            ana, preferences=InvestmentPreferences(sectors=["Energy"]), updated_at=now - timedelta(minutes=10)
        )
        container.profiles.put(first)
        container.profiles.put(
            make_profile(
                ana, preferences=InvestmentPreferences(sectors=["Utilities"]), updated_at=now - timedelta(minutes=5)
            )
        )
    finally:
        container.close()
    runner = CliRunner()
    then = z(now - timedelta(minutes=7))

    idea_then = runner.invoke(app, ["pitr", "show", "idea", v1.id, "--as-of", then])
    assert idea_then.exit_code == 0, idea_then.output
    assert shown(json.loads(idea_then.stdout)["idea"]) == v1
    profile = runner.invoke(app, ["pitr", "show", "profile", ana.id, "--as-of", then])
    assert profile.exit_code == 0, profile.output
    assert UserProfile.model_validate(json.loads(profile.stdout)["profile"]) == first

    listed = runner.invoke(app, ["pitr", "ideas", "--as-of", then, "--json"])
    assert listed.exit_code == 0, listed.output
    assert [shown(item) for item in json.loads(listed.stdout)["ideas"]] == [v1]

    restored = runner.invoke(app, ["pitr", "restore", "idea", v1.id, "--as-of", then])
    assert restored.exit_code == 0, restored.output
    assert "restored as version 3" in restored.stdout
    restored_profile = runner.invoke(app, ["pitr", "restore", "profile", ana.id, "--as-of", then])
    assert restored_profile.exit_code == 0, restored_profile.output

    too_old = runner.invoke(app, ["pitr", "show", "idea", v1.id, "--as-of", z(now - timedelta(days=36))])
    assert too_old.exit_code == 2
    assert "retention window" in too_old.output
    missing = runner.invoke(app, ["pitr", "show", "idea", "idea_missing", "--as-of", then])
    assert missing.exit_code == 1
    refused = runner.invoke(app, ["pitr", "show", "idea", v1.id, "--as-of", then, "--as", "ana@example.com"])
    assert refused.exit_code == 1
    assert "may not data:restore" in refused.output
    assert runner.invoke(app, ["pitr", "show", "idea", v1.id, "--as-of", "soon"]).exit_code == 2

    reopened = build_container(settings)
    try:
        latest = reopened.ideas.get(v1.id)
        assert latest.version == 3
        assert latest.model_dump(exclude={"version", "timestamp"}) == v1.model_dump(exclude={"version", "timestamp"})
        assert reopened.profiles.get(ana.id).preferences == first.preferences
        actions = {event.action for event in reopened.identity.audit.list_events(limit=50)}
        assert {"pitr.idea.read", "pitr.profile.read", "pitr.idea.list", "pitr.idea.restore"} <= actions
    finally:
        reopened.close()

"""Access tokens are the sharing rule as set membership: the search index filters on them, so they must agree
with :func:`shared_with` for every item and every reader, not only the usual ones."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from investai.domain.documents import Visibility, access_tokens, reader_tokens, shared_with
from investai.domain.knowledge import AccessScope
from tests.contract.knowledge_fixtures import make_chunk

# a small alphabet, ':' included (identifiers allow it), so that ids collide, nest and share prefixes often
IDS = st.text(alphabet="ab:_.", min_size=1, max_size=4)
ROLES = st.sampled_from(["analyst", "portfolio_manager", "compliance_officer", "admin"])


@dataclass(frozen=True)
class Item:
    owner_id: str
    organisation_id: str
    visibility: Visibility
    allowed_roles: list[str] = field(default_factory=list)
    allowed_users: list[str] = field(default_factory=list)


ITEMS = st.builds(
    Item,
    owner_id=IDS,
    organisation_id=IDS,
    visibility=st.sampled_from(list(Visibility)),
    allowed_roles=st.lists(ROLES, max_size=3),
    allowed_users=st.lists(IDS, max_size=3),
)


@given(item=ITEMS, user_id=IDS, organisation_id=IDS, role=ROLES)
def test_tokens_meet_exactly_when_the_sharing_rule_allows(
    item: Item, user_id: str, organisation_id: str, role: str
) -> None:
    held = reader_tokens(user_id=user_id, organisation_id=organisation_id, role=role)
    meets = bool(set(access_tokens(item)) & set(held))
    assert meets == shared_with(item, user_id=user_id, organisation_id=organisation_id, role=role)


def test_ids_containing_the_other_ids_cannot_forge_a_token() -> None:
    """Identifiers may contain ':', so the separator must be something they cannot hold."""
    item = Item(owner_id="b:c", organisation_id="a", visibility=Visibility.PRIVATE)
    assert not set(access_tokens(item)) & set(reader_tokens(user_id="c", organisation_id="a:b", role="analyst"))


def test_a_scope_holds_the_reader_tokens() -> None:
    scope = AccessScope(user_id="usr_1", organisation_id="org_1", role="analyst")
    chunk = make_chunk("text", owner=scope)
    assert set(scope.tokens()) & set(access_tokens(chunk))
    assert scope.tokens() == reader_tokens(user_id="usr_1", organisation_id="org_1", role="analyst")

"""Contract of the SearchIndex port, run against every adapter in :data:`ADAPTERS`.

Vectors come from :class:`HashingEmbedder` (bag of words hashed into 384 dimensions), so which chunk is
nearest is known exactly and no model is loaded. To add an adapter (OpenSearch, say), write a factory that
returns an :class:`IndexHarness` over fresh storage and add it to ``ADAPTERS``. The tests at the end are
specific to LanceDB (its ANN index).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from investai.adapters.local import lancedb_index
from investai.adapters.local.lancedb_index import LanceDbSearchIndex, fuse
from investai.domain.documents import DocumentType, Visibility
from investai.domain.knowledge import AccessScope, Chunk, ChunkKind, SearchFilters, SearchHit, SearchMode
from investai.ports.knowledge import KEYWORD_WEIGHT, MIN_HITS, SearchIndex
from tests.contract.knowledge_fixtures import ALICE, BOB, DIMENSION, MALLORY, ORG, HashingEmbedder, make_chunk
from tests.factories import T0

EMBEDDER = HashingEmbedder()
ALL_MODES = list(SearchMode)


@dataclass(frozen=True)
class IndexHarness:
    index: SearchIndex
    reopen: Callable[[], SearchIndex]
    """A new index instance over the same storage, as after a process restart."""
    cleanup: Callable[[], None] | None = None
    """Removes the storage after the test (once every index instance is closed), where tmp_path does not."""


def _lancedb_adapter(tmp_path: Path, opened: list[SearchIndex]) -> IndexHarness:
    def build() -> SearchIndex:
        index = LanceDbSearchIndex(path=tmp_path / "knowledge", dimension=DIMENSION)
        opened.append(index)
        return index

    return IndexHarness(index=build(), reopen=build)


_SHARED_LOCKS: dict[str, str] = {}


def _shared_locks(clients: Any) -> str:
    """One lock table per moto server, made on first use (each index takes a lease of its own name)."""
    from investai.adapters.aws.provision import ensure_table
    from investai.adapters.aws.resources import LOCKS_TABLE
    from tests.aws import fresh_prefix

    endpoint = str(clients.endpoint_url("dynamodb"))
    if endpoint not in _SHARED_LOCKS:
        _SHARED_LOCKS[endpoint] = f"{fresh_prefix()}-locks"
        ensure_table(clients.client("dynamodb"), LOCKS_TABLE, _SHARED_LOCKS[endpoint])
    return _SHARED_LOCKS[endpoint]


def _lancedb_s3_adapter(tmp_path: Path, opened: list[SearchIndex]) -> IndexHarness:
    """LanceDB on S3 (the session's moto server): a fresh prefix, writers serialised by a DynamoDB lease."""
    from investai.adapters.aws.clients import AwsClients
    from investai.adapters.aws.dynamodb_lock import DynamoDbLease
    from tests.aws import REGION, fresh_prefix

    clients = AwsClients(region=REGION)
    locks = _shared_locks(clients)
    prefix = fresh_prefix()
    bucket = f"{prefix}-data"  # a bucket each: an emulator lists a prefix by scanning its whole bucket
    clients.client("s3").create_bucket(Bucket=bucket)
    lease = DynamoDbLease(clients.client("dynamodb"), locks, f"search-index-{prefix}")

    def build() -> SearchIndex:
        index = LanceDbSearchIndex(
            path=f"s3://{bucket}/knowledge",
            dimension=DIMENSION,
            storage_options=clients.lancedb_storage_options(),
            write_lock=lease,
        )
        opened.append(index)
        return index

    return IndexHarness(index=build(), reopen=build)


OPENSEARCH_URL = os.environ.get("OPENSEARCH_URL")


def _opensearch_adapter(tmp_path: Path, opened: list[SearchIndex]) -> IndexHarness:
    """A fresh index (and its hybrid pipeline) on the cluster at ``OPENSEARCH_URL``, dropped after the test;
    ``OPENSEARCH_AUTH=sigv4`` signs with the AWS credentials (region from ``AWS_REGION``)."""
    from investai.adapters.aws.opensearch_index import OpenSearchSearchIndex, build_opensearch_client

    name = f"investai-contract-{uuid.uuid4().hex[:12]}"

    def connect() -> OpenSearchSearchIndex:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
        auth = os.environ.get("OPENSEARCH_AUTH", "none")
        client = build_opensearch_client(str(OPENSEARCH_URL), region=region, auth=auth)
        return OpenSearchSearchIndex(client, index=name, dimension=DIMENSION)

    def build() -> SearchIndex:
        index = connect()
        opened.append(index)
        return index

    def drop() -> None:
        index = connect()
        index.drop()
        index.close()

    return IndexHarness(index=build(), reopen=build, cleanup=drop)


ADAPTERS: dict[str, Callable[[Path, list[SearchIndex]], IndexHarness]] = {
    "lancedb": _lancedb_adapter,
    "lancedb-s3": _lancedb_s3_adapter,
}
NEEDS_MOTO = {"lancedb-s3"}
if OPENSEARCH_URL:
    ADAPTERS["opensearch"] = _opensearch_adapter
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {}
"""(adapter, test) pairs expected to fail, and why (strict: remove the entry once the test passes)."""


@pytest.fixture(params=sorted(ADAPTERS))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IndexHarness]:
    opened: list[SearchIndex] = []
    if request.param in NEEDS_MOTO:
        request.getfixturevalue("aws_environment")
    difference = KNOWN_DIFFERENCES.get((request.param, request.node.originalname))
    if difference is not None:
        request.applymarker(pytest.mark.xfail(reason=difference, strict=True))
    built = ADAPTERS[request.param](tmp_path, opened)
    yield built
    for index in opened:
        index.close()
    if built.cleanup is not None:
        built.cleanup()


@pytest.fixture
def index(harness: IndexHarness) -> SearchIndex:
    return harness.index


def put(index: SearchIndex, *chunks: Chunk) -> None:
    """Index ``chunks``, each document's replacing whatever it had."""
    by_document: dict[str, list[Chunk]] = defaultdict(list)
    for chunk in chunks:
        by_document[chunk.document_id].append(chunk)
    for document_id, members in by_document.items():
        index.replace_document(document_id, members, EMBEDDER.embed([chunk.text for chunk in members]))


def search(
    index: SearchIndex,
    query: str,
    mode: SearchMode = SearchMode.HYBRID,
    *,
    scope: AccessScope = ALICE,
    filters: SearchFilters | None = None,
    limit: int = 10,
) -> list[SearchHit]:
    return index.search(
        query=query,
        vector=EMBEDDER.embed_one(query),
        mode=mode,
        scope=scope,
        filters=filters or SearchFilters(),
        limit=limit,
    )


def ids(hits: list[SearchHit]) -> list[str]:
    return [hit.chunk.id for hit in hits]


# --- writes, counts, round trip ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ALL_MODES)
def test_an_empty_index_finds_nothing(index: SearchIndex, mode: SearchMode) -> None:
    assert search(index, "revenue growth", mode) == []
    assert index.count() == 0
    assert index.chunks("doc_a") == []
    assert index.delete_document("doc_a") == 0


def test_replacing_a_document_twice_leaves_the_same_chunks(index: SearchIndex) -> None:
    chunks = [make_chunk(f"passage number {n} about margins", ordinal=n) for n in range(3)]
    put(index, *chunks)
    put(index, *chunks)

    assert index.count() == 3
    assert index.chunks("doc_a") == chunks
    for mode in ALL_MODES:
        assert sorted(ids(search(index, "margins", mode))) == [c.id for c in chunks]


def test_replacing_a_document_removes_the_chunks_of_its_earlier_version(index: SearchIndex) -> None:
    put(index, *[make_chunk(f"old draft {n} mentions zeppelin", ordinal=n) for n in range(4)])
    new = [make_chunk(f"final text {n} mentions airship", ordinal=n, version=2) for n in range(2)]
    put(index, *new)

    assert index.chunks("doc_a") == new
    assert search(index, "zeppelin", SearchMode.KEYWORD) == []
    assert {h.chunk.version for h in search(index, "old draft zeppelin", SearchMode.SEMANTIC)} == {2}
    assert set(ids(search(index, "airship", SearchMode.KEYWORD))) == {c.id for c in new}


def test_replacing_with_no_chunks_empties_the_document(index: SearchIndex) -> None:
    put(index, make_chunk("temporary text"))
    index.replace_document("doc_a", [], np.zeros((0, DIMENSION), dtype=np.float32))

    assert index.count("doc_a") == 0


def test_replace_rejects_mismatched_input(index: SearchIndex) -> None:
    chunk = make_chunk("some text")
    with pytest.raises(ValueError, match="vectors"):
        index.replace_document("doc_a", [chunk], EMBEDDER.embed(["a", "b"]))
    with pytest.raises(ValueError, match="doc_b"):
        index.replace_document("doc_b", [chunk], EMBEDDER.embed(["some text"]))
    assert index.count() == 0


def test_delete_removes_only_that_document_and_counts_what_it_removed(index: SearchIndex) -> None:
    put(index, *[make_chunk(f"alpha {n}", ordinal=n) for n in range(3)])
    put(index, *[make_chunk(f"beta {n}", document_id="doc_b", ordinal=n) for n in range(2)])

    assert (index.count(), index.count("doc_a"), index.count("doc_b")) == (5, 3, 2)
    assert index.delete_document("doc_a") == 3
    assert index.delete_document("doc_a") == 0
    assert (index.count(), index.count("doc_a")) == (2, 0)
    assert search(index, "alpha", SearchMode.KEYWORD) == []
    assert len(search(index, "beta", SearchMode.KEYWORD)) == 2


def test_chunks_come_back_in_ordinal_order_with_every_field(harness: IndexHarness) -> None:
    rich = make_chunk(
        "Region | Revenue\nEMEA | 12.5",
        ordinal=2,
        version=3,
        kind=ChunkKind.TABLE,
        title='Quarterly "report" — O\'Neil',
        section="Results",
        page=4,
        table="Revenue by region",
        row_start=1,
        row_end=20,
        start_offset=17,
        end_offset=99,
        visibility=Visibility.USERS,
        allowed_roles=["analyst", "portfolio-manager"],
        allowed_users=["user_bob", "user_carol"],
        doc_type=DocumentType.XLSX,
        tags=["emea", "q3 2024", "it's tagged"],
        document_date=T0 + timedelta(microseconds=123456),
    )
    plain = [make_chunk(f"plain {n}", ordinal=n, version=3) for n in (0, 1, 3)]
    put(harness.index, plain[2], rich, plain[0], plain[1])

    expected = [plain[0], plain[1], rich, plain[2]]
    assert harness.index.chunks("doc_a") == expected
    assert harness.reopen().chunks("doc_a") == expected


# --- ranking --------------------------------------------------------------------------------------------------


def test_keyword_search_finds_exact_terms_and_ranks_more_occurrences_higher(index: SearchIndex) -> None:
    put(
        index,
        make_chunk("dividend policy was discussed briefly", ordinal=0),
        make_chunk("dividend dividend dividend: the dividend cover improved", ordinal=1),
        make_chunk("capital expenditure rose", ordinal=2),
    )

    hits = search(index, "dividend", SearchMode.KEYWORD)

    assert ids(hits) == ["doc_a:v1:1", "doc_a:v1:0"]
    assert hits[0].score > hits[1].score > 0
    assert all(h.keyword_score == h.score and h.semantic_score is None for h in hits)
    assert [h.keyword_rank for h in hits] == [1, 2]


def test_keyword_search_also_matches_the_title(index: SearchIndex) -> None:
    put(index, make_chunk("nothing relevant here", title="Semiconductor outlook"), make_chunk("x", document_id="d2"))

    assert ids(search(index, "semiconductor", SearchMode.KEYWORD)) == ["doc_a:v1:0"]


def test_semantic_search_orders_by_cosine_similarity(index: SearchIndex) -> None:
    texts = ["oil price shock hits airlines", "airlines hedge fuel", "banks raise rates", "oil majors buy back"]
    put(index, *[make_chunk(text, ordinal=n) for n, text in enumerate(texts)])
    query = "oil price airlines"
    similarity = EMBEDDER.embed(texts) @ np.asarray(EMBEDDER.embed_one(query), dtype=np.float32)
    expected = [f"doc_a:v1:{n}" for n in np.argsort(-similarity, kind="stable")[:3]]

    hits = search(index, query, SearchMode.SEMANTIC, limit=3)

    assert ids(hits) == expected
    assert [h.score for h in hits] == pytest.approx(sorted(similarity, reverse=True)[:3], abs=1e-5)
    assert [h.semantic_rank for h in hits] == [1, 2, 3]
    assert all(h.keyword_score is None and h.keyword_rank is None for h in hits)


def test_hybrid_search_fuses_normalised_scores_and_keeps_both_components(index: SearchIndex) -> None:
    put(
        index,
        make_chunk("lithium supply contracts", ordinal=0),  # both lists, first in each
        make_chunk("battery makers", ordinal=1),  # no query word: found by the vector search alone
        make_chunk("cobalt mines", ordinal=2),
    )

    hits = search(index, "lithium supply", SearchMode.HYBRID)

    assert hits[0].chunk.id == "doc_a:v1:0"
    top = hits[0]
    assert (top.keyword_rank, top.semantic_rank) == (1, 1)
    assert top.keyword_score is not None
    assert top.semantic_score is not None
    assert top.score == pytest.approx(1.0)  # the best of both halves: alpha * 1 + (1 - alpha) * 1
    for hit in hits[1:]:
        assert hit.keyword_rank is None
        assert hit.keyword_score is None
        assert hit.semantic_rank is not None
        assert 0.0 <= hit.score <= 1 - KEYWORD_WEIGHT + 1e-6  # nothing from the keyword half
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_hybrid_search_ranks_a_chunk_found_by_both_above_one_found_by_either(index: SearchIndex) -> None:
    put(
        index,
        make_chunk("tariff tariff tariff tariff news", ordinal=0),  # best keyword match
        make_chunk("steel tariff imports", ordinal=1),  # good in both
        make_chunk("steel imports steel imports", ordinal=2),  # close in meaning, lacks 'tariff'
    )

    hits = search(index, "steel tariff imports", SearchMode.HYBRID)

    assert hits[0].chunk.id == "doc_a:v1:1"
    assert {h.chunk.id for h in hits} == {"doc_a:v1:0", "doc_a:v1:1", "doc_a:v1:2"}


def test_limit_caps_the_results(index: SearchIndex) -> None:
    put(index, *[make_chunk(f"growth story {n}", ordinal=n) for n in range(8)])

    for mode in ALL_MODES:
        assert len(search(index, "growth", mode, limit=3)) == 3
        assert len(search(index, "growth", mode, limit=20)) == 8  # all equally relevant: all of them


# --- the relevance floor ------------------------------------------------------------------------------------

LITHIUM = ["lithium supply contracts signed", "lithium supply deficit widens", "lithium supply chain risks"]
UNRELATED = [
    "bank deposits grew modestly",
    "oil majors cut capex",
    "pharma patent cliff looms",
    "retail footfall weakened",
    "cloud revenue accelerated",
    "airline fares rose sharply",
    "insurers raised premiums",
    "steelmakers idle furnaces",
    "brewers face barley costs",
    "railways haul more grain",
    "semiconductor inventories normalised",
    "utilities hedge power prices",
]


@pytest.mark.parametrize("mode", ALL_MODES)
def test_a_search_returns_the_relevant_chunks_not_limit_many(index: SearchIndex, mode: SearchMode) -> None:
    """Three chunks answer the query and twelve share nothing with it: a search with room for ten returns the
    three, not three and seven fillers."""
    relevant = [make_chunk(text, document_id=f"lithium_{n}") for n, text in enumerate(LITHIUM)]
    filler = [make_chunk(text, document_id=f"other_{n}") for n, text in enumerate(UNRELATED)]
    put(index, *relevant, *filler)

    hits = search(index, "lithium supply", mode, limit=10)

    assert {hit.chunk.id for hit in hits} == {chunk.id for chunk in relevant}


def test_the_best_hits_are_returned_however_weak_the_rest(index: SearchIndex) -> None:
    """One chunk matches the query exactly and five share one word of five with it: far below the floor, but
    the best few hits are always shown, so a search never stops at a single confident hit."""
    exact = make_chunk("alpha beta gamma delta epsilon", document_id="exact")
    weak = [make_chunk(f"alpha zeta{n} eta{n} theta{n} iota{n}", document_id=f"weak_{n}") for n in range(5)]
    put(index, exact, *weak)

    hits = search(index, "alpha beta gamma delta epsilon", SearchMode.SEMANTIC, limit=10)

    assert len(hits) == MIN_HITS
    assert hits[0].chunk.id == exact.id
    assert {hit.chunk.id for hit in hits[1:]} <= {chunk.id for chunk in weak}


# --- access -----------------------------------------------------------------------------------------------------

ACCESS_CASES = [
    # (chunk fields, scope, visible)
    ({"owner": ALICE}, ALICE, True),
    ({"owner": BOB}, ALICE, False),
    ({"owner": BOB, "visibility": Visibility.ORGANISATION}, ALICE, True),
    ({"owner": BOB, "visibility": Visibility.ORGANISATION}, MALLORY, False),
    ({"owner": BOB, "visibility": Visibility.ROLES, "allowed_roles": ["analyst"]}, ALICE, True),
    ({"owner": BOB, "visibility": Visibility.ROLES, "allowed_roles": ["compliance-officer"]}, ALICE, False),
    ({"owner": BOB, "visibility": Visibility.ROLES, "allowed_roles": ["analyst"]}, MALLORY, False),
    ({"owner": BOB, "visibility": Visibility.USERS, "allowed_users": ["user_alice"]}, ALICE, True),
    ({"owner": BOB, "visibility": Visibility.USERS, "allowed_users": ["user_carol"]}, ALICE, False),
    ({"owner": BOB, "visibility": Visibility.USERS, "allowed_users": ["user_mallory"]}, MALLORY, False),
    # allow-lists only count under their visibility
    ({"owner": BOB, "visibility": Visibility.PRIVATE, "allowed_users": ["user_alice"]}, ALICE, False),
    ({"owner": BOB, "visibility": Visibility.USERS, "allowed_roles": ["analyst"]}, ALICE, False),
]
ACCESS_IDS = [
    "own-private",
    "other-users-private",
    "organisation",
    "organisation-of-another-org",
    "role-listed",
    "role-not-listed",
    "role-listed-other-org",
    "user-listed",
    "user-not-listed",
    "user-listed-other-org",
    "private-with-stale-user-list",
    "users-with-role-list",
]


@pytest.mark.parametrize(("fields", "scope", "visible"), ACCESS_CASES, ids=ACCESS_IDS)
def test_search_applies_every_access_rule(
    index: SearchIndex, fields: dict[str, object], scope: AccessScope, visible: bool
) -> None:
    chunk = make_chunk("confidential merger memo", **fields)  # type: ignore[arg-type]
    put(index, chunk, make_chunk("unrelated filler", document_id="doc_z", owner=scope))
    assert scope.allows(chunk) is visible  # the domain's reference rule agrees with the expectation

    for mode in ALL_MODES:
        found = chunk.id in ids(search(index, "confidential merger memo", mode, scope=scope))
        assert found is visible, mode


def test_the_access_filter_runs_before_ranking(index: SearchIndex) -> None:
    """200 of Bob's private chunks match better than Alice's one chunk: a filter applied after taking the
    top results would leave Alice with nothing."""
    query = "quarterly revenue guidance"
    put(index, *[make_chunk(query, document_id=f"bob_{n}", owner=BOB) for n in range(200)])
    mine = make_chunk("revenue notes", document_id="alice_doc")
    put(index, mine)

    for mode in ALL_MODES:
        assert ids(search(index, query, mode, limit=1)) == [mine.id], mode
        assert ids(search(index, query, mode, limit=5)) == [mine.id], mode


def test_no_result_ever_fails_the_scope(index: SearchIndex) -> None:
    scopes = [ALICE, BOB, MALLORY]
    visibilities = list(Visibility)
    chunks = [
        make_chunk(
            f"shared text number {n}",
            document_id=f"doc_{n}",
            owner=scopes[n % 3],
            visibility=visibilities[n % 4],
            allowed_roles=["analyst"] if n % 5 else [],
            allowed_users=["user_alice", "user_bob"] if n % 7 else [],
        )
        for n in range(40)
    ]
    put(index, *chunks)

    for scope in scopes:
        expected = {c.id for c in chunks if scope.allows(c)}
        for mode in ALL_MODES:
            assert set(ids(search(index, "shared text number", mode, scope=scope, limit=100))) == expected


CAROL = AccessScope(user_id="user_carol", organisation_id=ORG, role="analyst")
"""Alice's colleague in the same role: the same organisation and role tokens, a different own token."""


def test_repeated_searches_follow_every_change_of_content_and_sharing(harness: IndexHarness) -> None:
    """The same search asked again, by the same reader and by a colleague in the same role, after each kind of
    write: each answer is what the index holds at that moment (a kept answer is never served stale)."""
    index = harness.index
    memo = "confidential merger memo"
    put(index, make_chunk(memo, document_id="memo", owner=BOB), make_chunk("unrelated filler", document_id="f"))

    def seen(scope: AccessScope) -> dict[SearchMode, list[str]]:
        return {mode: ids(search(index, memo, mode, scope=scope)) for mode in ALL_MODES}

    for _ in range(2):  # asked twice: the second answer may be a kept one and must agree
        assert all("memo:v1:0" not in found for found in seen(ALICE).values())
        assert all("memo:v1:0" not in found for found in seen(CAROL).values())
    put(
        index,
        make_chunk(memo, document_id="memo", owner=BOB, visibility=Visibility.USERS, allowed_users=["user_alice"]),
    )
    assert all("memo:v1:0" in found for found in seen(ALICE).values())
    assert all("memo:v1:0" not in found for found in seen(CAROL).values())  # same role, not named
    put(index, make_chunk(memo, document_id="memo", owner=BOB, visibility=Visibility.ROLES, allowed_roles=["analyst"]))
    assert all("memo:v1:0" in found for found in seen(CAROL).values())
    put(index, make_chunk(memo, document_id="memo", owner=BOB))  # the sharing withdrawn
    assert all("memo:v1:0" not in found for found in seen(ALICE).values())
    assert all("memo:v1:0" not in found for found in seen(CAROL).values())
    put(index, make_chunk(memo, document_id="memo", owner=BOB, visibility=Visibility.ORGANISATION, version=2))
    assert all(found and found[0] == "memo:v2:0" for found in seen(CAROL).values())
    index.delete_document("memo")
    assert all("memo:v2:0" not in found for found in seen(CAROL).values())


def test_readers_of_one_role_get_only_their_own_private_documents_in_either_order(index: SearchIndex) -> None:
    """Alice owns a private note Carol (same organisation and role) may not read: whichever of them searches
    first, each gets exactly what they may see."""
    text = "private pipeline notes"
    put(index, make_chunk(text, document_id="alice_note"), make_chunk(text, document_id="org", owner=BOB,
        visibility=Visibility.ORGANISATION))  # fmt: skip
    for order in ((CAROL, ALICE, CAROL), (ALICE, CAROL, ALICE)):
        for scope in order:
            for mode in ALL_MODES:
                found = set(ids(search(index, text, mode, scope=scope)))
                expected = {"org:v1:0", "alice_note:v1:0"} if scope is ALICE else {"org:v1:0"}
                assert found == expected, (scope.user_id, mode)


def test_a_search_sees_what_another_instance_wrote_after_it_last_searched(harness: IndexHarness) -> None:
    """Another process (an index instance of its own on the same storage) shares and then withdraws a
    document between two identical searches of this one: both show the change."""
    index, other = harness.index, harness.reopen()
    text = "cross process sharing check"
    put(index, make_chunk(text, document_id="mine", owner=CAROL), make_chunk(text, document_id="bobs", owner=BOB))
    assert ids(search(index, text, SearchMode.HYBRID, scope=CAROL)) == ["mine:v1:0"]
    put(other, make_chunk(text, document_id="bobs", owner=BOB, visibility=Visibility.ORGANISATION))
    assert set(ids(search(index, text, SearchMode.HYBRID, scope=CAROL))) == {"mine:v1:0", "bobs:v1:0"}
    put(other, make_chunk(text, document_id="bobs", owner=BOB))
    assert ids(search(index, text, SearchMode.HYBRID, scope=CAROL)) == ["mine:v1:0"]


# --- filters ----------------------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(index: SearchIndex) -> SearchIndex:
    put(
        index,
        make_chunk("market outlook", document_id="d1", doc_type=DocumentType.PDF, tags=["macro", "2024"]),
        make_chunk("market outlook", document_id="d2", doc_type=DocumentType.CSV, tags=["equities"]),
        make_chunk(
            "market outlook", document_id="d3", doc_type=DocumentType.JSON, document_date=T0 + timedelta(days=10)
        ),
        make_chunk(
            "market outlook", document_id="d4", doc_type=DocumentType.PDF, document_date=T0 - timedelta(days=10)
        ),
    )
    return index


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (SearchFilters(document_ids=["d1", "d3"]), {"d1", "d3"}),
        (SearchFilters(doc_types=[DocumentType.PDF]), {"d1", "d4"}),
        (SearchFilters(doc_types=[DocumentType.CSV, DocumentType.JSON]), {"d2", "d3"}),
        (SearchFilters(tags=["macro", "equities"]), {"d1", "d2"}),
        (SearchFilters(tags=["2024"]), {"d1"}),
        (SearchFilters(date_from=T0), {"d1", "d2", "d3"}),
        (SearchFilters(date_to=T0), {"d1", "d2", "d4"}),
        (SearchFilters(date_from=T0 - timedelta(days=1), date_to=T0 + timedelta(days=1)), {"d1", "d2"}),
        (SearchFilters(doc_types=[DocumentType.PDF], date_from=T0), {"d1"}),
        (SearchFilters(document_ids=["nope"]), set()),
    ],
    ids=["ids", "type", "types", "tags-any", "tag", "from", "to", "range", "type-and-date", "unknown-id"],
)
def test_filters_narrow_every_mode(catalogue: SearchIndex, filters: SearchFilters, expected: set[str]) -> None:
    for mode in ALL_MODES:
        hits = search(catalogue, "market outlook", mode, filters=filters)
        assert {h.chunk.document_id for h in hits} == expected, mode


# --- hostile input ----------------------------------------------------------------------------------------------

INJECTIONS = ["x' OR '1'='1", "') OR (1=1) --", "\\' OR 1=1 --", "'; DROP TABLE chunks; --", '" OR ""="']


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_in_query_text_neither_breaks_nor_widens_search(index: SearchIndex, text: str) -> None:
    put(index, make_chunk("bob's secret OR 1 1 x", owner=BOB), make_chunk("my own note", document_id="d2"))

    for mode in ALL_MODES:
        assert {h.chunk.owner_id for h in search(index, text, mode)} <= {ALICE.user_id}
    assert index.count() == 2


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_in_scope_and_filter_values_matches_nothing(index: SearchIndex, text: str) -> None:
    put(
        index,
        make_chunk("organisation wide text", owner=BOB, visibility=Visibility.ORGANISATION),
        make_chunk("private text", document_id="d2", owner=BOB),
        make_chunk("role text", document_id="d3", owner=BOB, visibility=Visibility.ROLES, allowed_roles=["analyst"]),
    )
    # the domain types would refuse these values; the adapter must be safe without that help
    hostile_scopes = [
        AccessScope.model_construct(user_id=text, organisation_id=ORG, role="nobody"),
        AccessScope.model_construct(user_id="user_x", organisation_id=text, role="analyst"),
        AccessScope.model_construct(user_id="user_x", organisation_id=ORG, role=text),
    ]
    for scope in hostile_scopes:
        for mode in ALL_MODES:
            assert {h.chunk.document_id for h in search(index, "text", mode, scope=scope)} <= {"doc_a"}
    hostile_filters = [SearchFilters(tags=[text]), SearchFilters.model_construct(document_ids=[text])]
    for filters in hostile_filters:
        for mode in ALL_MODES:
            assert search(index, "text", mode, scope=BOB, filters=filters) == []
    assert index.delete_document(text) == 0
    assert index.count(text) == 0
    assert index.chunks(text) == []
    assert index.count() == 3


# --- concurrency and persistence -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ALL_MODES)
def test_searches_run_safely_while_documents_are_rewritten(index: SearchIndex, mode: SearchMode) -> None:
    """Each search sees a document's old chunks or its new ones, never a mixture or nothing (for hybrid
    search: both rankings and the rows they name come from one version)."""
    versions = [[make_chunk(f"rotating text {n} v{v}", ordinal=n, version=v) for n in range(4)] for v in (1, 2)]
    put(index, *versions[0])
    stop = threading.Event()

    def write() -> None:
        for round_ in range(24):  # enough writes for the LanceDB adapter to optimise meanwhile
            put(index, *versions[round_ % 2])
        stop.set()

    def read() -> set[frozenset[int]]:
        seen: set[frozenset[int]] = set()
        while not stop.is_set():
            hits = search(index, "rotating text", mode, limit=20)
            seen.add(frozenset(h.chunk.version for h in hits))
            assert len(hits) == 4
        return seen

    with ThreadPoolExecutor(max_workers=3) as pool:
        readers = [pool.submit(read) for _ in range(2)]
        pool.submit(write).result()
        seen = set().union(*(reader.result() for reader in readers))
    assert seen <= {frozenset({1}), frozenset({2})}


def test_a_reopened_index_finds_what_was_written(harness: IndexHarness) -> None:
    put(harness.index, make_chunk("durable words"))

    assert ids(search(harness.reopen(), "durable", SearchMode.HYBRID)) == ["doc_a:v1:0"]


@pytest.mark.parametrize("mode", [SearchMode.SEMANTIC, SearchMode.HYBRID])
def test_semantic_modes_need_a_vector(index: SearchIndex, mode: SearchMode) -> None:
    with pytest.raises(ValueError, match="vector"):
        index.search(query="x", vector=None, mode=mode, scope=ALICE, filters=SearchFilters(), limit=5)


@pytest.mark.skipif(
    not OPENSEARCH_URL, reason="set OPENSEARCH_URL to run the SearchIndex contract suite against OpenSearch"
)
def test_the_suite_runs_against_opensearch_when_a_cluster_is_given() -> None:
    assert "opensearch" in ADAPTERS


# --- LanceDB specifics: the ANN index --------------------------------------------------------------------------


def test_lancedb_builds_an_ann_index_past_the_threshold_and_keeps_filtering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lancedb_index, "ROWS_PER_PARTITION", 10)  # 30-40 partitions: probing is exercised
    # unclustered random vectors are IVF's worst case, and its k-means is randomly initialised: probing 32 of
    # the ~40 partitions keeps recall steadily above the bar while still leaving partitions unprobed
    monkeypatch.setattr(lancedb_index, "ANN_NPROBES", 32)
    index = LanceDbSearchIndex(path=tmp_path / "ann", dimension=DIMENSION, ann_threshold=300)
    rng = np.random.default_rng(7)
    stored = rng.normal(size=(400, DIMENSION)).astype(np.float32)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    for doc in range(8):
        owner = BOB if doc % 4 == 0 else ALICE
        rows = range(doc * 50, doc * 50 + 50)
        chunks = [make_chunk(f"chunk {n}", document_id=f"d{doc}", ordinal=n, owner=owner) for n in rows]
        index.replace_document(f"d{doc}", chunks, stored[doc * 50 : doc * 50 + 50])
    assert index.has_vector_index()

    narrow = SearchFilters(document_ids=["d3"])
    recalls: dict[str, list[float]] = {"scope": [], "narrow": []}
    for n in range(0, 400, 20):
        vector = [float(x) for x in stored[n] + 0.5 * rng.normal(size=DIMENSION).astype(np.float32) / DIMENSION**0.5]
        for name, filters in (("scope", SearchFilters()), ("narrow", narrow)):
            approximate = index.search_approximate_vectors(vector, ALICE, 10, filters)
            exact = index.search_exact_vectors(vector, ALICE, 10, filters)
            assert len(approximate) == 10
            assert all(h.chunk.owner_id == ALICE.user_id for h in approximate + exact)
            recalls[name].append(len(set(ids(approximate)) & set(ids(exact))) / 10)
    assert float(np.mean(recalls["scope"])) >= 0.9
    assert float(np.mean(recalls["narrow"])) >= 0.9


def test_lancedb_probes_every_partition_when_a_narrow_filter_leaves_too_few(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One probed partition holds a handful of one document's 50 chunks: the query runs again over all. (No
    relevance floor: random vectors are all about as far from the query, and the test counts what it found.)"""
    monkeypatch.setattr(lancedb_index, "ROWS_PER_PARTITION", 10)
    monkeypatch.setattr(lancedb_index, "ANN_NPROBES", 1)
    no_floor = dict.fromkeys(SearchMode, 0.0)
    index = LanceDbSearchIndex(path=tmp_path / "ann", dimension=DIMENSION, ann_threshold=300, floors=no_floor)
    rng = np.random.default_rng(3)
    stored = rng.normal(size=(400, DIMENSION)).astype(np.float32)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    for doc in range(8):
        chunks = [make_chunk(f"chunk {n}", document_id=f"d{doc}", ordinal=n) for n in range(doc * 50, doc * 50 + 50)]
        index.replace_document(f"d{doc}", chunks, stored[doc * 50 : doc * 50 + 50])
    assert index.has_vector_index()
    narrow = SearchFilters(document_ids=["d5"])
    for n in (0, 120, 260):
        vector = [float(x) for x in stored[n]]
        for mode in (SearchMode.SEMANTIC, SearchMode.HYBRID):
            hits = index.search(query="chunk", vector=vector, mode=mode, scope=ALICE, filters=narrow, limit=10)
            assert len(hits) == 10
            assert {hit.chunk.document_id for hit in hits} == {"d5"}
    index.close()


def test_lancedb_fuse_is_a_convex_combination_of_normalised_scores() -> None:
    """BM25 min-max normalised over its list, cosine from -1 to the list's best, weighted alpha and 1 - alpha."""
    keyword = [("a", 9.0), ("b", 5.0), ("c", 1.0)]
    semantic = [("b", 0.6), ("d", 0.2), ("a", -0.2)]

    fused = fuse(keyword, semantic, 10, keyword_weight=0.25)

    assert [entry["id"] for entry in fused] == ["b", "a", "d", "c"]
    assert [entry["score"] for entry in fused] == pytest.approx(
        [0.25 * 0.5 + 0.75 * 1.0, 0.25 * 1.0 + 0.75 * 0.8 / 1.6, 0.75 * 1.2 / 1.6, 0.0]
    )
    assert fused[0] | {"score": 0} == {
        "id": "b",
        "score": 0,
        "keyword_score": 5.0,
        "keyword_rank": 2,
        "semantic_score": 0.6,
        "semantic_rank": 1,
    }
    assert ("keyword_rank" in fused[2], fused[3].get("semantic_rank")) == (False, None)
    assert [entry["id"] for entry in fuse(keyword, semantic, 2, keyword_weight=0.25)] == ["b", "a"]
    assert fuse([], [], 5) == []
    assert [entry["score"] for entry in fuse([("x", 3.0), ("y", 3.0)], [], 5, keyword_weight=1.0)] == [1.0, 1.0]


def test_lancedb_fuse_lets_a_sure_semantic_hit_beat_a_keyword_hit_that_meaning_ranks_lower() -> None:
    """Reciprocal-rank fusion put a chunk first in the keyword list and fifth by meaning (a footer sharing one
    word with the question) above the chunk first by meaning that the keyword search missed: it counts
    positions only. Scores count how far apart the two are."""
    keyword = [("footer", 2.1), ("other", 1.9), ("more", 0.4)]
    semantic = [("answer", 0.6), ("b", 0.4), ("c", 0.35), ("d", 0.3), ("footer", 0.2)]

    assert fuse(keyword, semantic, 3)[0]["id"] == "answer"


def test_lancedb_migrates_a_table_written_without_access_tokens(tmp_path: Path) -> None:
    """A table from a release before access tokens is rewritten on first open; search then works as usual."""
    import lancedb
    import pyarrow as pa

    old_schema = pa.schema([f for f in lancedb_index.chunk_schema(DIMENSION) if f.name not in {"readers", "payload"}])
    mine = make_chunk("quarterly margins widened", document_id="d1")
    theirs = make_chunk("quarterly margins widened again", document_id="d2", owner=BOB)
    rows = lancedb_index._to_rows(
        [mine, theirs], EMBEDDER.embed([mine.text, theirs.text]), lancedb_index.chunk_schema(DIMENSION)
    )
    lancedb.connect(tmp_path / "kb").create_table(
        "chunks", data=rows.drop_columns(["readers", "payload"]), schema=old_schema
    )

    index = LanceDbSearchIndex(path=tmp_path / "kb", dimension=DIMENSION)
    for mode in ALL_MODES:
        assert ids(search(index, "quarterly margins", mode)) == [mine.id]
        assert ids(search(index, "quarterly margins", mode, scope=BOB)) == [theirs.id]
    assert index.chunks("d1") == [mine]
    index.close()
    reopened = LanceDbSearchIndex(path=tmp_path / "kb", dimension=DIMENSION)
    assert reopened.count() == 2
    reopened.close()


def test_lancedb_keeps_results_per_version_and_shares_them_between_readers_with_the_same_access(
    tmp_path: Path,
) -> None:
    index = LanceDbSearchIndex(path=tmp_path / "kept", dimension=DIMENSION)
    try:
        put(index, make_chunk("kept answers", document_id="org", owner=BOB, visibility=Visibility.ORGANISATION))
        cache = index._results
        first = search(index, "kept answers", SearchMode.HYBRID, scope=ALICE)
        assert (cache.hits, cache.misses) == (0, 1)
        assert search(index, "kept answers", SearchMode.HYBRID, scope=CAROL) == first  # no own documents: shared
        assert (cache.hits, cache.misses) == (1, 1)
        put(index, make_chunk("kept answers too", document_id="carols", owner=CAROL))
        carol = search(index, "kept answers", SearchMode.HYBRID, scope=CAROL)  # a new version: searched
        assert set(ids(carol)) == {"org:v1:0", "carols:v1:0"}
        assert ids(search(index, "kept answers", SearchMode.HYBRID, scope=ALICE)) == ["org:v1:0"]
        assert cache.misses == 3  # Carol now owns a row: her answers are her own
        assert search(index, "kept answers", SearchMode.KEYWORD, scope=ALICE) != []
        assert search(index, "kept answers", SearchMode.HYBRID, scope=ALICE, limit=3) == search(
            index, "kept answers", SearchMode.HYBRID, scope=ALICE, limit=3
        )
        assert len(cache) <= cache.max_entries
    finally:
        index.close()


def test_lancedb_result_cache_is_bounded_and_can_be_switched_off(tmp_path: Path) -> None:
    bounded = LanceDbSearchIndex(path=tmp_path / "bounded", dimension=DIMENSION, result_cache_entries=3)
    off = LanceDbSearchIndex(path=tmp_path / "off", dimension=DIMENSION, result_cache_entries=0)
    try:
        for index in (bounded, off):
            put(index, make_chunk("alpha beta gamma"))
            for word in ("alpha", "beta", "gamma", "alpha beta", "beta gamma"):
                assert ids(search(index, word, SearchMode.KEYWORD)) == ["doc_a:v1:0"]
        assert len(bounded._results) == 3
        assert len(off._results) == 0
        assert off._results.hits == 0
    finally:
        bounded.close()
        off.close()

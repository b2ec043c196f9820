"""A first start that a crash interrupts is completed by the next one: the sample market history and the sample
documents are loaded whole, never left half loaded for good, and never loaded twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.access import Principal
from investai.domain.market import SymbolInfo
from investai.domain.users import Role
from investai.ports.knowledge import Embedder
from investai.ports.market import ProviderFile
from investai.sample.market import SAMPLE_SOURCE, sample_bars, sample_symbols
from investai.services.auth_common import CallContext
from investai.services.market import SAMPLE_PROVIDER
from investai.services.samples import LIBRARY_EMAIL
from tests.factories import T0


@pytest.fixture
def container(tmp_path: Path, embedder: Embedder) -> Iterator[Container]:
    built = build_container(Settings(data_dir=tmp_path / "var", _env_file=None), clock=FakeClock(T0), embedder=embedder)
    yield built
    built.close()


def test_a_sample_history_load_cut_short_is_finished_on_the_next_start(container: Container) -> None:
    market = container.market
    full = sample_bars()
    # a first start that died after some batches: the load had begun, and some rows are in
    container.market_store.record_ingested_file(
        SAMPLE_PROVIDER,
        _mark("sample-load-started"),
        accepted=0,
        rejected=0,
        at=container.clock.now(),
    )
    partial = full.iloc[: len(full) // 3]
    container.market_store.upsert_symbols(sample_symbols())
    market.ingest_bars(partial, source=SAMPLE_SOURCE, history=True)
    stored_before = sum(len(market.bar_frame(symbol)) for symbol in container.market_store.bar_symbols())
    assert 0 < stored_before < len(full)

    report = market.ensure_sample_loaded()
    assert report is not None
    assert report.unchanged == len(partial)  # what was in already is left exactly as it was
    assert sum(len(market.bar_frame(symbol)) for symbol in container.market_store.bar_symbols()) == len(full)
    assert market.ensure_sample_loaded() is None  # complete now: never loaded again


def test_a_store_holding_other_data_gets_no_sample(container: Container) -> None:
    container.market.upsert_symbols([SymbolInfo(symbol="OWN", name="Own data")])
    container.market.ingest_bars(pd.DataFrame({"symbol": ["OWN"], "date": ["2023-01-03"], "close": [1.0]}), source="x")
    assert container.market.ensure_sample_loaded() is None
    assert container.market_store.bar_symbols() == ["OWN"]


def test_a_sample_corpus_upload_cut_short_is_finished_and_deletions_stay(container: Container) -> None:
    samples = container.knowledge.samples
    corpus = _corpus_titles(container)
    # a first start that died after creating the library account and uploading two documents
    created = container.identity.users.create_user(
        actor=None, email=LIBRARY_EMAIL, role=Role.ANALYST, organisation_id="org_1"
    )
    library = Principal.acting_as(created.user, actor="test", at=container.clock.now())
    first_two = container.knowledge.samples._corpus()[:2]
    container.settings.scratch_dir.mkdir(parents=True, exist_ok=True)
    for sample in first_two:
        samples._upload(library, sample)
    deleted = container.documents.list_by_owner(created.user.id)[0]
    container.knowledge.documents.delete(library, CallContext(), deleted.id)

    assert samples.ensure_loaded("org_1") == len(corpus) - 2
    titles = sorted(document.title for document in container.documents.list_by_owner(created.user.id, limit=1000))
    assert titles == sorted(corpus)  # each sample once, the deleted one still there as deleted
    assert container.documents.get(deleted.id).deleted_at is not None
    assert samples.ensure_loaded("org_1") == 0


def _corpus_titles(container: Container) -> list[str]:
    return [sample.title for sample in container.knowledge.samples._corpus()]


def _mark(name: str) -> ProviderFile:
    return ProviderFile(name=name, fingerprint=name)

"""Knowledge-base benchmarks.

* **Ingestion throughput**: the sample corpus plus a long generated research PDF go from bytes to indexed
  chunks (upload: type check, parse under the safety limits, encrypted store; job: chunk, embed with a cold
  cache, index), in chunks per second, against the raw embedder (``embed_uncached``) on the same chunk texts
  in the same run. Target: at least 0.8 of the raw embedder.
* **Hybrid search at 100,000 chunks**: p50 and p99 of the index's hybrid query (BM25 + ANN + fusion, with
  the caller's access predicate) over the labelled queries, the query vector computed beforehand; and the
  query embedding's own cost beside it. Target: p50 at most 20 ms.
* **ANN recall@10** against exhaustive search on the same vectors and predicate. Target: at least 0.95.

The 100,000 chunks are four sentences each, drawn at random (seeded) from the sample corpus's sentences;
a chunk's vector is the normalised mean of its sentences' MiniLM embeddings. Embedding 100,000 passages
outright would take the better part of an hour on two cores; the mean keeps the vectors' structure (topics,
near-duplicates) that an index meets in real use, and the ANN index is measured against exact search on
these same vectors.

* **Retrieval quality** (``retrieval``, run alone by ``.venv/bin/python -m benchmarks.knowledge retrieval``):
  recall@5 and MRR@10 of each search mode on the two labelled question sets over the sample corpus, through
  the knowledge service with the real MiniLM embedder: ``tests/data/retrieval_queries.json`` (58 questions,
  mostly in the documents' own words) and ``tests/data/retrieval_paraphrases.json`` (49 questions sharing few
  words with the passages that answer them). Then hybrid search at every keyword weight alpha of 0, 0.025, ...,
  0.5, with the alpha the pooled questions pick (best MRR@10) and a cross-validation of that choice: five folds
  per set, twenty shuffles, alpha picked on four folds and scored on the fifth. A question counts as answered
  by a hit citing its labelled place: the document and page of a note, a table chunk holding the labelled
  ticker's row.

    .venv/bin/python -m benchmarks.knowledge            # everything but retrieval quality
    .venv/bin/python -m benchmarks.knowledge retrieval  # retrieval quality alone (--write: into RESULTS.md)
"""

from __future__ import annotations

import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from investai.adapters.local.clock import SystemClock
from investai.adapters.local.embedder import SentenceTransformerEmbedder
from investai.adapters.local.lancedb_index import MIN_CANDIDATES, LanceDbSearchIndex
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.access import Principal
from investai.domain.documents import DocumentMetadata, DocumentType, Visibility
from investai.domain.knowledge import AccessScope, Chunk, SearchFilters, SearchHit, SearchMode
from investai.domain.users import Role
from investai.ports.knowledge import KEYWORD_WEIGHT, Embedder, above_floor
from investai.sample.documents import sample_documents
from investai.services.auth_common import CallContext
from investai.services.samples import LIBRARY_EMAIL

CHUNKS = 100_000
CHUNKS_PER_DOCUMENT = 1_000
DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
QUERIES = DATA / "retrieval_queries.json"
LABELLED_SETS = {"original": QUERIES, "paraphrases": DATA / "retrieval_paraphrases.json"}
"""The labelled question sets over the sample corpus, by name."""
RECALL_AT = 5
MRR_AT = 10
ALPHAS = [round(0.025 * step, 3) for step in range(21)]
FLOORS = [round(0.05 * step, 2) for step in range(20)]
WEB_LIMIT = 20
"""The knowledge page asks for at most this many hits."""
FOLDS = 5
SHUFFLES = 20
ORG = "org_bench"


def _long_pdf(paragraphs: list[str], pages: int) -> bytes:
    from fpdf import FPDF

    rng = random.Random(7)
    pdf = FPDF()
    pdf.set_creation_date(datetime(2024, 1, 1, tzinfo=UTC))
    pdf.set_font("Helvetica", size=10)
    for page in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 5, f"Section {page + 1}\n\n" + "\n\n".join(rng.sample(paragraphs, 4)))
    return bytes(pdf.output())


def _corpus_sentences() -> list[str]:
    from io import BytesIO

    from pypdf import PdfReader

    text: list[str] = []
    for sample in sample_documents():
        if sample.filename.endswith(".pdf"):
            text.extend(page.extract_text() for page in PdfReader(BytesIO(sample.content)).pages)
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(" ".join(text).split()))
    return [s for s in dict.fromkeys(sentences) if 40 <= len(s) <= 400]


def ingestion() -> tuple[float, float, int]:
    """(ingestion chunks/s, raw embedder chunks/s, chunks)."""
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(_env_file=None, data_dir=Path(scratch) / "var", load_sample_documents=False)
        embedder = SentenceTransformerEmbedder(cache_path=Path(scratch) / "cold-cache.db")
        embedder.embed_uncached(["warm the model up"])  # model loading is not ingestion
        container = build_container(settings, clock=SystemClock(), embedder=embedder)
        sentences = _corpus_sentences()
        paragraphs = [" ".join(sentences[i : i + 5]) for i in range(0, len(sentences) - 5, 5)]
        extra = _long_pdf(paragraphs, pages=40)
        sample_documents()  # the corpus is laid out once per process; making the bytes is not ingesting them
        started = time.perf_counter()
        container.knowledge.samples.ensure_loaded(ORG)
        principal = library_principal(container)
        path = Path(scratch) / "long.pdf"
        path.write_bytes(extra)
        container.knowledge.documents.upload(
            principal, CallContext(), content=path.read_bytes(), filename="long.pdf", metadata=DocumentMetadata()
        )
        worker = container.worker_pool().workers[0]
        while worker.run_once():
            pass
        elapsed = time.perf_counter() - started
        texts = [
            chunk.text
            for document in container.knowledge.documents.list_documents(principal, CallContext())
            for chunk in container.knowledge.index.chunks(document.id)
        ]
        started = time.perf_counter()
        embedder.embed_uncached(texts)
        raw = time.perf_counter() - started
        container.close()
        return len(texts) / elapsed, len(texts) / raw, len(texts)


def _chunk(index: int, document: int, text: str, visibility: Visibility, owner: str) -> Chunk:
    return Chunk(
        id=f"doc_{document}:1:{index}",
        document_id=f"doc_{document}",
        version=1,
        ordinal=index,
        text=text,
        title=f"Synthetic note {document}",
        page=1 + index // 4,
        start_offset=0,
        end_offset=len(text),
        content_hash=f"{index:064x}",
        owner_id=owner,
        organisation_id=ORG,
        visibility=visibility,
        doc_type=DocumentType.PDF,
        document_date=datetime(2024, 6, 1, tzinfo=UTC),
    )


def search_at_scale(directory: Path) -> dict[str, Any]:
    embedder = SentenceTransformerEmbedder(cache_path=None)
    sentences = _corpus_sentences()
    sentence_vectors = embedder.embed_uncached(sentences)
    rng = np.random.default_rng(11)
    index = LanceDbSearchIndex(path=directory, dimension=embedder.dimension)
    for document in range(CHUNKS // CHUNKS_PER_DOCUMENT):
        picks = rng.integers(0, len(sentences), size=(CHUNKS_PER_DOCUMENT, 4))
        vectors = sentence_vectors[picks].mean(axis=1)
        vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
        private = document % 10 == 0  # a tenth belongs to another user, privately: the predicate must skip them
        chunks = [
            _chunk(
                i,
                document,
                " ".join(sentences[j] for j in row),
                Visibility.PRIVATE if private else Visibility.ORGANISATION,
                "usr_other" if private else "usr_owner",
            )
            for i, row in enumerate(picks)
        ]
        index.replace_document(f"doc_{document}", chunks, vectors)
    index.optimize()
    index.build_vector_index()
    labels = json.loads(QUERIES.read_text())
    queries = [label["query"] for label in labels]
    started = time.perf_counter()
    query_vectors = embedder.embed_uncached(queries)
    embed_ms = (time.perf_counter() - started) / len(queries) * 1000
    scope = AccessScope(user_id="usr_reader", organisation_id=ORG, role="analyst")
    timings: dict[SearchMode, list[float]] = {mode: [] for mode in SearchMode}
    for _ in range(3):
        for mode in (SearchMode.HYBRID, SearchMode.KEYWORD, SearchMode.SEMANTIC):
            for query, vector in zip(queries, query_vectors, strict=True):
                started = time.perf_counter()
                index.search(
                    query=query, vector=list(vector), mode=mode, scope=scope, filters=SearchFilters(), limit=10
                )
                timings[mode].append((time.perf_counter() - started) * 1000)
    latencies = timings[SearchMode.HYBRID]
    recalls = []
    for vector in query_vectors:
        ann = index.search_approximate_vectors(list(vector), scope, 10)  # as search, without the relevance floor
        exact = index.search_exact_vectors(list(vector), scope, 10)
        truth = {hit.chunk.id for hit in exact}
        recalls.append(len(truth & {hit.chunk.id for hit in ann}) / max(1, len(truth)))
    figures = {
        "chunks": index.count(),
        "p50_ms": statistics.median(latencies),
        "keyword_p50_ms": statistics.median(timings[SearchMode.KEYWORD]),
        "semantic_p50_ms": statistics.median(timings[SearchMode.SEMANTIC]),
        "p99_ms": float(np.percentile(latencies, 99)),
        "query_embedding_ms": embed_ms,
        "ann_recall_at_10": statistics.fmean(recalls),
        "queries": len(queries),
        "ann_index": index.has_vector_index(),
    }
    index.close()
    return figures


# --- retrieval quality ---------------------------------------------------------------------------------------


def labelled_sets() -> dict[str, list[dict[str, Any]]]:
    return {name: json.loads(path.read_text()) for name, path in LABELLED_SETS.items()}


def answers(chunk: Chunk, label: dict[str, Any], ids: dict[str, str]) -> bool:
    """Whether ``chunk`` cites the labelled place: the document (or an equivalent file) and the page for a
    note, the document and a chunk holding the labelled ticker's row for a table."""
    names = [label["filename"], *label.get("equivalent_filenames", [])]
    if chunk.document_id not in {ids[name] for name in names if name in ids}:
        return False
    if label.get("page") is not None:
        return bool(chunk.page == label["page"])
    ticker = label["table_row"]["ticker"]
    return any(cell.strip() == ticker for line in chunk.text.splitlines() for cell in line.split("|"))


@dataclass(frozen=True)
class Scores:
    """recall@5 and MRR@10 over a set of questions, and the mean number of hits a search returned."""

    recall: float
    mrr: float
    hits: float


def question_scores(answered: Sequence[bool]) -> tuple[bool, float]:
    """(answered in the top ``RECALL_AT``, reciprocal rank of the first answering hit in the top ``MRR_AT``)."""
    first = next((rank for rank, hit in enumerate(answered[:MRR_AT], start=1) if hit), None)
    return any(answered[:RECALL_AT]), 0.0 if first is None else 1.0 / first


def rates(per_question: Sequence[tuple[bool, float]]) -> tuple[float, float]:
    """(recall@5, MRR@10) over the questions."""
    return statistics.fmean(float(found) for found, _ in per_question), statistics.fmean(rr for _, rr in per_question)


class SampleCorpus:
    """The sample corpus indexed as a reader of ``principal``'s organisation sees it: document ids by filename
    and every chunk by id, to judge hits against the labels."""

    def __init__(self, container: Container, principal: Principal) -> None:
        self.container = container
        self.principal = principal
        documents = container.knowledge.documents.list_documents(principal, CallContext(), limit=500)
        self.ids = {document.versions[0].filename: document.id for document in documents}
        self.chunks = {chunk.id: chunk for doc in self.ids.values() for chunk in container.knowledge.index.chunks(doc)}

    def service_scores(self, labels: Sequence[dict[str, Any]], mode: SearchMode, *, limit: int = MRR_AT) -> Scores:
        """Each question through the knowledge service, as the API asks it."""
        per_question, hits = [], []
        for label in labels:
            found = self.container.knowledge.search.search(
                self.principal, CallContext(), query=label["query"], mode=mode, limit=limit
            )
            chunks = [self.chunks[hit.citation.chunk_id or ""] for hit in found]
            per_question.append(question_scores([answers(chunk, label, self.ids) for chunk in chunks]))
            hits.append(len(found))
        recall, mrr = rates(per_question)
        return Scores(recall=recall, mrr=mrr, hits=statistics.fmean(hits))

    def hits(
        self,
        index: LanceDbSearchIndex,
        labels: Sequence[dict[str, Any]],
        vectors: np.ndarray,
        mode: SearchMode,
        limit: int = MRR_AT,
    ) -> list[list[SearchHit]]:
        """Each question's search on ``index`` (opened with some keyword weight or floors)."""
        scope = AccessScope(
            user_id=self.principal.user_id,
            organisation_id=self.principal.organisation_id,
            role=self.principal.role.value,
        )
        return [
            index.search(
                query=label["query"],
                vector=[float(x) for x in vector],
                mode=mode,
                scope=scope,
                filters=SearchFilters(),
                limit=limit,
            )
            for label, vector in zip(labels, vectors, strict=True)
        ]

    def scored(self, hits: Sequence[Sequence[SearchHit]], labels: Sequence[dict[str, Any]]) -> list[tuple[bool, float]]:
        return [
            question_scores([answers(hit.chunk, label, self.ids) for hit in found])
            for found, label in zip(hits, labels, strict=True)
        ]

    def floor_curve(
        self, hits: Sequence[Sequence[SearchHit]], labels: Sequence[dict[str, Any]], mode: SearchMode
    ) -> dict[str, Any]:
        """Unfloored hits (best first) cut at each of ``FLOORS``: recall@5 and mean hits, and the highest floor
        that loses no answer from the top 5."""
        curve = {}
        for floor in FLOORS:
            cut = [above_floor(found, mode, floor=floor) for found in hits]
            recall, _ = rates(self.scored(cut, labels))
            curve[floor] = (round(recall, 3), round(statistics.fmean(len(found) for found in cut), 1))
        lossless = max(floor for floor, (recall, _) in curve.items() if recall >= curve[0.0][0])
        return {"highest_lossless": lossless, "hits_there": curve[lossless][1], "curve (recall@5, hits)": curve}


def reciprocal_rank_fused(keyword: Sequence[SearchHit], semantic: Sequence[SearchHit], k: int = 60) -> list[SearchHit]:
    """Hybrid hits as reciprocal-rank fusion (the fusion used before) ranks them: ``sum(1 / (k + rank))``."""
    fused: dict[str, tuple[Chunk, float]] = {}
    for half in (keyword, semantic):
        for rank, hit in enumerate(half, start=1):
            chunk, total = fused.get(hit.chunk.id, (hit.chunk, 0.0))
            fused[hit.chunk.id] = (chunk, total + 1.0 / (k + rank))
    ranked = sorted(fused.values(), key=lambda pair: (-pair[1], pair[0].id))
    return [SearchHit(chunk=chunk, score=score) for chunk, score in ranked]


def min_max_fused(keyword: Sequence[SearchHit], semantic: Sequence[SearchHit], alpha: float) -> list[SearchHit]:
    """Hybrid hits as OpenSearch's pipeline scores them: both halves min-max normalised over their candidates,
    weighted alpha and 1 - alpha, a half that missed a chunk counting 0."""
    fused: dict[str, tuple[Chunk, float]] = {}
    for weight, half in ((alpha, keyword), (1.0 - alpha, semantic)):
        scores = np.array([hit.score for hit in half], dtype=np.float64)
        if not len(scores):
            continue
        spread = scores.max() - scores.min()
        normalised = (scores - scores.min()) / spread if spread > 0 else np.ones_like(scores)
        for hit, value in zip(half, normalised, strict=True):
            chunk, total = fused.get(hit.chunk.id, (hit.chunk, 0.0))
            fused[hit.chunk.id] = (chunk, total + weight * float(value))
    ranked = sorted(fused.values(), key=lambda pair: (-pair[1], pair[0].id))
    return [SearchHit(chunk=chunk, score=score) for chunk, score in ranked]


def _pick(per_alpha: dict[float, list[tuple[bool, float]]], questions: Sequence[int]) -> float:
    """The alpha with the best MRR@10 over ``questions``, then the best recall@5, then the smaller alpha."""

    def merit(alpha: float) -> tuple[float, float, float]:
        recall, mrr = rates([per_alpha[alpha][q] for q in questions])
        return round(mrr, 9), round(recall, 9), -alpha

    return max(per_alpha, key=merit)


def cross_validate(
    per_alpha: dict[float, list[tuple[bool, float]]], set_of: Sequence[str], *, seed: int = 0
) -> dict[str, Any]:
    """Alpha picked on four fifths of each set's questions and scored on the rest, over ``SHUFFLES`` shuffles:
    the picks' counts and each set's out-of-fold recall@5 and MRR@10 (means over shuffles, and the worst)."""
    rng = random.Random(seed)
    picks: dict[float, int] = {}
    out_of_fold: dict[str, list[tuple[float, float]]] = {name: [] for name in dict.fromkeys(set_of)}
    for _ in range(SHUFFLES):
        fold = [0] * len(set_of)
        for name in out_of_fold:
            members = [q for q, owner in enumerate(set_of) if owner == name]
            rng.shuffle(members)
            for position, q in enumerate(members):
                fold[q] = position % FOLDS
        result: list[tuple[bool, float]] = [(False, 0.0)] * len(set_of)
        for held_out in range(FOLDS):
            alpha = _pick(per_alpha, [q for q in range(len(set_of)) if fold[q] != held_out])
            picks[alpha] = picks.get(alpha, 0) + 1
            for q in range(len(set_of)):
                if fold[q] == held_out:
                    result[q] = per_alpha[alpha][q]
        for name, scores in out_of_fold.items():
            scores.append(rates([result[q] for q, owner in enumerate(set_of) if owner == name]))
    return {
        "picks": dict(sorted(picks.items())),
        **{
            name: {
                "recall": statistics.fmean(r for r, _ in scores),
                "mrr": statistics.fmean(m for _, m in scores),
                "worst_recall": min(r for r, _ in scores),
            }
            for name, scores in out_of_fold.items()
        },
    }


def load_sample_corpus(settings: Settings, embedder: Embedder) -> SampleCorpus:
    """The sample corpus uploaded and processed in a fresh deployment, read as its library user."""
    container = build_container(settings, clock=SystemClock(), embedder=embedder)
    container.knowledge.samples.ensure_loaded(ORG)
    worker = container.worker_pool().workers[0]
    while worker.run_once():
        pass
    return SampleCorpus(container, library_principal(container))


def retrieval() -> dict[str, Any]:
    """Recall@5, MRR@10 and hits returned (limit 10) per set and mode; the alpha sweep and its cross-validation."""
    sets = labelled_sets()
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(_env_file=None, data_dir=Path(scratch) / "var", load_sample_documents=False)
        embedder = SentenceTransformerEmbedder(cache_path=Path(scratch) / "cache.db")
        corpus = load_sample_corpus(settings, embedder)
        pooled = [label for labels in sets.values() for label in labels]
        table = {
            name: {mode.value: corpus.service_scores(labels, mode).__dict__ for mode in SearchMode}
            for name, labels in {**sets, "pooled": pooled}.items()
        }
        web_hits = {mode.value: corpus.service_scores(pooled, mode, limit=WEB_LIMIT).hits for mode in SearchMode}
        vectors = embedder.embed([label["query"] for label in pooled])
        per_alpha: dict[float, list[tuple[bool, float]]] = {}
        for alpha in ALPHAS:
            index = LanceDbSearchIndex(path=settings.knowledge_dir, dimension=embedder.dimension, keyword_weight=alpha)
            per_alpha[alpha] = corpus.scored(corpus.hits(index, pooled, vectors, SearchMode.HYBRID), pooled)
            index.close()
        unfloored = LanceDbSearchIndex(
            path=settings.knowledge_dir, dimension=embedder.dimension, floors=dict.fromkeys(SearchMode, 0.0)
        )
        floors = {
            mode.value: corpus.floor_curve(corpus.hits(unfloored, pooled, vectors, mode, WEB_LIMIT), pooled, mode)
            for mode in SearchMode
        }
        deep = MIN_CANDIDATES
        keyword = corpus.hits(unfloored, pooled, vectors, SearchMode.KEYWORD, deep)
        semantic = corpus.hits(unfloored, pooled, vectors, SearchMode.SEMANTIC, deep)
        opensearch = [min_max_fused(k, v, KEYWORD_WEIGHT)[:WEB_LIMIT] for k, v in zip(keyword, semantic, strict=True)]
        floors["hybrid, OpenSearch's normalisation"] = corpus.floor_curve(opensearch, pooled, SearchMode.HYBRID)
        rrf = corpus.scored(
            [reciprocal_rank_fused(k, v)[:MRR_AT] for k, v in zip(keyword, semantic, strict=True)], pooled
        )
        unfloored.close()
        corpus.container.close()
    set_of = [name for name, labels in sets.items() for _ in labels]
    sweep = {
        alpha: {
            name: [round(x, 3) for x in rates([s for s, owner in zip(scored, set_of, strict=True) if owner == name])]
            for name in sets
        }
        for alpha, scored in per_alpha.items()
    }
    return {
        "questions": {name: len(labels) for name, labels in sets.items()},
        "reciprocal-rank fusion (recall@5, MRR@10)": {
            name: [round(x, 3) for x in rates([s for s, owner in zip(rrf, set_of, strict=True) if owner == name])]
            for name in sets
        },
        "modes": table,
        "alpha_in_use": KEYWORD_WEIGHT,
        "alpha_pooled": _pick(per_alpha, range(len(pooled))),
        **{
            f"alpha_{name}_alone": _pick(per_alpha, [q for q, owner in enumerate(set_of) if owner == name])
            for name in sets
        },
        "sweep (recall@5, MRR@10)": sweep,
        "cross_validation": cross_validate(per_alpha, set_of),
        f"hits with limit {WEB_LIMIT}": web_hits,
        f"floors (pooled, limit {WEB_LIMIT})": floors,
    }


SECTION = "Retrieval quality"


def retrieval_section(figures: dict[str, Any]) -> list[str]:
    """The RESULTS.md section of :func:`retrieval`'s figures."""
    sizes = figures["questions"]
    rrf = figures["reciprocal-rank fusion (recall@5, MRR@10)"]
    cv = figures["cross_validation"]
    sweep = figures["sweep (recall@5, MRR@10)"]
    floors = figures[f"floors (pooled, limit {WEB_LIMIT})"]
    lines = [
        f"## {SECTION}",
        "",
        "Command: `.venv/bin/python -m benchmarks.knowledge retrieval --write` (method in its docstring; "
        "`.venv/bin/pytest -s tests/integration/test_retrieval_eval.py` prints the same table and checks the "
        f"targets). Run {datetime.now(UTC):%Y-%m-%d}. The sample corpus (six research notes, three tables), "
        f"MiniLM embeddings, through the knowledge service: {sizes['original']} questions mostly in the "
        f"documents' words (`tests/data/retrieval_queries.json`) and {sizes['paraphrases']} paraphrases sharing "
        "few words with their answers (`tests/data/retrieval_paraphrases.json`). Targets: hybrid recall@5 at "
        "most 0.02 below the better single mode on each set, and at least 0.85 on both pooled.",
        "",
        "| questions | mode | recall@5 | MRR@10 | hits returned (limit 10) |",
        "|---|---|---:|---:|---:|",
    ]
    for name, by_mode in figures["modes"].items():
        for mode, scores in by_mode.items():
            lines.append(f"| {name} | {mode} | {scores['recall']:.3f} | {scores['mrr']:.3f} | {scores['hits']:.1f} |")
        if name in rrf:
            recall, mrr = rrf[name]
            lines.append(
                f"| {name} | hybrid by reciprocal-rank fusion (replaced), same index | {recall:.3f} | {mrr:.3f} | |"
            )
    picks = ", ".join(f"{alpha} in {count}" for alpha, count in cv["picks"].items())
    shown = [0.0, 0.05, 0.1, 0.125, 0.2, 0.3, 0.5]
    lines += [
        "",
        f"Keyword weight alpha = {figures['alpha_in_use']}: of 0, 0.025, ..., 0.5 the best MRR@10 over both sets "
        f"pooled ({figures['alpha_pooled']}). Cross-validated ({FOLDS} folds per set, {SHUFFLES} shuffles, alpha "
        f"picked on the other folds): picked {picks} of the {FOLDS * SHUFFLES} folds; out of fold recall@5 "
        f"{cv['original']['recall']:.3f} and {cv['paraphrases']['recall']:.3f}, MRR@10 "
        f"{cv['original']['mrr']:.3f} and {cv['paraphrases']['mrr']:.3f}. On the original questions alone alpha "
        f"would be {figures['alpha_original_alone']}; the paraphrases, held out, then score "
        f"{sweep[figures['alpha_original_alone']]['paraphrases'][0]:.3f} / "
        f"{sweep[figures['alpha_original_alone']]['paraphrases'][1]:.3f}. Hybrid recall@5 by alpha, original / "
        "paraphrases: "
        + ", ".join(
            f"{alpha}: {sweep[alpha]['original'][0]:.3f} / {sweep[alpha]['paraphrases'][0]:.3f}" for alpha in shown
        )
        + ".",
        "",
        f"Relevance floors (share of the best hit's score, past the first three hits), with limit {WEB_LIMIT} "
        "over both sets: the highest in steps of 0.05 that loses no top-5 answer, and the hits a search then "
        "returns on average.",
        "",
        "| mode | floor | hits returned (limit 20) | recall@5 kept |",
        "|---|---:|---:|---:|",
    ]
    for mode, curve in floors.items():
        kept = curve["curve (recall@5, hits)"][curve["highest_lossless"]][0]
        lines.append(f"| {mode} | {curve['highest_lossless']} | {curve['hits_there']:.1f} | {kept:.3f} |")
    return lines


def write_retrieval_section(figures: dict[str, Any], path: Path) -> None:
    """Replace (or add, before the next section or at the end) this section of RESULTS.md."""
    text = path.read_text() if path.is_file() else "# Benchmark results\n"
    body = "\n".join(retrieval_section(figures)) + "\n"
    heading = f"\n## {SECTION}\n"
    if heading in text:
        head, rest = text.split(heading, 1)
        tail = rest.split("\n## ", 1)[1] if "\n## " in rest else None
        text = head.rstrip("\n") + "\n\n" + body + ("\n## " + tail if tail is not None else "")
    elif "\n## " in text:
        head, tail = text.split("\n## ", 1)
        text = head.rstrip("\n") + "\n\n" + body + "\n## " + tail
    else:
        text = text.rstrip("\n") + "\n\n" + body
    path.write_text(text)


def print_retrieval(figures: dict[str, Any]) -> None:
    print(json.dumps({key: value for key, value in figures.items() if key != "modes"}, default=str))
    print("\n".join(retrieval_section(figures)))


def library_principal(container: Any) -> Principal:
    """The sample library's owner, as a signed-in analyst of the organisation."""
    user = container.users.get_by_email(LIBRARY_EMAIL)
    assert user is not None
    return Principal(
        user_id=user.id,
        organisation_id=ORG,
        role=Role.ANALYST,
        session_id="bench",
        token_id="bench",
        authenticated_at=container.clock.now(),
    )


def run() -> dict[str, Any]:
    ingest, raw, chunks = ingestion()
    with tempfile.TemporaryDirectory() as scratch:
        scale = search_at_scale(Path(scratch) / "index")
    return {"ingest_chunks_per_s": ingest, "raw_chunks_per_s": raw, "ingest_chunks": chunks, **scale}


if __name__ == "__main__" and sys.argv[1:2] == ["retrieval"]:
    quality = retrieval()
    print_retrieval(quality)
    if "--write" in sys.argv[2:]:
        write_retrieval_section(quality, Path(__file__).with_name("RESULTS.md"))
elif __name__ == "__main__":
    figures = run()
    print(json.dumps(figures, indent=2))
    print(
        f"ingestion {figures['ingest_chunks_per_s']:.1f} chunks/s vs raw embedder "
        f"{figures['raw_chunks_per_s']:.1f} = {figures['ingest_chunks_per_s'] / figures['raw_chunks_per_s']:.2f}"
    )

"""The quantitative commentary: the analysis agent asks the quantitative route about one candidate's computed
metrics, keeps a model's answer only when every number in it was computed, and otherwise (or when no model
answers) uses the commentary code writes from the same metrics. Ideas carry it, older ideas load without it,
and the exports show it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from investai.adapters.local.clock import FakeClock
from investai.adapters.models.offline import OfflineModelProvider
from investai.agents.analysis import AnalysisAgent
from investai.agents.commentary import COMMENTARY_STEP, allowed_numbers, judge, metric_keys, shown_metrics
from investai.agents.context import RunContext
from investai.agents.findings import CandidateAnalysis
from investai.agents.grounding import check_numbers
from investai.agents.planning import PlanningAgent
from investai.agents.router import ModelLink, ModelRouter, Price, RetryPolicy
from investai.agents.supervisor import Supervisor
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.agents import AgentMessage, AgentName, MessageType
from investai.domain.citations import DocumentCitation
from investai.domain.documents import DocumentType
from investai.domain.idea_parts import IdeaAnalysis, QuantitativeCommentary
from investai.domain.idea_request import IdeaRequest
from investai.domain.idea_views import view_for
from investai.domain.ideas import InvestmentIdea
from investai.domain.knowledge import AccessScope, ChunkKind, KnowledgeHit
from investai.domain.llm import ModelRequest, ModelResponse, ModelThrottled, ModelUnavailable, TaskKind, Usage
from investai.services.idea_insights import _html, _markdown
from tests.factories import make_idea

NOW = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
READER = AccessScope(user_id="analyst-1", organisation_id="default", role="analyst")
QUANT, REASONING, FAST = "quant-model", "reasoning-model", "fast-model"
PRIVATE = "Project Nightjar: the board privately expects 41.7% margin expansion at XOM."


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    built = build_container(
        Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("commentary") / "var"), clock=FakeClock(NOW)
    )
    built.market.load_sample()
    yield built
    built.close()


Answer = Callable[[ModelRequest], dict[str, Any] | None]


class Scripted:
    """A provider that answers the commentary request with ``answer`` (or raises ``raises``) and echoes the
    offline answer to everything else; it records each request and the model it was sent to."""

    name = "bedrock"

    def __init__(self, answer: Answer | None = None, raises: Exception | None = None) -> None:
        self.answer = answer
        self.raises = raises
        self.calls: list[tuple[ModelRequest, str]] = []

    def complete(self, request: ModelRequest, *, model_id: str, timeout_s: float) -> ModelResponse:
        self.calls.append((request, model_id))
        answer: Any = request.offline_answer
        if request.prompt.name == COMMENTARY_STEP:
            if self.raises is not None:
                raise self.raises
            if self.answer is not None:
                answer = self.answer(request)
        text = json.dumps(answer) if isinstance(answer, dict) else str(answer)
        data = answer if isinstance(answer, dict) and request.json_schema is not None else None
        return ModelResponse(
            text=text, data=data, provider=self.name, model_id=model_id, usage=Usage(input_tokens=300, output_tokens=80)
        )

    def commentary_calls(self) -> list[tuple[ModelRequest, str]]:
        return [(request, model) for request, model in self.calls if request.prompt.name == COMMENTARY_STEP]


def router(provider: object | None) -> ModelRouter:
    """Three chains with a model each (none when ``provider`` is None: the offline provider answers)."""
    chains = (
        {
            TaskKind.REASONING: [ModelLink("bedrock", REASONING)],
            TaskKind.FAST: [ModelLink("bedrock", FAST)],
            TaskKind.QUANTITATIVE: [ModelLink("bedrock", QUANT)],
        }
        if provider is not None
        else {}
    )
    return ModelRouter(
        providers={"bedrock": provider} if provider is not None else {},  # type: ignore[dict-item]
        chains=chains,
        offline=OfflineModelProvider(),
        prices={QUANT: Price(0.0008, 0.0032)},
        retry=RetryPolicy(max_attempts=2),
        sleep=lambda seconds: None,
    )


def analyse(container: Container, provider: object | None) -> tuple[CandidateAnalysis, RunContext, list[AgentMessage]]:
    """The full analysis of the best-ranked candidate of a default request."""
    messages: list[AgentMessage] = []
    ctx = RunContext(
        request=IdeaRequest(max_ideas=2),
        request_id="req_commentary",
        reader=READER,
        as_of=NOW,
        router=router(provider),
        clock=container.clock,  # type: ignore[arg-type]
        code_version="test",
        on_message=messages.append,
    )
    plan = PlanningAgent(container.market).plan(ctx)
    agent = AnalysisAgent(container.market)
    screen = agent.screen(ctx, plan)
    for symbol in screen.ranked:
        analysis = agent.analyse(ctx, plan, screen, symbol)
        if analysis is not None:
            return analysis, ctx, messages
    raise AssertionError("no candidate could be analysed")


def shown(request: ModelRequest, key: str) -> str:
    """The value the prompt shows for ``key``."""
    found = re.search(rf"^- {key}: (\S+) \(", request.messages[0].content, re.MULTILINE)
    assert found, f"{key} not in the prompt"
    return found.group(1)


def grounded_answer(request: ModelRequest) -> dict[str, Any]:
    return {
        "commentary": f"Annualised volatility of {shown(request, 'volatility')} sits against a Sharpe ratio of "
        f"{shown(request, 'sharpe')}, so the return has paid for its risk over the window. The one-day 95% VaR "
        f"of {shown(request, 'var_95')} keeps the daily tail contained.",
        "metrics": ["volatility", "sharpe", "var_95"],
    }


@pytest.fixture(scope="module")
def offline(container: Container) -> CandidateAnalysis:
    analysis, _, _ = analyse(container, None)
    return analysis


# --------------------------------------------------------------------------------------- the quantitative route


def test_the_analysis_asks_the_quantitative_route_about_its_computed_metrics(container: Container) -> None:
    provider = Scripted(grounded_answer)
    analysis, ctx, messages = analyse(container, provider)
    calls = provider.commentary_calls()
    assert len(calls) == 1  # one call per candidate
    request, model_id = calls[0]
    assert request.task is TaskKind.QUANTITATIVE
    assert model_id == QUANT
    assert request.json_schema is not None
    assert set(request.json_schema["required"]) == {"commentary", "metrics"}
    prompt = request.messages[0].content
    assert f"Instrument: {analysis.symbol}." in prompt
    assert f"Horizon: {analysis.horizon_days} trading days" in prompt
    assert shown(request, "volatility") == f"{analysis.metrics['volatility']:.1%}"
    assert shown(request, "sharpe") == f"{analysis.metrics['sharpe']:.2f}"
    assert shown(request, "max_drawdown") == f"{analysis.metrics['max_drawdown']:.1%}"
    assert shown(request, "momentum_12_1") == f"{analysis.technicals['momentum_12_1']:.1%}"
    assert shown(request, "horizon_point") == f"{analysis.expected_return['point']:.1%}"
    assert any(line.startswith("- factor_") for line in prompt.splitlines())
    answer = grounded_answer(request)
    assert analysis.commentary == QuantitativeCommentary(
        text=answer["commentary"], metrics=answer["metrics"], written_by="model"
    )
    use = analysis.commentary_use
    assert use is not None
    assert (use.step, use.model_id, use.prompt_template, use.offline) == (
        COMMENTARY_STEP,
        QUANT,
        COMMENTARY_STEP,
        False,
    )
    assert use.cost_usd == pytest.approx(300 / 1000 * 0.0008 + 80 / 1000 * 0.0032)
    assert [u for u in ctx.model_uses if u.step == COMMENTARY_STEP] == [use]
    assert not [m for m in messages if m.content.get("step") == COMMENTARY_STEP]


def test_offline_the_commentary_is_the_code_one_and_it_is_grounded(
    container: Container, offline: CandidateAnalysis
) -> None:
    again, ctx, _ = analyse(container, None)
    commentary = offline.commentary
    assert commentary is not None
    assert commentary.written_by == "code"
    assert again.commentary == commentary  # deterministic
    assert ctx.model_uses[-1].step == COMMENTARY_STEP
    assert ctx.model_uses[-1].offline
    assert 2 <= commentary.text.count(". ") + 1 <= 4
    benchmark = "SPX" if offline.metrics.get("beta") is not None else None
    metrics = shown_metrics(offline, benchmark)
    assert check_numbers(commentary.text, allowed_numbers(offline, metrics, benchmark)).ok
    assert f"{offline.metrics['volatility']:.1%}" in commentary.text
    keys = metric_keys(offline, metrics)
    assert set(commentary.metrics) <= set(keys)
    assert "trend" in commentary.metrics
    # a model repeating the code's commentary passes the same reading
    echoed = judge(
        {"commentary": commentary.text, "metrics": commentary.metrics},
        keys,
        allowed_numbers(offline, metrics, benchmark),
    )
    assert echoed.commentary is not None
    assert echoed.commentary.text == commentary.text


# --------------------------------------------------------------------------------------- rejected answers


def _inventive(request: ModelRequest) -> dict[str, Any]:
    good = grounded_answer(request)
    return {**good, "commentary": good["commentary"] + " Analysts expect a 37.3% rally into the print."}


@pytest.mark.parametrize(
    ("answer", "reason", "unsupported"),
    [
        (_inventive, "states numbers that were not computed", ["37.3%"]),
        (lambda request: {"commentary": "   ", "metrics": ["volatility"]}, "empty commentary", []),
        (lambda request: {"commentary": "%%% 1.2 ### 3.4 @@ 5.6 !!", "metrics": ["volatility"]}, "garbled", []),
        (
            lambda request: {**grounded_answer(request), "metrics": ["volatility", "price_to_earnings"]},
            "names metrics it was not given: price_to_earnings",
            [],
        ),
        (lambda request: {**grounded_answer(request), "metrics": []}, "no list of the metrics discussed", []),
        (lambda request: None, "not a JSON object", []),
    ],
    ids=["ungrounded-number", "empty", "garbled", "unknown-metric", "no-metrics", "not-json"],
)
def test_a_rejected_commentary_is_replaced_by_the_code_one_and_recorded(
    container: Container, offline: CandidateAnalysis, answer: Answer, reason: str, unsupported: list[str]
) -> None:
    provider = Scripted(answer)
    analysis, _ctx, messages = analyse(container, provider)
    assert analysis.symbol == offline.symbol
    assert analysis.commentary == offline.commentary  # the same text the offline path gives
    assert "37.3%" not in (analysis.commentary.text if analysis.commentary else "")
    rejected = [m for m in messages if m.content.get("grounding") == "commentary rejected"]
    assert len(rejected) == 1
    content = rejected[0].content
    assert rejected[0].sender is AgentName.ANALYSIS
    assert rejected[0].type is MessageType.UPDATE
    assert content["symbol"] == analysis.symbol
    assert content["step"] == COMMENTARY_STEP
    assert content["reason"].startswith(reason)
    assert content["unsupported_numbers"] == unsupported
    assert rejected[0].document_sources == []
    use = analysis.commentary_use
    assert use is not None
    assert use.step == COMMENTARY_STEP
    assert not use.offline
    assert use.model_id == QUANT
    assert len(provider.commentary_calls()) == 1  # no second call


# --------------------------------------------------------------------------------------- failures


@pytest.mark.parametrize("error", [ModelThrottled("rate exceeded"), ModelUnavailable("503 from the endpoint")])
def test_a_failing_model_falls_back_to_the_code_commentary(
    container: Container, offline: CandidateAnalysis, error: Exception
) -> None:
    provider = Scripted(raises=error)
    analysis, _, messages = analyse(container, provider)
    assert analysis.commentary == offline.commentary
    assert len(provider.commentary_calls()) == 2  # retried per the policy, then the offline provider answered
    use = analysis.commentary_use
    assert use is not None
    assert use.offline
    assert use.step == COMMENTARY_STEP
    fell_back = [m for m in messages if m.content.get("step") == COMMENTARY_STEP]
    assert len(fell_back) == 1
    assert fell_back[0].content["commentary"] == "every model failed; written by code"
    assert str(error) in fell_back[0].content["failures"][0]


def test_an_unexpected_error_in_the_call_never_fails_the_analysis(
    container: Container, offline: CandidateAnalysis
) -> None:
    analysis, _, messages = analyse(container, Scripted(raises=RuntimeError("provider bug")))
    assert analysis.commentary == offline.commentary
    assert analysis.commentary_use is None
    errors = [m for m in messages if m.type is MessageType.ERROR and m.content.get("step") == COMMENTARY_STEP]
    assert len(errors) == 1
    assert "RuntimeError: provider bug" in errors[0].content["error"]


# --------------------------------------------------------------------------------------- the whole flow


def test_each_idea_carries_its_commentary_and_no_document_text_reaches_the_commentary_prompt(
    container: Container,
) -> None:
    class Passages:
        def passages(self, *, reader: AccessScope, query: str, as_of: datetime, limit: int, **kwargs: object):  # type: ignore[no-untyped-def]
            if "XOM" not in query and "Exxon" not in query:
                return []
            citation = DocumentCitation(document_id="doc-x", version=1, page=1, chunk_id="doc-x:1:0", snippet=PRIVATE)
            return [
                KnowledgeHit(
                    citation=citation,
                    title="Board minutes",
                    doc_type=DocumentType.PDF,
                    kind=ChunkKind.TEXT,
                    snippet=PRIVATE,
                    score=0.9,
                )
            ]

    provider = Scripted(grounded_answer)
    supervisor = Supervisor(
        market=container.market, evidence=Passages(), router=router(provider), clock=container.clock
    )  # type: ignore[arg-type]
    result = supervisor.generate(IdeaRequest(max_ideas=3), request_id="req_flow", reader=READER)
    assert result.ideas
    calls = provider.commentary_calls()
    symbols = [re.search(r"Instrument: (\S+)\.", request.messages[0].content).group(1) for request, _ in calls]  # type: ignore[union-attr]
    assert len(symbols) == len(set(symbols))  # one call per analysed candidate
    assert all(
        "Nightjar" not in request.rendered_text() and "41.7" not in request.rendered_text() for request, _ in calls
    )
    assert any("Nightjar" in request.rendered_text() for request, _ in provider.calls)  # research did read it
    for idea in result.ideas:
        commentary = idea.analysis.commentary if idea.analysis else None
        assert commentary is not None
        assert commentary.written_by == "model"
        own = [use for use in idea.provenance.models if use.step == COMMENTARY_STEP]
        assert len(own) == 1
        assert own[0].model_id == QUANT
    assert sum(use.step == COMMENTARY_STEP for use in result.model_uses) == len(calls)


# --------------------------------------------------------------------------------------- stored ideas and exports


def _analysis(commentary: QuantitativeCommentary | None) -> IdeaAnalysis:
    return IdeaAnalysis(
        composite=0.8,
        rank=1,
        screened=20,
        ranking_score=0.7,
        data_start=date(2021, 1, 4),
        data_end=date(2023, 12, 29),
        commentary=commentary,
    )


def test_ideas_stored_before_commentaries_still_load() -> None:
    idea = make_idea(analysis=_analysis(None))
    stored = json.loads(idea.model_dump_json())
    del stored["analysis"]["commentary"]
    loaded = InvestmentIdea.model_validate_json(json.dumps(stored))
    assert loaded.analysis is not None
    assert loaded.analysis.commentary is None
    assert loaded == idea
    assert "Quantitative commentary" not in _markdown(view_for(loaded, lambda source: True), None)
    assert "Quantitative commentary" not in _html(view_for(loaded, lambda source: True), None)


def test_the_exports_show_the_commentary_labelled_and_escaped() -> None:
    text = "Volatility of 24.0% <b>sits</b> against a Sharpe ratio of 1.10 & a drawdown of 31.0%."
    commentary = QuantitativeCommentary(text=text, metrics=["volatility", "sharpe"], written_by="model")
    idea = make_idea(analysis=_analysis(commentary))
    for reader in (lambda source: True, lambda source: False):  # document-free: restricted readers see it too
        view = view_for(idea, reader)
        markdown = _markdown(view, None)
        assert "### Quantitative commentary" in markdown
        assert text in markdown
        assert "Written by the quantitative model" in markdown
        page = _html(view, None)
        assert "<h3>Quantitative commentary</h3>" in page
        assert "Volatility of 24.0% &lt;b&gt;sits&lt;/b&gt; against a Sharpe ratio of 1.10 &amp; a drawdown" in page
        assert "<b>sits" not in page
    code = make_idea(analysis=_analysis(commentary.model_copy(update={"written_by": "code"})))
    assert "Written by code from the computed metrics." in _markdown(view_for(code, lambda source: True), None)

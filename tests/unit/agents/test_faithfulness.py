"""Faithfulness of model-written research text (:mod:`investai.agents.faithfulness`): every sentence cites a
passage and says only what the passages it cites say; lists of names and invented names are refused."""

from __future__ import annotations

from investai.agents.faithfulness import SUPPORT_THRESHOLD, check_faithfulness, stem
from investai.agents.grounding import check_numbers

PASSAGES = {
    1: "Coca-Cola delivered organic revenue growth of 11% in the first quarter of 2024, made up of 13% price and "
    "mix. Its pricing power rests on the bottler system and the brand portfolio.",
    2: "We expect PepsiCo to lean on promotional spending in the second half, which caps its organic growth near 4% "
    "for 2024. Coca-Cola, with a smaller food exposure and a franchised bottling model, is better placed if "
    "consumers keep trading down.",
}
NAMES = ("KO", "The Coca-Cola Company", "Coca-Cola")


def check(text: str):  # type: ignore[no-untyped-def]
    return check_faithfulness(text, PASSAGES, known_names=NAMES)


def test_sentences_copied_or_paraphrased_from_the_cited_passages_are_supported() -> None:
    report = check(
        "Coca-Cola delivered organic revenue growth of 11% in the first quarter of 2024 [1]. "
        "Its pricing power rests on its bottlers and brands. [1] "
        "With a smaller food exposure and a franchised bottling model, Coca-Cola is better placed than PepsiCo "
        "if consumers keep trading down [2]."
    )
    assert report.ok, report.reasons
    assert [check.cited for check in report.sentences] == [(1,), (1,), (2,)]
    assert all(check.coverage >= SUPPORT_THRESHOLD for check in report.sentences)


def test_fluent_text_the_passages_never_say_is_rejected() -> None:
    report = check(
        "Coca-Cola is well positioned to capture secular growth in emerging markets through its digital "
        "transformation strategy [1]. Management's disciplined capital allocation should drive durable "
        "shareholder value [2]."
    )
    assert not report.ok
    assert len(report.reasons) == 2
    assert all("content words" in reason for reason in report.reasons)
    assert "digital" in report.sentences[0].missing


def test_a_partly_supported_text_is_rejected_for_its_unsupported_sentence() -> None:
    report = check(
        "Coca-Cola delivered organic revenue growth of 11% in the first quarter of 2024 [1]. "
        "Analysts see a takeover bid from a private equity consortium as likely next year [2]."
    )
    assert not report.ok
    assert report.sentences[0].supported
    assert not report.sentences[1].supported
    assert report.reasons[0].startswith("sentence 2:")


def test_a_list_of_names_is_not_a_summary() -> None:
    numbered = check("1. Coca-Cola\n2. PepsiCo\n3. Procter & Gamble")
    assert not numbered.ok
    assert "a list, not sentences" in numbered.reasons[0]
    inline = check("Coca-Cola, PepsiCo and Coca-Cola [1][2].")
    assert not inline.ok
    assert "lists names" in inline.reasons[0]


def test_a_list_of_supported_sentences_is_judged_sentence_by_sentence() -> None:
    report = check(
        "- Coca-Cola delivered organic revenue growth of 11% in the first quarter of 2024 [1].\n"
        "- Its pricing power rests on the bottler system and the brand portfolio [1]."
    )
    assert report.ok, report.reasons


def test_every_sentence_must_cite_a_passage_it_was_shown() -> None:
    missing = check("Coca-Cola delivered organic revenue growth of 11% in the first quarter of 2024.")
    assert not missing.ok
    assert "cites no passage" in missing.reasons[0]
    invented = check("Coca-Cola delivered organic revenue growth of 11% in the first quarter of 2024 [7].")
    assert not invented.ok
    assert "[7], not a passage" in invented.reasons[0]
    assert check("Coca-Cola delivered organic revenue growth of 11% in the first quarter [1-2].").ok


def test_a_name_the_cited_passage_does_not_mention_is_refused() -> None:
    report = check("Coca-Cola delivered organic revenue growth of 11% in the first quarter, ahead of Nestle [1].")
    assert not report.ok
    assert "Nestle" in report.reasons[0]
    other_passage = check("We expect PepsiCo to lean on promotional spending in the second half [1].")
    assert not other_passage.ok  # PepsiCo is in passage 2, not in the one cited
    assert "PepsiCo" in other_passage.reasons[0]


def test_the_instruments_own_names_need_no_passage() -> None:
    report = check("KO: its pricing power rests on the bottler system and the brand portfolio [1].")
    assert report.ok, report.reasons


def test_an_empty_text_is_rejected() -> None:
    report = check("   ")
    assert not report.ok
    assert report.reasons == ["the text is empty"]


def test_inflections_share_a_stem() -> None:
    assert stem("prices") == stem("pricing") == stem("price")
    assert stem("companies") == stem("company")
    assert stem("rising") == stem("rise")


def test_citation_markers_are_not_figures_for_the_number_check() -> None:
    assert check_numbers("Revenue grew 11% [2]. Margins rose [1, 3] and [4-5].", [0.11]).ok
    assert check_numbers("Revenue grew 12% [2].", [0.11]).unsupported == ["12%"]
    assert check_numbers("A list of [37.5] is a figure.", []).unsupported == ["37.5"]

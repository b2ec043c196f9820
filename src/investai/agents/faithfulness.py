"""Faithfulness: model-written research text may say only what the passages it cites say.

The number check (:mod:`investai.agents.grounding`) catches invented figures; this check catches invented
words. A text is accepted only when it is sentences (a bulleted or numbered list counts only when each item is
a sentence) and every sentence is supported:

* it carries at least one citation marker (``[2]``, ``[1, 3]``, ``[1-2]``) and every number in it names one
  of the passages it was shown;
* it is a statement, not a list of names: at least one content word in lower case (a verb, a noun);
* every name in it (a capitalised word past the first, an acronym, a model number such as ``MI300X``) appears
  in the cited passages, or is one of the names of the instrument the text is about;
* at least ``SUPPORT_THRESHOLD`` (60%) of its content words appear in the cited passages. Content words are
  the words and numbers left after removing common function words; both sides are compared lower-cased and
  crudely stemmed ("prices", "pricing" and "price" are one word; "Merck's" is "Merck"; "11%" is "11"), and a
  hyphenated word counts when it, or each of its parts, appears.

The threshold lets a model paraphrase ("grew organic revenue 11%" for "delivered organic revenue growth of
11%") while a fluent sentence about things the passage never mentions ("well positioned to capture secular
growth through its digital transformation") falls far below it. The check is lexical: it cannot see that a
sentence reverses what its passage says (no entailment model is installed), which is why the extractive
summary, made of the passages' own sentences, remains the default and a rejected text is recorded with why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from investai.agents.evidence import split_sentences

SUPPORT_THRESHOLD = 0.6
"""The least share of a sentence's content words that must appear in the passages it cites."""

_MARKERS = re.compile(r"\[(\d+(?:\s*[-\u2013,]\s*\d+)*)\]")
_LIST_LINE = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022\u25aa])\s+(?=\S)")
_ITEM_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*(?:\s*\[[\d,\s\u2013-]+\])*\s*$")
_TOKEN = re.compile(r"[$€£]?\d[\d,]*(?:\.\d+)?%?|[A-Za-z][A-Za-z0-9]*(?:['\u2019&-][A-Za-z0-9]+)*")
_STOPWORDS_TEXT = """
    a about above across after again against all almost along also although am among an and another any are
    around as at be because been before being below between both but by can could did do does doing down during
    each either even ever every few for from further had has have having he her here hers herself him himself
    his how however i if in into is it its itself just least less many may me might more most much must my
    near neither no nor not now of off on once one only onto or other others our ours out over own per quite
    rather same several she should since so some such than that the their theirs them themselves then there
    these they this those though through thus to too toward towards under until up upon us very via was we
    were what whatever when where whereas whether which while who whom whose why will with within without would
    yet you your also moreover furthermore meanwhile notably overall still already according says said note
    notes noted"""
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


@dataclass(frozen=True)
class SentenceCheck:
    """One sentence of the text: the passages it cites and what, if anything, it says that they do not."""

    sentence: str
    cited: tuple[int, ...]
    coverage: float
    missing: tuple[str, ...] = ()
    problem: str | None = None

    @property
    def supported(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class FaithfulnessReport:
    sentences: tuple[SentenceCheck, ...] = ()
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.sentences) and all(check.supported for check in self.sentences)

    @property
    def reasons(self) -> list[str]:
        """Why the text is rejected, one line per problem (empty when it is accepted)."""
        reasons = list(self.problems)
        reasons += [
            f"sentence {number}: {check.problem}"
            for number, check in enumerate(self.sentences, start=1)
            if check.problem is not None
        ]
        if not reasons and not self.sentences:
            reasons.append("the text is empty")
        return reasons


def check_faithfulness(
    text: str,
    passages: Mapping[int, str],
    *,
    known_names: Iterable[str] = (),
    threshold: float = SUPPORT_THRESHOLD,
) -> FaithfulnessReport:
    """Check every sentence of ``text`` against the ``passages`` it cites by number (see the module doc).
    ``known_names`` are names the text may use without a passage naming them (the instrument's own)."""
    problems: list[str] = []
    items = [line[match.end() :] for line in text.splitlines() if (match := _LIST_LINE.match(line))]
    if len(items) >= 2 and not all(_ITEM_END.search(item) for item in items):
        problems.append("the text is a list, not sentences")
    prose = "\n".join(_LIST_LINE.sub("", line) for line in text.splitlines())
    vocabulary = {number: _words(passage) for number, passage in passages.items()}
    known = {word for name in known_names for word in _words(name)}
    checks = tuple(
        _check_sentence(sentence, vocabulary, known, threshold)
        for sentence in split_sentences(prose, keep_markers=True)
    )
    return FaithfulnessReport(sentences=checks, problems=tuple(problems))


def _check_sentence(
    sentence: str, vocabulary: Mapping[int, set[str]], known: set[str], threshold: float
) -> SentenceCheck:
    cited = _cited(sentence)
    bare = " ".join(_MARKERS.sub(" ", sentence).split())
    if not cited:
        return SentenceCheck(sentence=sentence, cited=(), coverage=0.0, problem="it cites no passage ([n])")
    unknown = [number for number in cited if number not in vocabulary]
    if unknown:
        listed = ", ".join(f"[{number}]" for number in unknown)
        return SentenceCheck(sentence=sentence, cited=cited, coverage=0.0, problem=f"it cites {listed}, not a passage")
    words = set().union(*(vocabulary[number] for number in cited)) | known
    tokens = _TOKEN.findall(bare)
    content = [token for token in tokens if _is_content(token)]
    names = [token for index, token in enumerate(tokens) if _is_name(token) and (index or _marked_name(token))]
    if len(names) >= 2 and not any(token[:1].islower() for token in content):
        return SentenceCheck(
            sentence=sentence, cited=cited, coverage=0.0, problem="it lists names and states nothing about them"
        )
    absent_names = [name for name in dict.fromkeys(names) if not _supported(name, words)]
    missing = tuple(dict.fromkeys(token for token in content if not _supported(token, words)))
    coverage = 1.0 - len([t for t in content if not _supported(t, words)]) / len(content) if content else 1.0
    problem = None
    if absent_names:
        problem = f"it names {', '.join(absent_names)}, which the cited passage does not"
    elif coverage < threshold:
        problem = (
            f"only {coverage:.0%} of its content words are in the cited passage (at least {threshold:.0%} needed); "
            f"not found: {', '.join(missing[:8])}"
        )
    return SentenceCheck(sentence=sentence, cited=cited, coverage=round(coverage, 4), missing=missing, problem=problem)


def _cited(sentence: str) -> tuple[int, ...]:
    numbers: list[int] = []
    for group in _MARKERS.findall(sentence):
        for part in re.split(r"\s*,\s*", group):
            bounds = [int(value) for value in re.split(r"\s*[-\u2013]\s*", part) if value]
            if len(bounds) == 2 and 0 < bounds[1] - bounds[0] < 50:
                numbers.extend(range(bounds[0], bounds[1] + 1))
            else:
                numbers.extend(bounds)
    return tuple(dict.fromkeys(numbers))


def _is_content(token: str) -> bool:
    norm = _norm(token)
    return bool(norm) and norm not in _STOPWORDS and (len(norm) > 2 or norm[:1].isdigit())


def _is_name(token: str) -> bool:
    """A capitalised word, an acronym or a model number (not a number alone)."""
    return token[:1].isupper() and _norm(token) not in _STOPWORDS


def _marked_name(token: str) -> bool:
    """A first word that is a name whatever its place: an acronym, a model number, inner capitals ("PepsiCo")."""
    return any(ch.isdigit() for ch in token) or any(ch.isupper() for ch in token[1:])


def _supported(token: str, words: set[str]) -> bool:
    norm = _norm(token)
    if norm in words or stem(norm) in words:
        return True
    parts = [part for part in re.split(r"[-&'\u2019]", norm) if part]
    return len(parts) > 1 and all(part in words or stem(part) in words for part in parts)


def _words(text: str) -> set[str]:
    """Every word and number of ``text``, lower-cased, as written and stemmed, hyphenated words also in parts."""
    found: set[str] = set()
    for token in _TOKEN.findall(text):
        norm = _norm(token)
        if not norm:
            continue
        found.update((norm, stem(norm)))
        for part in re.split(r"[-&'\u2019]", norm):
            if part:
                found.update((part, stem(part)))
    return found


def _norm(token: str) -> str:
    token = token.lower().strip("$€£%")
    token = re.sub(r"['\u2019]s$", "", token)
    if token[:1].isdigit():
        token = token.replace(",", "")
    return token


def stem(word: str) -> str:
    """A crude stem, the same for a word's common inflections ("prices", "pricing", "price" -> "pric")."""
    if word[:1].isdigit():
        return word
    for suffix in ("ations", "ation", "ments", "ment", "ingly", "ings", "ing", "edly", "ed", "ers", "er", "ies", "es"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + ("i" if suffix == "ies" else "")
            break
    else:
        if word.endswith("ly") and len(word) > 5:
            word = word[:-2]
        elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
            word = word[:-1]
    if word.endswith("y") and len(word) > 3:
        word = word[:-1] + "i"
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word

"""The usage ledger: every model use recorded once, month-to-date counters per organisation, user, model and
step, and the budget overrides administrators set. SQLite in the embedded shape; one DynamoDB table with
atomic ``ADD`` counters on AWS.

Shared behaviour lives in the public methods; a backend fills the small hooks. A batch of uses (one run of
an idea request) is recorded under a key exactly once: recording it again changes nothing, so a retried
write never counts twice, and concurrent writers (processes, Lambda instances) never lose an update.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from investai.domain.budgets import (
    BudgetOverride,
    BudgetScope,
    CostLine,
    CostReport,
    UsageDimension,
    UsageEntry,
    UsageTotals,
    month_start,
)


@dataclass(frozen=True)
class CounterKey:
    """One month-to-date counter: within ``organisation_id``, the usage of ``name`` along ``dimension``."""

    month: str
    organisation_id: str
    dimension: UsageDimension
    name: str


def counters_of(entries: Iterable[UsageEntry]) -> dict[CounterKey, UsageTotals]:
    """What ``entries`` add to each counter."""
    added: dict[CounterKey, UsageTotals] = {}
    for entry in entries:
        for dimension, name in entry.dimensions().items():
            key = CounterKey(entry.month, entry.organisation_id, dimension, name)
            added[key] = added.get(key, UsageTotals()).plus(entry.totals)
    return added


class UsageLedger(ABC):
    """Model usage and budget overrides (see the module docstring)."""

    def record(self, batch_key: str, entries: Sequence[UsageEntry]) -> bool:
        """Record ``entries`` under ``batch_key`` (e.g. an idea request's run): their counters move together,
        atomically. False, and nothing changes, when that key was recorded before."""
        if not batch_key or len(batch_key) > 200:
            raise ValueError("a usage batch needs a key of 1 to 200 characters")
        if not entries:
            return False
        return self._apply(batch_key, list(entries), counters_of(entries))

    def totals(self, *, month: str, organisation_id: str, user_id: str | None = None) -> UsageTotals:
        """The month's usage of the organisation, or of one of its users."""
        month_start(month)  # refuses a malformed month
        if user_id is None:
            key = CounterKey(month, organisation_id, UsageDimension.ORGANISATION, organisation_id)
        else:
            key = CounterKey(month, organisation_id, UsageDimension.USER, user_id)
        return self._counter(key)

    def report(self, *, month: str, organisation_id: str | None = None) -> CostReport:
        """The month's usage by organisation, user, model and step (one organisation's, or everyone's)."""
        month_start(month)
        sums: dict[UsageDimension, dict[str, UsageTotals]] = {dimension: {} for dimension in UsageDimension}
        for key, totals in self._counters(month, organisation_id):
            named = sums[key.dimension]
            named[key.name] = named.get(key.name, UsageTotals()).plus(totals)
        total = UsageTotals()
        for totals in sums[UsageDimension.ORGANISATION].values():
            total = total.plus(totals)
        return CostReport(
            month=month,
            organisation_id=organisation_id,
            total=CostLine.of("total", total),
            by_organisation=_lines(sums[UsageDimension.ORGANISATION]),
            by_user=_lines(sums[UsageDimension.USER]),
            by_model=_lines(sums[UsageDimension.MODEL]),
            by_step=_lines(sums[UsageDimension.STEP]),
        )

    # --- budget overrides ------------------------------------------------------------------------------------

    @abstractmethod
    def set_override(self, override: BudgetOverride) -> None:
        """Store ``override``, replacing any for the same organisation, scope and subject."""

    @abstractmethod
    def clear_override(self, *, organisation_id: str, scope: BudgetScope, subject_id: str) -> bool:
        """Remove an override; whether there was one."""

    @abstractmethod
    def override(self, *, organisation_id: str, scope: BudgetScope, subject_id: str) -> BudgetOverride | None:
        """The override of one subject, if any."""

    @abstractmethod
    def overrides(self, *, organisation_id: str) -> list[BudgetOverride]:
        """Every override of an organisation: the organisation's first, then users' by id."""

    # --- hooks -----------------------------------------------------------------------------------------------

    @abstractmethod
    def _apply(self, batch_key: str, entries: list[UsageEntry], counters: dict[CounterKey, UsageTotals]) -> bool:
        """Atomically: unless ``batch_key`` is recorded, record it with ``entries`` and add ``counters``."""

    @abstractmethod
    def _counter(self, key: CounterKey) -> UsageTotals:
        """One counter (zero when nothing was counted)."""

    @abstractmethod
    def _counters(self, month: str, organisation_id: str | None) -> Iterable[tuple[CounterKey, UsageTotals]]:
        """Every counter of the month, of one organisation or all."""


def _lines(named: dict[str, UsageTotals]) -> list[CostLine]:
    """Report lines, the largest cost first (then the most tokens, then by name)."""
    ordered = sorted(named.items(), key=lambda item: (-item[1].cost_nanos, -item[1].tokens, item[0]))
    return [CostLine.of(name, totals) for name, totals in ordered]

"""Intrinsic and relative valuation: discounted cash flow and peer multiples.

Units: cash flows, net debt and the returned values are in one currency unit (e.g. USD, or USD millions for
the company totals); rates are ANNUAL fractions (``0.09`` is 9%); periods are years. Per-share values are the
equity value divided by ``shares`` (in the unit of the totals divided by the unit of the share count).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, TypedDict

import numpy as np
import pandas as pd

from investai.analytics.returns import FloatArray

__all__ = ["MultiplesValuation", "dcf_sensitivity", "dcf_value", "multiples_valuation"]


def _finite(name: str, number: float) -> float:
    value = float(number)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {number!r}")
    return value


def _check_rates(discount_rate: float, terminal_growth: float) -> None:
    if discount_rate <= -1.0:
        raise ValueError(f"discount_rate must be above -100%, got {discount_rate!r}")
    if discount_rate <= terminal_growth:
        raise ValueError(
            f"discount_rate ({discount_rate!r}) must exceed terminal_growth ({terminal_growth!r}) for a finite "
            "Gordon terminal value"
        )


def _explicit_flows(free_cash_flow: float, growth_rates: Sequence[float]) -> FloatArray:
    rates = np.asarray([_finite("growth rate", g) for g in growth_rates], dtype=np.float64)
    return free_cash_flow * np.cumprod(1.0 + rates)


def _enterprise_value(flows: FloatArray, base_flow: float, discount_rate: float, terminal_growth: float) -> float:
    years = np.arange(1, flows.size + 1, dtype=np.float64)
    factors = (1.0 + discount_rate) ** -years
    last_flow = flows[-1] if flows.size else base_flow
    terminal = last_flow * (1.0 + terminal_growth) / (discount_rate - terminal_growth)
    return float(np.sum(flows * factors) + terminal * (1.0 + discount_rate) ** -float(flows.size))


def dcf_value(
    free_cash_flow: float,
    growth_rates: Sequence[float],
    discount_rate: float,
    terminal_growth: float,
    *,
    net_debt: float = 0.0,
    shares: float = 1.0,
) -> float:
    """Per-share value from a two-stage discounted free-cash-flow model.

    With ``N = len(growth_rates)``: ``FCF_t = FCF_0 * prod_{i<=t}(1 + g_i)`` for ``t = 1..N``;
    ``TV = FCF_N * (1 + g_T) / (r - g_T)`` (Gordon growth, valued at year ``N``);
    ``EV = sum_t FCF_t / (1 + r)**t + TV / (1 + r)**N``; value ``= (EV - net_debt) / shares``.

    Parameters
    ----------
    free_cash_flow : float
        Last twelve months' free cash flow ``FCF_0`` (currency, the year-0 flow, not itself discounted).
    growth_rates : sequence of float
        Annual growth of each explicit year, fractions; empty means a pure Gordon model ``FCF_0 (1+g)/(r-g)``.
    discount_rate : float
        Annual discount rate ``r`` (e.g. the WACC), fraction.
    terminal_growth : float
        Perpetual annual growth ``g_T`` after the explicit period, fraction.
    net_debt : float, default 0
        Debt minus cash (currency), subtracted from the enterprise value; negative for net cash.
    shares : float, default 1
        Share count; the default 1 returns the total equity value.

    Returns
    -------
    float
        Equity value per share (currency per share). May be negative (negative flows or net debt above EV);
        it is not floored at zero.

    Raises
    ------
    ValueError
        ``discount_rate <= terminal_growth``, ``discount_rate <= -1``, ``shares <= 0`` or a non-finite input.
    """
    fcf = _finite("free_cash_flow", free_cash_flow)
    r = _finite("discount_rate", discount_rate)
    g = _finite("terminal_growth", terminal_growth)
    debt = _finite("net_debt", net_debt)
    count = _finite("shares", shares)
    if count <= 0:
        raise ValueError(f"shares must be positive, got {shares!r}")
    _check_rates(r, g)
    flows = _explicit_flows(fcf, growth_rates)
    return (_enterprise_value(flows, fcf, r, g) - debt) / count


def dcf_sensitivity(
    free_cash_flow: float,
    growth_rates: Sequence[float],
    discount_rates: Sequence[float],
    terminal_growths: Sequence[float],
    *,
    net_debt: float = 0.0,
    shares: float = 1.0,
) -> pd.DataFrame:
    """Grid of :func:`dcf_value` over discount rates and terminal growth rates.

    Parameters
    ----------
    free_cash_flow, growth_rates, net_debt, shares
        As in :func:`dcf_value` (a bad one raises ``ValueError`` as there).
    discount_rates : sequence of float
        Annual discount rates (rows), fractions.
    terminal_growths : sequence of float
        Perpetual growth rates (columns), fractions.

    Returns
    -------
    pandas.DataFrame
        Per-share values, index ``discount_rate`` x columns ``terminal_growth`` in the given order. NaN where
        ``discount_rate <= terminal_growth`` or the discount rate is not above -1 or either rate is non-finite
        (no exception); empty sequences give an empty frame.
    """
    rows = [float(r) for r in discount_rates]
    cols = [float(g) for g in terminal_growths]
    grid = np.full((len(rows), len(cols)), np.nan, dtype=np.float64)
    for i, r in enumerate(rows):
        for j, g in enumerate(cols):
            if math.isfinite(r) and math.isfinite(g) and r > g and r > -1.0:
                grid[i, j] = dcf_value(free_cash_flow, growth_rates, r, g, net_debt=net_debt, shares=shares)
    return pd.DataFrame(
        grid,
        index=pd.Index(rows, name="discount_rate", dtype=np.float64),
        columns=pd.Index(cols, name="terminal_growth", dtype=np.float64),
    )


class MultiplesValuation(TypedDict):
    """Result of :func:`multiples_valuation`."""

    value: float
    """``metric_value`` x the central multiple."""
    low: float
    """``metric_value`` x the 25th-percentile multiple."""
    high: float
    """``metric_value`` x the 75th-percentile multiple."""
    multiple: float
    """Central (median or mean) peer multiple."""
    multiple_low: float
    multiple_high: float
    peers: int
    """Peer multiples used (finite and positive)."""


def multiples_valuation(
    metric_value: float,
    peer_multiples: pd.Series,
    *,
    statistic: Literal["median", "mean"] = "median",
) -> MultiplesValuation:
    """Relative valuation: the company's metric times its peers' multiple.

    Parameters
    ----------
    metric_value : float
        The company's metric the multiple applies to (e.g. EPS for P/E, EBITDA for EV/EBITDA), currency.
    peer_multiples : pandas.Series
        One multiple per peer (unitless). NaN, infinite and non-positive multiples are excluded (a negative P/E
        is not a price for earnings).
    statistic : {"median", "mean"}, default "median"
        Central multiple.

    Returns
    -------
    MultiplesValuation
        ``value``, ``low`` and ``high`` (currency, in the unit the multiple maps to, e.g. price per share for
        P/E x EPS) at the central, 25th and 75th percentile multiples (numpy linear interpolation), the
        multiples themselves, and the peer count. With no usable peer every float is NaN. A non-positive or
        NaN ``metric_value`` gives NaN values (the multiples are still reported), ``low <= value <= high`` for
        the median otherwise.

    Raises
    ------
    ValueError
        Unknown ``statistic``.
    """
    if statistic not in ("median", "mean"):
        raise ValueError(f"statistic must be 'median' or 'mean', got {statistic!r}")
    multiples = pd.to_numeric(pd.Series(peer_multiples), errors="coerce").to_numpy(dtype=np.float64)
    usable = multiples[np.isfinite(multiples) & (multiples > 0)]
    if usable.size == 0:
        central = low_mult = high_mult = math.nan
    else:
        central = float(np.median(usable) if statistic == "median" else np.mean(usable))
        low_mult, high_mult = (float(q) for q in np.percentile(usable, [25.0, 75.0]))
    metric = float(metric_value)
    scale = metric if math.isfinite(metric) and metric > 0 else math.nan
    return MultiplesValuation(
        value=scale * central,
        low=scale * low_mult,
        high=scale * high_mult,
        multiple=central,
        multiple_low=low_mult,
        multiple_high=high_mult,
        peers=int(usable.size),
    )

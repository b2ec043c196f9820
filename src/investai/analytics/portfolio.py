"""Position sizing, portfolio optimisation (via skfolio) and portfolio-fit diagnostics.

Conventions
-----------
* Inputs are simple (not log) periodic returns as fractions (0.01 is 1%), one column per asset. Unless stated
  otherwise they are assumed daily; annualised outputs use :mod:`investai.analytics.periods` (252 periods a year
  for daily data) and can be switched with the ``periodicity`` keyword.
* Weights are fractions of the portfolio (0.25 is 25%), long-only, and sum to 1 after optimisation.
* **NaN policy**: rows with any NaN are dropped (listwise) before estimating moments or optimising. Invalid
  arguments, infeasible constraints and too little data raise ``ValueError`` with a message saying why.
* The optimisers are thin wrappers around skfolio estimators fitted on the cleaned return panel with skfolio's
  default empirical prior (sample mean, sample covariance); see :func:`optimise` for the mapping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from investai.analytics.periods import Periodicity, periods_per_year

__all__ = [
    "MIN_OBSERVATIONS",
    "RISK_PARITY_SOLVER_PARAMS",
    "OptimisationMethod",
    "OptimisationResult",
    "kelly_fraction",
    "marginal_risk_contributions",
    "optimise",
    "portfolio_fit",
    "risk_parity_weights",
    "volatility_target_weight",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
OptimisationMethod: TypeAlias = Literal["mean_variance", "min_variance", "risk_parity", "hrp", "cvar"]

MIN_OBSERVATIONS = 20
"""Fewest clean return rows :func:`optimise` accepts (it also needs more rows than assets)."""
_CAP_TOL = 1e-12
"""Slack used when checking the feasibility of caps and saturation during redistribution."""
_CVAR_BETA = 0.95
"""Confidence level of the CVaR objective (the mean of the worst 5% of periods)."""
RISK_PARITY_SOLVER_PARAMS: dict[str, float] = {
    "tol_gap_abs": 1e-12,
    "tol_gap_rel": 1e-12,
    "tol_feas": 1e-12,
    "tol_ktratio": 1e-10,
}
"""CLARABEL tolerances for ``RiskBudgeting``: its defaults (1e-8) leave risk contributions unequal by ~1e-4
relative on daily data; these bring them to ~1e-6."""


# --------------------------------------------------------------------------------------------------- sizing


def volatility_target_weight(asset_vol_annual: float, target_vol_annual: float, max_weight: float = 1.0) -> float:
    """Weight that scales a position to a target volatility: ``min(target / asset_vol, max_weight)``.

    Parameters
    ----------
    asset_vol_annual : float
        The asset's annualised volatility as a fraction (0.30 is 30% a year); must be positive and finite.
    target_vol_annual : float
        The target annualised volatility of the position, same units; must be non-negative and finite.
    max_weight : float, default 1.0
        Upper bound on the weight (1.0 means no leverage); must be non-negative.

    Returns
    -------
    float
        Weight as a fraction of capital in ``[0, max_weight]``.

    Raises
    ------
    ValueError
        On a non-positive/NaN asset volatility, a negative/NaN target or a negative/NaN ``max_weight``.
    """
    if not (math.isfinite(asset_vol_annual) and asset_vol_annual > 0):
        raise ValueError(f"asset_vol_annual must be positive and finite, got {asset_vol_annual!r}")
    if not (math.isfinite(target_vol_annual) and target_vol_annual >= 0):
        raise ValueError(f"target_vol_annual must be non-negative and finite, got {target_vol_annual!r}")
    if not max_weight >= 0:
        raise ValueError(f"max_weight must be non-negative, got {max_weight!r}")
    return min(target_vol_annual / asset_vol_annual, max_weight)


def kelly_fraction(mean_excess_return: float, variance: float, cap: float = 0.25, fraction: float = 0.5) -> float:
    """Fractional, capped Kelly bet size: ``clip(fraction * mu / sigma^2, 0, cap)``.

    Parameters
    ----------
    mean_excess_return : float
        Expected return in excess of the risk-free rate, as a fraction per period.
    variance : float
        Variance of returns for the same period (e.g. both annual or both daily); must be positive.
    cap : float, default 0.25
        Maximum fraction of capital returned; must be non-negative.
    fraction : float, default 0.5
        Multiplier on full Kelly (0.5 is "half Kelly"); must be in ``[0, 1]``.

    Returns
    -------
    float
        Fraction of capital in ``[0, cap]``. A non-positive (or NaN) edge gives 0.0: no short bets are sized.

    Raises
    ------
    ValueError
        On a non-positive or NaN variance, a negative cap or a fraction outside ``[0, 1]``.
    """
    if not (math.isfinite(variance) and variance > 0):
        raise ValueError(f"variance must be positive and finite, got {variance!r}")
    if not cap >= 0:
        raise ValueError(f"cap must be non-negative, got {cap!r}")
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    if not mean_excess_return > 0:
        return 0.0
    return min(fraction * mean_excess_return / variance, cap)


def _check_covariance(covariance: pd.DataFrame) -> FloatArray:
    matrix: FloatArray = covariance.to_numpy(dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"covariance must be a non-empty square matrix, got shape {matrix.shape}")
    if not list(covariance.index) == list(covariance.columns):
        raise ValueError("covariance index and columns must carry the same asset labels in the same order")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("covariance contains NaN or infinite values")
    if not np.allclose(matrix, matrix.T, rtol=1e-10, atol=1e-14):
        raise ValueError("covariance must be symmetric")
    if float(np.linalg.eigvalsh(matrix).min()) <= 0:
        raise ValueError("covariance must be positive definite")
    return matrix


def risk_parity_weights(covariance: pd.DataFrame) -> pd.Series:
    """Long-only equal-risk-contribution weights for a covariance matrix.

    Solved exactly (to machine precision) as the convex problem of Spinu (2013) / Roncalli:
    ``min_y 0.5 y' S y - (1/n) sum(log y)`` over ``y > 0`` by damped Newton steps (the Hessian
    ``S + diag(1/(n y^2))`` is positive definite), then ``w = y / sum(y)``. At the optimum every asset has
    ``w_i (S w)_i = w' S w / n``. The same problem is what ``skfolio.optimization.RiskBudgeting`` solves with a
    conic solver from *returns*; this function works from a covariance (e.g. :func:`ledoit_wolf_covariance`).

    Parameters
    ----------
    covariance : pandas.DataFrame
        Positive-definite covariance matrix (any periodicity; the weights do not depend on scale), with the same
        asset labels on index and columns. NaNs are not allowed.

    Returns
    -------
    pandas.Series
        Weights (fractions summing to 1, all positive) indexed by asset.

    Raises
    ------
    ValueError
        If the matrix is empty, not square, not symmetric, has NaNs or is not positive definite.
    """
    matrix = _check_covariance(covariance)
    n = matrix.shape[0]
    scale = float(np.mean(np.diag(matrix)))
    sigma = matrix / scale
    budget = np.full(n, 1.0 / n)
    y = 1.0 / np.sqrt(np.diag(sigma)) / n
    for _ in range(100):
        gradient = sigma @ y - budget / y
        hessian = sigma + np.diag(budget / y**2)
        step = np.linalg.solve(hessian, gradient)
        t = 1.0
        while np.any(y - t * step <= 0):
            t *= 0.5
        y = y - t * step
        if float(np.max(np.abs(step) / y)) < 1e-14:
            break
    weights = y / y.sum()
    return pd.Series(weights, index=covariance.columns, dtype=np.float64)


# --------------------------------------------------------------------------------------------------- optimise


@dataclass(frozen=True)
class OptimisationResult:
    """Outcome of :func:`optimise`.

    Attributes
    ----------
    weights : pandas.Series
        Long-only weights (fractions summing to 1) indexed by asset, in the input column order.
    expected_return : float
        In-sample annualised arithmetic mean of the portfolio's periodic return (mean times periods per year).
    volatility : float
        In-sample annualised volatility: the sample standard deviation (ddof=1) of the portfolio's periodic
        return times the square root of periods per year.
    method : str
        The optimisation method used.
    """

    weights: pd.Series
    expected_return: float
    volatility: float
    method: str


def _clean_returns(returns: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(returns, pd.DataFrame):
        raise ValueError(f"returns must be a pandas DataFrame, got {type(returns).__name__}")
    if returns.columns.has_duplicates:
        raise ValueError("returns has duplicate asset columns")
    clean = returns.astype(np.float64).replace([np.inf, -np.inf], np.nan).dropna(how="any")
    n_assets = clean.shape[1]
    if n_assets < 2:
        raise ValueError(f"optimisation needs at least 2 assets, got {n_assets}")
    needed = max(MIN_OBSERVATIONS, n_assets + 1)
    if len(clean) < needed:
        raise ValueError(
            f"optimisation needs at least {needed} rows without NaN for {n_assets} assets, got {len(clean)}"
        )
    return clean


def _sector_matrix(
    columns: pd.Index, sectors: Mapping[str, str] | None, sector_cap: float | None
) -> tuple[FloatArray, list[str]] | None:
    """Indicator matrix (sectors x assets) for the sector cap, or ``None`` when no cap applies."""
    if sector_cap is None:
        return None
    if not 0 < sector_cap <= 1:
        raise ValueError(f"sector_cap must be in (0, 1], got {sector_cap!r}")
    if sectors is None:
        raise ValueError("sector_cap needs a sectors mapping (asset -> sector)")
    missing = [str(asset) for asset in columns if asset not in sectors]
    if missing:
        raise ValueError(f"sectors has no entry for assets {missing}")
    names = sorted({sectors[asset] for asset in columns})
    matrix = np.array([[1.0 if sectors[asset] == name else 0.0 for asset in columns] for name in names])
    return matrix, names


def _check_feasible(
    n_assets: int, max_weight: float | None, groups: FloatArray | None, sector_cap: float | None
) -> None:
    cap = 1.0 if max_weight is None else max_weight
    if max_weight is not None and not 0 < max_weight <= 1:
        raise ValueError(f"max_weight must be in (0, 1], got {max_weight!r}")
    if n_assets * cap < 1 - _CAP_TOL:
        raise ValueError(
            f"infeasible max_weight: {n_assets} assets x max_weight {cap} = {n_assets * cap:.6g} < 1, "
            "the weights cannot sum to 1"
        )
    if groups is not None and sector_cap is not None:
        capacity = float(np.sum(np.minimum(sector_cap, groups.sum(axis=1) * cap)))
        if capacity < 1 - _CAP_TOL:
            raise ValueError(
                f"infeasible caps: with sector_cap {sector_cap} and max_weight {cap} at most {capacity:.6g} of the "
                "portfolio can be invested, the weights cannot sum to 1"
            )


def _build_estimator(
    method: OptimisationMethod,
    max_weight: float | None,
    groups: FloatArray | None,
    sector_cap: float | None,
    risk_aversion: float,
) -> Any:
    """The skfolio estimator for ``method`` (skfolio ships no type stubs, hence ``Any``)."""
    from skfolio import RiskMeasure
    from skfolio.optimization import HierarchicalRiskParity, MeanRisk, ObjectiveFunction, RiskBudgeting

    weight_cap = 1.0 if max_weight is None else max_weight
    inequality: dict[str, Any] = {}
    if groups is not None and sector_cap is not None:
        inequality = {"left_inequality": groups, "right_inequality": np.full(groups.shape[0], sector_cap)}
    if method == "mean_variance":
        return MeanRisk(
            objective_function=ObjectiveFunction.MAXIMIZE_UTILITY,
            risk_measure=RiskMeasure.VARIANCE,
            risk_aversion=risk_aversion,
            max_weights=weight_cap,
            **inequality,
        )
    if method == "min_variance":
        return MeanRisk(
            objective_function=ObjectiveFunction.MINIMIZE_RISK,
            risk_measure=RiskMeasure.VARIANCE,
            max_weights=weight_cap,
            **inequality,
        )
    if method == "cvar":
        return MeanRisk(
            objective_function=ObjectiveFunction.MINIMIZE_RISK,
            risk_measure=RiskMeasure.CVAR,
            cvar_beta=_CVAR_BETA,
            max_weights=weight_cap,
            **inequality,
        )
    if method == "risk_parity":
        return RiskBudgeting(
            risk_measure=RiskMeasure.VARIANCE,
            max_weights=weight_cap,
            solver_params=dict(RISK_PARITY_SOLVER_PARAMS),
            **inequality,
        )
    return HierarchicalRiskParity(risk_measure=RiskMeasure.VARIANCE, max_weights=weight_cap)


def _redistribute(
    weights: FloatArray, max_weight: float | None, groups: FloatArray | None, sector_cap: float | None
) -> FloatArray:
    """Clip to the caps and hand the excess to assets with room, proportionally to their current weights.

    Each round either places the whole deficit or saturates at least one asset or sector, so the loop ends in
    at most ``n_assets + n_sectors + 1`` rounds for feasible caps (checked by :func:`_check_feasible`).
    """
    cap = np.full(weights.shape, 1.0 if max_weight is None else max_weight)
    membership = groups if groups is not None and sector_cap is not None else np.ones((1, weights.size))
    group_cap = 1.0 if sector_cap is None or groups is None else sector_cap
    w = np.minimum(np.clip(weights, 0.0, None), cap)
    totals = membership @ w
    over = totals > group_cap
    if np.any(over):
        factor = np.where(over, group_cap / np.where(totals > 0, totals, 1.0), 1.0)
        w = w * (membership.T @ factor + (1.0 - membership.sum(axis=0)))
    for _ in range(weights.size + membership.shape[0] + 2):
        deficit = 1.0 - float(w.sum())
        if deficit <= _CAP_TOL:
            break
        room = cap - w
        group_room = group_cap - membership @ w
        free = (room > _CAP_TOL) & (membership.T @ (group_room > _CAP_TOL).astype(np.float64) > 0)
        if not np.any(free):
            break
        base = np.where(free, w, 0.0)
        if float(base.sum()) <= 0:
            base = free.astype(np.float64)
        add = np.minimum(deficit * base / base.sum(), room * free)
        group_add = membership @ add
        shrink = np.where(
            group_add > group_room, np.clip(group_room, 0.0, None) / np.where(group_add > 0, group_add, 1), 1
        )
        add = add * (membership.T @ shrink + (1.0 - membership.sum(axis=0)))
        w = w + add
    if abs(float(w.sum()) - 1.0) > 1e-9:
        raise ValueError("could not redistribute the weights within the caps; the caps are (numerically) infeasible")
    result: FloatArray = w / w.sum()
    return result


def _annualised(clean: pd.DataFrame, weights: FloatArray, periodicity: Periodicity | str) -> tuple[float, float]:
    ppy = periods_per_year(periodicity)
    portfolio = clean.to_numpy(dtype=np.float64) @ weights
    return float(portfolio.mean()) * ppy, float(portfolio.std(ddof=1)) * math.sqrt(ppy)


def optimise(
    returns: pd.DataFrame,
    method: OptimisationMethod,
    *,
    max_weight: float | None = None,
    sectors: dict[str, str] | None = None,
    sector_cap: float | None = None,
    risk_aversion: float = 1.0,
    periodicity: Periodicity | str = Periodicity.DAILY,
) -> OptimisationResult:
    """Long-only, fully invested portfolio optimisation with skfolio.

    Method mapping (all fitted on the cleaned returns with skfolio's default empirical prior):

    * ``"mean_variance"``: ``MeanRisk(objective_function=MAXIMIZE_UTILITY, risk_measure=VARIANCE,
      risk_aversion=risk_aversion)``, i.e. ``max mu'w - risk_aversion * w'Sw`` with *per-period* moments (for
      daily data a risk_aversion of 1 is nearly risk-neutral; use larger values to diversify).
    * ``"min_variance"``: ``MeanRisk(objective_function=MINIMIZE_RISK, risk_measure=VARIANCE)``.
    * ``"risk_parity"``: ``RiskBudgeting(risk_measure=VARIANCE)`` with equal budgets (equal risk contributions),
      with tighter CLARABEL tolerances (:data:`RISK_PARITY_SOLVER_PARAMS`).
    * ``"hrp"``: ``HierarchicalRiskParity(risk_measure=VARIANCE)`` (skfolio's default distance and clustering).
    * ``"cvar"``: ``MeanRisk(objective_function=MINIMIZE_RISK, risk_measure=CVAR, cvar_beta=0.95)``.

    Constraints: ``budget=1`` and ``min_weights=0`` (long-only, fully invested) always. ``max_weight`` is passed
    as skfolio's ``max_weights`` to every estimator (HRP enforces it natively by its bisection). The sector cap is
    a linear inequality ``A w <= sector_cap`` (``left_inequality``/``right_inequality``, one indicator row per
    sector; equivalent to ``groups`` + ``linear_constraints`` but safe for any sector name) for the convex
    methods. HRP has no linear constraints, so for HRP the sector cap is applied after fitting: sectors above the
    cap are scaled down to it and the excess is redistributed to assets with room (below ``max_weight``, in a
    sector below the cap) proportionally to their HRP weights, repeatedly, until fully invested.

    Parameters
    ----------
    returns : pandas.DataFrame
        Simple periodic returns (fractions), one column per asset. Rows with any NaN/inf are dropped.
    method : {"mean_variance", "min_variance", "risk_parity", "hrp", "cvar"}
        Optimisation method.
    max_weight : float, optional
        Upper bound on each weight, in (0, 1]. ``None`` means 1.
    sectors : dict[str, str], optional
        Asset -> sector label. Required (covering every asset) when ``sector_cap`` is given, otherwise ignored.
    sector_cap : float, optional
        Upper bound on the total weight of each sector, in (0, 1].
    risk_aversion : float, default 1.0
        Risk aversion of the ``mean_variance`` utility (per-period moments); must be positive.
    periodicity : Periodicity or str, default "daily"
        Periodicity of ``returns``, used only for the annualised figures in the result.

    Returns
    -------
    OptimisationResult
        Weights (long-only, sum 1 up to solver tolerance ~1e-8; tiny negative solver noise is clipped to 0 and the
        weights renormalised), in-sample annualised return and volatility, and the method.

    Raises
    ------
    ValueError
        Unknown method; fewer than 2 assets; fewer than ``max(MIN_OBSERVATIONS, n_assets + 1)`` clean rows;
        ``max_weight``/``sector_cap`` outside (0, 1]; ``sector_cap`` without a complete ``sectors`` mapping;
        infeasible caps (``n_assets * max_weight < 1`` or the sector caps and max weights cannot hold 100%);
        non-positive ``risk_aversion``.
    """
    if method not in get_args(OptimisationMethod):
        raise ValueError(f"method must be one of {get_args(OptimisationMethod)}, got {method!r}")
    if not (math.isfinite(risk_aversion) and risk_aversion > 0):
        raise ValueError(f"risk_aversion must be positive and finite, got {risk_aversion!r}")
    clean = _clean_returns(returns)
    sector_info = _sector_matrix(clean.columns, sectors, sector_cap)
    groups = None if sector_info is None else sector_info[0]
    _check_feasible(clean.shape[1], max_weight, groups, sector_cap)
    estimator = _build_estimator(method, max_weight, groups, sector_cap, risk_aversion)
    estimator.fit(clean)
    raw = np.asarray(estimator.weights_, dtype=np.float64)
    if method == "hrp":
        weights = _redistribute(raw, max_weight, groups, sector_cap)
    else:
        clipped = np.clip(raw, 0.0, None)
        weights = clipped / clipped.sum()
    expected_return, volatility = _annualised(clean, weights, periodicity)
    return OptimisationResult(
        weights=pd.Series(weights, index=clean.columns, dtype=np.float64),
        expected_return=expected_return,
        volatility=volatility,
        method=method,
    )


# --------------------------------------------------------------------------------------------------- fit


def marginal_risk_contributions(weights: pd.Series, covariance: pd.DataFrame) -> pd.Series:
    """Euler risk contributions to portfolio volatility: ``w_i (S w)_i / sqrt(w' S w)``.

    They sum to the portfolio volatility ``sqrt(w' S w)`` (Euler's theorem, volatility being homogeneous of
    degree 1). Divide by that total for percentage contributions.

    Parameters
    ----------
    weights : pandas.Series
        Portfolio weights indexed by asset (any sign; need not sum to 1). Every asset of the covariance must have a
        weight and vice versa.
    covariance : pandas.DataFrame
        Covariance of periodic returns (units: return squared per period). Annualise it first (multiply by 252 for
        daily data) to get contributions to annualised volatility.

    Returns
    -------
    pandas.Series
        Contributions in volatility units of ``covariance`` (per-period fractions), in covariance order.

    Raises
    ------
    ValueError
        On NaN weights or covariance, mismatched labels, or zero portfolio volatility.
    """
    matrix = covariance.to_numpy(dtype=np.float64)
    if set(weights.index) != set(covariance.columns) or len(weights) != len(covariance.columns):
        raise ValueError("weights and covariance must cover the same assets")
    w = weights.reindex(covariance.columns).to_numpy(dtype=np.float64)
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(matrix))):
        raise ValueError("weights and covariance must not contain NaN")
    marginal = matrix @ w
    variance = float(w @ marginal)
    if not variance > 0:
        raise ValueError("portfolio volatility is zero; risk contributions are undefined")
    return pd.Series(w * marginal / math.sqrt(variance), index=covariance.columns, dtype=np.float64)


def portfolio_fit(
    candidate_returns: pd.Series,
    holdings_returns: pd.DataFrame,
    holdings_weights: pd.Series,
    candidate_weight: float,
    *,
    periodicity: Periodicity | str = Periodicity.DAILY,
) -> dict[str, float]:
    """How a candidate position fits an existing book.

    The book is ``holdings_returns @ w`` with ``w`` the holdings weights normalised to sum to 1 (a constant-mix
    portfolio). Adding the candidate at ``candidate_weight`` scales the holdings by ``1 - candidate_weight``.

    Parameters
    ----------
    candidate_returns : pandas.Series
        Simple periodic returns of the candidate, indexed by date.
    holdings_returns : pandas.DataFrame
        Simple periodic returns of the current holdings, same periodicity and index type.
    holdings_weights : pandas.Series
        Non-negative weights of the holdings (indexed by the columns of ``holdings_returns``); normalised to 1.
    candidate_weight : float
        Weight of the candidate in the new book, in [0, 1).
    periodicity : Periodicity or str, default "daily"
        Periodicity of the returns, for annualisation.

    Returns
    -------
    dict[str, float]
        ``correlation``: Pearson correlation of the candidate with the book's return series (dimensionless);
        ``risk_contribution``: the candidate's Euler contribution to the new book's annualised volatility
        (fraction a year, see :func:`marginal_risk_contributions`); ``risk_contribution_share``: that contribution
        divided by the new volatility; ``volatility_before`` / ``volatility_after``: annualised volatility
        (sample covariance, ddof=1) of the book before and after; ``observations``: rows used.

    Raises
    ------
    ValueError
        If ``candidate_weight`` is outside [0, 1), weights are negative/NaN/sum to zero or do not match the
        holdings columns, fewer than 3 aligned rows remain, or a series is constant (correlation undefined).

    Notes
    -----
    NaN policy: the candidate and the holdings are aligned on their index (inner join) and rows with any NaN are
    dropped, so every statistic uses the same dates.
    """
    if not 0 <= candidate_weight < 1:
        raise ValueError(f"candidate_weight must be in [0, 1), got {candidate_weight!r}")
    if set(holdings_weights.index) != set(holdings_returns.columns):
        raise ValueError("holdings_weights must have exactly one weight per holdings_returns column")
    raw = holdings_weights.reindex(holdings_returns.columns).to_numpy(dtype=np.float64)
    if not (np.all(np.isfinite(raw)) and np.all(raw >= 0) and raw.sum() > 0):
        raise ValueError("holdings_weights must be non-negative, finite and sum to a positive number")
    book_weights = raw / raw.sum()
    frame = holdings_returns.astype(np.float64).copy()
    frame.columns = range(frame.shape[1])
    joined = frame.join(candidate_returns.astype(np.float64).rename("__candidate__"), how="inner").dropna()
    if len(joined) < 3:
        raise ValueError(f"portfolio_fit needs at least 3 aligned rows without NaN, got {len(joined)}")
    values = joined.to_numpy(dtype=np.float64)
    ppy = periods_per_year(periodicity)
    covariance = np.cov(values, rowvar=False, ddof=1) * ppy
    before = np.append(book_weights, 0.0)
    after = np.append(book_weights * (1 - candidate_weight), candidate_weight)
    var_before = float(before @ covariance @ before)
    var_after = float(after @ covariance @ after)
    cov_candidate_book = float(covariance[-1] @ before)
    denominator = math.sqrt(var_before * covariance[-1, -1])
    if not (denominator > 0 and var_after > 0):
        raise ValueError("the book or the candidate has constant returns; correlation is undefined")
    contribution = candidate_weight * float(covariance[-1] @ after) / math.sqrt(var_after)
    return {
        "correlation": cov_candidate_book / denominator,
        "risk_contribution": contribution,
        "risk_contribution_share": contribution / math.sqrt(var_after),
        "volatility_before": math.sqrt(var_before),
        "volatility_after": math.sqrt(var_after),
        "observations": float(len(joined)),
    }

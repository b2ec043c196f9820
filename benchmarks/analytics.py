"""Analytics benchmarks.

* **Full metric set, 500 symbols x 10 years**: from a wide frame of daily closes (2,521 rows x 500 symbols,
  a one-factor random walk with fat tails; a fifth of the symbols list later, so their columns start with NaN,
  and a few prices are missing) and a benchmark index, every figure the analysis agent uses per symbol:

  - the 13 performance metrics of :func:`performance_summary` (CAGR, volatility, Sharpe, Sortino, Calmar,
    Omega, max drawdown, downside deviation, hit rate, and against the benchmark beta, alpha, tracking error and
    information ratio);
  - one-day VaR and CVaR at 95% and 99% by three methods (historical, Gaussian, Cornish-Fisher):
    :func:`risk_table`, 12 figures;
  - the four price factors (12-1 momentum, low volatility, trend, short-term reversal) as winsorised
    cross-sectional z-scores: :func:`factor_scores`.

  That is 29 figures per symbol, timed from prices to the finished table (returns included). The baseline is
  the way the same figures are usually written: a loop over the symbols computing each figure with pandas
  ``Series`` methods (``pct_change``, ``mean``, ``std``, ``quantile``, ``skew``, ``kurt``, ``cummax``, a
  paired ``concat`` for the benchmark), then the cross-sectional z-scores. Both are run in the same process
  on the same data, and the benchmark first checks that they agree (relative 1e-6), so the comparison is
  like for like. Target: at most 0.5 s.

* **Monte Carlo VaR**: :func:`monte_carlo_var` with 10,000 paths x 20 assets x 252 days (50.4 million
  correlated daily returns, compounded per path), seeded. The baseline is drawing the same number of standard
  normals with numpy alone, the floor any such simulation pays. Target: at most 1 s.

    .venv/bin/python -m benchmarks.analytics
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from investai.analytics.factors import factor_scores
from investai.analytics.performance import performance_summary
from investai.analytics.returns import simple_returns
from investai.analytics.risk import monte_carlo_var, risk_table

SYMBOLS, DAYS = 500, 2_520
MC_PATHS, MC_ASSETS, MC_HORIZON = 10_000, 20, 252
PPY = 252
ROUNDS = 5
BASELINE_ROUNDS = 3
AGREEMENT_RTOL = 1e-6
LIMITS = (0.05, 0.95)


def universe(seed: int = 2026) -> tuple[pd.DataFrame, pd.Series]:
    """Daily closes of SYMBOLS stocks over DAYS + 1 trading days and the benchmark index's closes."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2014-01-02", periods=DAYS + 1)
    market = 0.0003 + 0.01 * rng.standard_t(df=8, size=DAYS) / math.sqrt(8 / 6)
    betas = rng.uniform(0.5, 1.5, SYMBOLS)
    idiosyncratic = rng.uniform(0.008, 0.025, SYMBOLS) * rng.standard_t(df=8, size=(DAYS, SYMBOLS)) / math.sqrt(8 / 6)
    returns = np.clip(market[:, None] * betas + idiosyncratic + rng.normal(0.0001, 0.0002, SYMBOLS), -0.5, 0.5)
    closes = np.vstack([np.full(SYMBOLS, 50.0), 50.0 * np.cumprod(1.0 + returns, axis=0)])
    listed_late = rng.choice(SYMBOLS, SYMBOLS // 5, replace=False)
    for column in listed_late:
        closes[: rng.integers(50, 1500), column] = np.nan
    gaps = rng.integers(0, DAYS, size=(SYMBOLS * 2, 2))
    closes[gaps[:, 0] + 1, gaps[:, 1] % SYMBOLS] = np.nan
    prices = pd.DataFrame(closes, index=dates, columns=[f"S{index:03d}" for index in range(SYMBOLS)])
    benchmark = pd.Series(100.0 * np.r_[1.0, np.cumprod(1.0 + market)], index=dates, name="INDEX")
    return prices, benchmark


# ------------------------------------------------------------------------------------------------ ours


def metric_set(prices: pd.DataFrame, benchmark: pd.Series) -> pd.DataFrame:
    """The 29 figures per symbol, with the product's vectorised analytics."""
    returns = simple_returns(prices)
    summary = performance_summary(returns, simple_returns(benchmark))
    assert isinstance(summary, pd.DataFrame)
    scores = factor_scores(prices, limits=LIMITS).add_suffix("_score")
    return pd.concat([summary, risk_table(returns), scores], axis=1)


# ------------------------------------------------------------------------------------------------ baseline


def _pandas_symbol(close: pd.Series, bench: pd.Series) -> dict[str, float]:
    """Every per-symbol figure of :func:`metric_set` for one symbol, with pandas Series methods."""
    r = close.pct_change(fill_method=None).iloc[1:].dropna()
    mean, std, n = r.mean(), r.std(), len(r)
    annual = (1 + r).prod() ** (PPY / n) - 1
    wealth = (1 + r).cumprod()
    max_drawdown = (wealth / wealth.cummax().clip(lower=1.0) - 1).min()
    downside = math.sqrt((r.clip(upper=0.0) ** 2).mean()) * math.sqrt(PPY)
    paired = pd.concat([r, bench], axis=1, join="inner").dropna()
    asset, market = paired.iloc[:, 0], paired.iloc[:, 1]
    centred = market - market.mean()
    beta = (centred * asset).mean() / (centred**2).mean()
    active = asset - market
    figures = {
        "annual_return": annual,
        "volatility": std * math.sqrt(PPY),
        "sharpe": mean / std * math.sqrt(PPY),
        "sortino": mean * PPY / downside,
        "calmar": annual / -max_drawdown,
        "omega": r[r > 0].sum() / -r[r < 0].sum(),
        "max_drawdown": max_drawdown,
        "downside_deviation": downside,
        "hit_rate": (r > 0).mean(),
        "beta": beta,
        "alpha": (1 + (asset - beta * market).mean()) ** PPY - 1,
        "tracking_error": active.std() * math.sqrt(PPY),
        "information_ratio": active.mean() * PPY / (active.std() * math.sqrt(PPY)),
    }
    skew, kurt = r.skew(), r.kurt()
    for level in (95, 99):
        alpha = 1 - level / 100
        quantile = r.quantile(alpha)
        z, pdf = stats.norm.ppf(alpha), stats.norm.pdf(stats.norm.ppf(alpha))
        z_cf = z + (z**2 - 1) * skew / 6 + (z**3 - 3 * z) * kurt / 24 - (2 * z**3 - 5 * z) * skew**2 / 36
        m0, m1, m2, m3 = alpha, -pdf, alpha - z * pdf, -(z * z + 2) * pdf
        tail_cf = (m1 + (m2 - m0) * skew / 6 + (m3 - 3 * m1) * kurt / 24 - (2 * m3 - 5 * m1) * skew**2 / 36) / alpha
        figures |= {
            f"var_{level}": -quantile,
            f"cvar_{level}": -r[r <= quantile].mean(),
            f"var_{level}_parametric": -(mean + std * z),
            f"cvar_{level}_parametric": -(mean - std * pdf / alpha),
            f"var_{level}_cornish_fisher": -(mean + std * z_cf),
            f"cvar_{level}_cornish_fisher": -(mean + std * tail_cf),
        }
    last = close.iloc[-1]
    recent = close.iloc[-64:].pct_change(fill_method=None).dropna()
    figures |= {
        "momentum": close.iloc[-22] / close.iloc[-253] - 1,
        "low_volatility": -recent.std() * math.sqrt(PPY) if len(recent) >= 42 else math.nan,
        "trend": last / close.rolling(200).mean().iloc[-1] - 1,
        "short_term_reversal": -(last / close.iloc[-22] - 1),
    }
    return figures


def baseline_metric_set(prices: pd.DataFrame, benchmark: pd.Series) -> pd.DataFrame:
    """The same figures, one symbol at a time, then the cross-sectional z-scores with pandas."""
    bench = benchmark.pct_change(fill_method=None).iloc[1:]
    table = pd.DataFrame({symbol: _pandas_symbol(prices[symbol], bench) for symbol in prices.columns}).T
    for factor in ("momentum", "low_volatility", "trend", "short_term_reversal"):
        raw = table.pop(factor)
        low, high = raw.quantile(LIMITS[0]), raw.quantile(LIMITS[1])
        clipped = raw.clip(low, high)
        table[f"{factor}_score"] = (clipped - clipped.mean()) / clipped.std(ddof=0)
    return table


# ------------------------------------------------------------------------------------------------ timing


def _median_seconds(action: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _check_agreement(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    theirs = theirs.loc[ours.index, ours.columns].astype(float)
    if not np.allclose(ours.to_numpy(), theirs.to_numpy(), rtol=AGREEMENT_RTOL, atol=1e-12, equal_nan=True):
        worst = ((ours - theirs).abs() / theirs.abs()).max().sort_values(ascending=False)
        raise AssertionError(f"the vectorised figures differ from the pandas loop:\n{worst.head()}")


def metric_benchmark() -> dict[str, Any]:
    prices, benchmark = universe()
    ours = metric_set(prices, benchmark)
    _check_agreement(ours, baseline_metric_set(prices, benchmark))
    return {
        "symbols": SYMBOLS,
        "days": DAYS,
        "figures_per_symbol": ours.shape[1],
        "metric_s": _median_seconds(lambda: metric_set(prices, benchmark), ROUNDS),
        "baseline_metric_s": _median_seconds(lambda: baseline_metric_set(prices, benchmark), BASELINE_ROUNDS),
    }


def monte_carlo_benchmark() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    loadings = rng.normal(0.0, 1.0, size=(MC_ASSETS, MC_ASSETS))
    covariance = 1e-4 * (loadings @ loadings.T / MC_ASSETS + np.eye(MC_ASSETS))
    history = pd.DataFrame(
        rng.multivariate_normal(np.full(MC_ASSETS, 3e-4), covariance, size=PPY * 3),
        columns=[f"A{index:02d}" for index in range(MC_ASSETS)],
    )
    weights = np.full(MC_ASSETS, 1.0 / MC_ASSETS)
    result: dict[float, dict[str, float]] = {}

    def simulate() -> None:
        result.update(monte_carlo_var(history, weights, horizon_days=MC_HORIZON, paths=MC_PATHS, seed=11))

    draws = np.empty((MC_PATHS * MC_HORIZON // 20, MC_ASSETS))

    def normals_only() -> None:
        generator = np.random.default_rng(11)
        for _ in range(20):  # the same count of normals, in a buffer of the same order of size
            generator.standard_normal(out=draws)

    seconds = _median_seconds(simulate, ROUNDS)
    return {
        "mc_paths": MC_PATHS,
        "mc_assets": MC_ASSETS,
        "mc_horizon": MC_HORIZON,
        "mc_s": seconds,
        "mc_normals_s": _median_seconds(normals_only, ROUNDS),
        "mc_var_95": result[0.95]["var"],
        "mc_cvar_95": result[0.95]["cvar"],
    }


def run() -> dict[str, Any]:
    return metric_benchmark() | monte_carlo_benchmark()


def main() -> None:
    figures = run()
    print(
        f"full metric set, {figures['symbols']} symbols x {figures['days']} days, "
        f"{figures['figures_per_symbol']} figures each: {figures['metric_s'] * 1e3:.0f} ms "
        f"(pandas per-symbol loop: {figures['baseline_metric_s'] * 1e3:.0f} ms)"
    )
    print(
        f"Monte Carlo VaR, {figures['mc_paths']:,} paths x {figures['mc_assets']} assets x {figures['mc_horizon']} "
        f"days: {figures['mc_s'] * 1e3:.0f} ms (normals alone: {figures['mc_normals_s'] * 1e3:.0f} ms); "
        f"95% VaR {figures['mc_var_95']:.3f}, CVaR {figures['mc_cvar_95']:.3f}"
    )


if __name__ == "__main__":
    main()

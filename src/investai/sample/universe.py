"""The 20 US large caps of the market-data sample (skfolio's S&P 500 dataset), with illustrative data.

Names and GICS sectors are real; the fundamentals and analyst estimates are plausible figures made up for the
demo. They are typed in here rather than downloaded so the demo corpus builds offline and never changes
underneath the retrieval evaluation set that cites it.

They are dated inside the market-data sample's history (which ends 2022-12-28), so point-in-time research over
that history can use them without lookahead: the rows are as of :data:`AS_OF`, the tables are published at
:data:`TABLES_PUBLISHED`, and every research note (which may quote them) later still.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

AS_OF = date(2022, 9, 30)
"""The date of every row of the fundamentals and estimates tables (their ``as_of`` column)."""
TABLES_PUBLISHED = date(2022, 10, 14)
"""When the fundamentals and estimates documents are published: after :data:`AS_OF`, before the notes."""
FACTOR_ETFS = ("MTUM", "QUAL", "SIZE", "USMV", "VLUE")


@dataclass(frozen=True)
class Company:
    """One row of the fundamentals table: ratios are fractions (0.021 is 2.1%), EPS in USD."""

    ticker: str
    name: str
    sector: str
    eps_ttm: float
    pe_ratio: float
    revenue_growth_yoy: float
    debt_to_equity: float
    dividend_yield: float
    roe: float


@dataclass(frozen=True)
class Estimate:
    """Consensus view on one company: EPS figures are for the next fiscal year, in USD."""

    ticker: str
    rating: str
    price_target: float
    next_earnings_date: date
    consensus_eps_next_fy: float
    eps_low: float
    eps_high: float
    analyst_count: int


_IT, _FIN, _CD, _EN = "Information Technology", "Financials", "Consumer Discretionary", "Energy"
_IND, _HC, _CS = "Industrials", "Health Care", "Consumer Staples"

COMPANIES: tuple[Company, ...] = (
    Company("AAPL", "Apple Inc.", _IT, 6.43, 32.8, 0.021, 1.51, 0.0047, 1.47),
    Company("AMD", "Advanced Micro Devices, Inc.", _IT, 1.02, 158.9, 0.094, 0.04, 0.0, 0.021),
    Company("BAC", "Bank of America Corporation", _FIN, 3.10, 12.8, 0.012, 1.12, 0.0241, 0.095),
    Company("BBY", "Best Buy Co., Inc.", _CD, 5.68, 14.9, -0.066, 1.47, 0.0445, 0.42),
    Company("CVX", "Chevron Corporation", _EN, 11.36, 13.8, -0.08, 0.15, 0.0417, 0.128),
    Company("GE", "General Electric Company (GE Aerospace)", _IND, 3.95, 40.2, 0.087, 1.02, 0.0070, 0.20),
    Company("HD", "The Home Depot, Inc.", _CD, 15.11, 22.8, -0.023, 11.4, 0.0261, 4.35),
    Company("JNJ", "Johnson & Johnson", _HC, 9.90, 14.8, 0.043, 0.44, 0.0339, 0.30),
    Company("JPM", "JPMorgan Chase & Co.", _FIN, 17.09, 11.8, 0.22, 1.18, 0.0227, 0.17),
    Company("KO", "The Coca-Cola Company", _CS, 2.47, 25.8, 0.030, 1.62, 0.0305, 0.40),
    Company("LLY", "Eli Lilly and Company", _HC, 8.95, 101.2, 0.26, 2.13, 0.0057, 0.55),
    Company("MRK", "Merck & Co., Inc.", _HC, 3.58, 34.6, 0.066, 0.86, 0.0249, 0.24),
    Company("MSFT", "Microsoft Corporation", _IT, 11.80, 37.9, 0.15, 0.30, 0.0067, 0.36),
    Company("PEP", "PepsiCo, Inc.", _CS, 6.69, 24.7, 0.015, 2.51, 0.0329, 0.50),
    Company("PFE", "Pfizer Inc.", _HC, 0.60, 46.6, -0.12, 0.73, 0.0600, 0.039),
    Company("PG", "The Procter & Gamble Company", _CS, 6.02, 27.4, 0.027, 0.71, 0.0244, 0.30),
    Company("RRC", "Range Resources Corporation", _EN, 3.50, 9.6, -0.40, 0.64, 0.0095, 0.27),
    Company("UNH", "UnitedHealth Group Incorporated", _HC, 15.40, 33.1, 0.086, 0.75, 0.0165, 0.16),
    Company("WMT", "Walmart Inc.", _CS, 1.92, 35.2, 0.058, 0.58, 0.0123, 0.19),
    Company("XOM", "Exxon Mobil Corporation", _EN, 8.89, 12.9, -0.05, 0.16, 0.0332, 0.155),
)

ESTIMATES: tuple[Estimate, ...] = (
    Estimate("AAPL", "buy", 235.0, date(2024, 8, 1), 7.25, 7.00, 7.70, 41),
    Estimate("AMD", "buy", 190.0, date(2024, 7, 30), 5.45, 4.60, 6.40, 44),
    Estimate("BAC", "hold", 44.0, date(2024, 7, 16), 3.30, 3.05, 3.55, 22),
    Estimate("BBY", "sell", 78.0, date(2024, 8, 29), 6.35, 6.00, 6.70, 25),
    Estimate("CVX", "buy", 185.0, date(2024, 8, 2), 12.40, 10.80, 14.10, 24),
    Estimate("GE", "buy", 190.0, date(2024, 7, 23), 5.40, 5.05, 5.85, 18),
    Estimate("HD", "buy", 380.0, date(2024, 8, 13), 15.75, 14.90, 16.50, 31),
    Estimate("JNJ", "buy", 170.0, date(2024, 7, 17), 10.75, 10.40, 11.10, 20),
    Estimate("JPM", "buy", 215.0, date(2024, 7, 12), 16.40, 15.20, 17.80, 23),
    Estimate("KO", "hold", 68.0, date(2024, 7, 23), 3.05, 2.95, 3.14, 19),
    Estimate("LLY", "buy", 1000.0, date(2024, 8, 8), 20.10, 16.50, 24.80, 27),
    Estimate("MRK", "buy", 145.0, date(2024, 7, 30), 10.05, 9.20, 10.90, 24),
    Estimate("MSFT", "buy", 500.0, date(2024, 7, 30), 13.30, 12.70, 14.00, 48),
    Estimate("PEP", "hold", 180.0, date(2024, 7, 11), 8.65, 8.45, 8.90, 21),
    Estimate("PFE", "hold", 32.0, date(2024, 7, 30), 2.85, 2.55, 3.10, 23),
    Estimate("PG", "buy", 172.0, date(2024, 7, 30), 6.95, 6.80, 7.10, 22),
    Estimate("RRC", "hold", 38.0, date(2024, 7, 23), 2.65, 2.05, 3.40, 21),
    Estimate("UNH", "buy", 590.0, date(2024, 7, 16), 30.90, 30.00, 31.80, 26),
    Estimate("WMT", "buy", 78.0, date(2024, 8, 15), 2.45, 2.35, 2.55, 38),
    Estimate("XOM", "buy", 130.0, date(2024, 8, 2), 9.10, 7.90, 10.60, 26),
)

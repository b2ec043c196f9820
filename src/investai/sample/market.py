"""The sample market history ``make run`` loads: the price datasets bundled with ``skfolio`` (offline), and a
symbol master written here for their symbols.

* 20 US large caps, daily, 1990-01-02 to 2022-12-28 (``load_sp500_dataset``);
* the S&P 500 index over the same days (``load_sp500_index``), stored as ``SPX`` and used as every stock's
  benchmark;
* five iShares MSCI USA factor ETFs, daily from 2014 (``load_factors_dataset``).

The datasets hold one price per day (adjusted for splits and dividends), so each bar has that price as its
close and adjusted close and no open, high, low or volume: they are stored as missing rather than invented.
The loader marks the rows as history, so each became available at the end of its own date and the sample can
be replayed as of any past day (see :mod:`investai.domain.market`).
"""

from __future__ import annotations

import pandas as pd

from investai.domain.market import AssetClass, SymbolInfo
from investai.sample.universe import COMPANIES

SAMPLE_SOURCE = "skfolio"
INDEX_SYMBOL = "SPX"
_DATASET_INDEX_COLUMN = "SP500"

_EXCHANGE_AND_INDUSTRY: dict[str, tuple[str, str]] = {
    "AAPL": ("NASDAQ", "Technology Hardware, Storage & Peripherals"),
    "AMD": ("NASDAQ", "Semiconductors & Semiconductor Equipment"),
    "BAC": ("NYSE", "Banks"),
    "BBY": ("NYSE", "Specialty Retail"),
    "CVX": ("NYSE", "Oil, Gas & Consumable Fuels"),
    "GE": ("NYSE", "Aerospace & Defense"),
    "HD": ("NYSE", "Specialty Retail"),
    "JNJ": ("NYSE", "Pharmaceuticals"),
    "JPM": ("NYSE", "Banks"),
    "KO": ("NYSE", "Beverages"),
    "LLY": ("NYSE", "Pharmaceuticals"),
    "MRK": ("NYSE", "Pharmaceuticals"),
    "MSFT": ("NASDAQ", "Software"),
    "PEP": ("NASDAQ", "Beverages"),
    "PFE": ("NYSE", "Pharmaceuticals"),
    "PG": ("NYSE", "Household Products"),
    "RRC": ("NYSE", "Oil, Gas & Consumable Fuels"),
    "UNH": ("NYSE", "Health Care Providers & Services"),
    "WMT": ("NASDAQ", "Consumer Staples Distribution & Retail"),
    "XOM": ("NYSE", "Oil, Gas & Consumable Fuels"),
}

_FACTOR_ETFS: dict[str, str] = {
    "MTUM": "iShares MSCI USA Momentum Factor ETF",
    "QUAL": "iShares MSCI USA Quality Factor ETF",
    "SIZE": "iShares MSCI USA Size Factor ETF",
    "USMV": "iShares MSCI USA Min Vol Factor ETF",
    "VLUE": "iShares MSCI USA Value Factor ETF",
}


def sample_symbols() -> list[SymbolInfo]:
    """The symbol master of the sample: the 20 stocks (GICS sector and industry), the index, the ETFs."""
    stocks = [
        SymbolInfo(
            symbol=company.ticker,
            name=company.name,
            asset_class=AssetClass.EQUITY,
            sector=company.sector,
            industry=_EXCHANGE_AND_INDUSTRY[company.ticker][1],
            currency="USD",
            exchange=_EXCHANGE_AND_INDUSTRY[company.ticker][0],
            benchmark=INDEX_SYMBOL,
        )
        for company in COMPANIES
    ]
    index = SymbolInfo(symbol=INDEX_SYMBOL, name="S&P 500 Index", asset_class=AssetClass.INDEX, currency="USD")
    etfs = [
        SymbolInfo(
            symbol=ticker,
            name=name,
            asset_class=AssetClass.ETF,
            sector="Factor",
            industry="US equity factor ETF",
            currency="USD",
            benchmark=INDEX_SYMBOL,
        )
        for ticker, name in _FACTOR_ETFS.items()
    ]
    return [*stocks, index, *etfs]


def sample_prices() -> pd.DataFrame:
    """Daily prices in wide form (one column per symbol, indexed by date; NaN before an ETF's first day)."""
    from skfolio.datasets import load_factors_dataset, load_sp500_dataset, load_sp500_index

    stocks = load_sp500_dataset()
    index = load_sp500_index().rename(columns={_DATASET_INDEX_COLUMN: INDEX_SYMBOL})
    factors = load_factors_dataset()
    return pd.concat([stocks, index, factors], axis=1).sort_index()


def sample_bars() -> pd.DataFrame:
    """The sample as bar rows for validation: ``row, symbol, date, open, high, low, close, adj_close,
    volume`` (open, high, low and volume missing; see the module docstring), grouped by symbol, oldest first."""
    long = sample_prices().rename_axis("date").reset_index().melt(id_vars="date", var_name="symbol", value_name="close")
    long = long.dropna(subset=["close"]).sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    missing = float("nan")
    frame = pd.DataFrame(
        {
            "row": range(1, len(long) + 1),
            "symbol": long["symbol"].astype(object),
            "date": pd.to_datetime(long["date"]).dt.normalize(),
            "open": missing,
            "high": missing,
            "low": missing,
            "close": long["close"].astype(float),
            "adj_close": long["close"].astype(float),
            "volume": missing,
        }
    )
    return frame

"""Market-data vendor feeds over HTTP (Polygon.io, Tiingo, Alpha Vantage), one fetcher per vendor on a shared
base (:mod:`investai.adapters.market_vendors.base`). No AWS SDK here: keys come through the secret store port."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import httpx

from investai.adapters.market_vendors.alphavantage import AlphaVantageFeed
from investai.adapters.market_vendors.base import VendorFetcher
from investai.adapters.market_vendors.http import RateLimit, RetryPolicy, Sleep
from investai.adapters.market_vendors.polygon import PolygonFeed
from investai.adapters.market_vendors.tiingo import TiingoFeed
from investai.ports.secrets import SecretStore

VENDORS: dict[str, type[VendorFetcher]] = {
    PolygonFeed.vendor: PolygonFeed,
    TiingoFeed.vendor: TiingoFeed,
    AlphaVantageFeed.vendor: AlphaVantageFeed,
}

__all__ = ["VENDORS", "AlphaVantageFeed", "PolygonFeed", "RateLimit", "RetryPolicy", "TiingoFeed", "vendor_feeds"]


def vendor_feeds(
    names: Sequence[str],
    *,
    secrets: SecretStore,
    limits: Mapping[str, RateLimit] | None = None,
    retry: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Sleep = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[VendorFetcher]:
    """The feeds named (in order, each once); ``ValueError`` for a name no fetcher answers to."""
    unknown = sorted(set(names) - set(VENDORS))
    if unknown:
        raise ValueError(f"unknown market vendor(s) {', '.join(unknown)}; known: {', '.join(sorted(VENDORS))}")
    chosen = dict.fromkeys(names)
    return [
        VENDORS[name](
            secrets=secrets,
            transport=transport,
            limit=(limits or {}).get(name),
            retry=retry,
            sleep=sleep,
            monotonic=monotonic,
        )
        for name in chosen
    ]

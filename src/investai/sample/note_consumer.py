"""Research note: pricing power and volumes in staples, and the housing-linked retailers."""

from __future__ import annotations

from datetime import date

from investai.sample.note_model import NotePage, NoteTable, ResearchNote, Section

NOTE = ResearchNote(
    filename="research_consumer_staples_retail.pdf",
    title="Consumer staples and retail: pricing power meets volume fatigue",
    byline="Equity research | Consumer staples and retail | Coverage: KO, PEP, PG, WMT, HD, BBY | 1 August 2024",
    published=date(2022, 12, 5),
    tags=("research-note", "consumer-staples", "retail", "KO", "PEP", "PG", "WMT", "HD", "BBY"),
    pages=(
        NotePage(
            sections=(
                Section(
                    "Summary",
                    (
                        "Three years of price increases have restored gross margins at the large consumer staples "
                        "companies, but volumes are now the question. Our coverage spans beverages and snacks "
                        "(Coca-Cola, PepsiCo), household products (Procter & Gamble) and retailers (Walmart, Home "
                        "Depot, Best Buy).",
                    ),
                ),
                Section(
                    "Pricing power in beverages and snacks",
                    (
                        "Coca-Cola delivered organic revenue growth of 11% in the first quarter of 2024, made up of "
                        "13% price and mix, inflated by hyperinflationary pricing in Argentina, and a 1% decline in "
                        "concentrate sales, while global unit case volume still grew 1%. Its pricing power rests on "
                        "the bottler system and the brand portfolio: Coca-Cola has raised prices in most markets for "
                        "twelve consecutive quarters without losing share in sparkling soft drinks.",
                        "PepsiCo is finding the limit. Frito-Lay North America volumes fell 2% in the first quarter as "
                        "lower-income households traded down to cheaper snacks, and the Quaker Foods recall of granola "
                        "bars and cereals over possible salmonella contamination in December 2023 cut Quaker North "
                        "America revenue by about 24% in the quarter. North American beverage volumes fell 3%.",
                        "We expect PepsiCo to lean on promotional spending in the second half, which caps its organic "
                        "growth near 4% for 2024. Coca-Cola, with a smaller food exposure and a franchised bottling "
                        "model, is better placed if consumers keep trading down.",
                    ),
                ),
            ),
        ),
        NotePage(
            sections=(
                Section(
                    "Household products",
                    (
                        "Procter & Gamble grew organic sales 3% in its fiscal third quarter of 2024, with pricing "
                        "contributing 3 points and volumes flat. Gross margin expanded by about 400 basis points year "
                        "on year on lower commodity costs and productivity savings, giving P&G room to reinvest in "
                        "advertising.",
                        "The weak spot is SK-II, the company's prestige skincare brand, whose Greater China sales fell "
                        "sharply amid consumer boycotts of Japanese products after the release of treated water from "
                        "the Fukushima nuclear plant.",
                    ),
                ),
                Section(
                    "Private label",
                    (
                        "Store brands are the main threat to branded volumes. Private label took about 20% of US unit "
                        "sales in 2023 according to Circana, a record, and Walmart launched bettergoods, a new premium "
                        "own-brand food line, in April 2024 alongside its Great Value range. The gap between branded "
                        "and private label prices has widened to about 30% in household cleaning and paper products, "
                        "the categories where we think trade-down is most likely.",
                    ),
                ),
            ),
            table=NoteTable(
                caption="Consumer coverage (illustrative)",
                header=("Ticker", "Fwd P/E", "Dividend yield", "Organic or comp growth", "Volume or traffic"),
                rows=(
                    ("KO", "22.4x", "3.0%", "+11%", "+1%"),
                    ("PEP", "20.8x", "3.3%", "+2.7%", "-2%"),
                    ("PG", "24.6x", "2.4%", "+3%", "0%"),
                    ("WMT", "28.9x", "1.2%", "+3.8%", "+3.8%"),
                    ("HD", "22.9x", "2.6%", "-2.8%", "-1.5%"),
                    ("BBY", "13.7x", "4.4%", "-6.1%", "n/a"),
                ),
            ),
        ),
        NotePage(
            sections=(
                Section(
                    "Retail: Walmart, Home Depot and Best Buy",
                    (
                        "Walmart US comparable sales rose 3.8% in the first quarter of fiscal 2025 (the April "
                        "quarter), with eCommerce up 22% and gains concentrated among households earning more than "
                        "$100,000 a year. Walmart Connect, the retail media business that sells advertising on "
                        "Walmart's website and app, grew 24%; advertising and membership income support margins while "
                        "general merchandise demand stays soft.",
                        "Home Depot depends on housing turnover, because people spend most on renovation around the "
                        "time they buy or sell a home. US existing home sales are running at about 4 million units "
                        "annualised, the lowest since 1995, as owners with 3% mortgages stay put. Home Depot "
                        "comparable sales fell 2.8% in its first quarter of fiscal 2024, with big-ticket transactions "
                        "over $1,000 down 5.6%. The $18.25 billion acquisition of SRS Distribution, completed in June "
                        "2024, adds a roofing, landscaping and pool supply distributor and expands Home Depot's "
                        "business with professional contractors.",
                        "Best Buy comparable sales fell 6.1% in its first quarter of fiscal 2025 as demand for "
                        "appliances and home theatre stayed weak. The company expects the personal computer "
                        "replacement cycle, driven by Windows 10 end of support in October 2025 and new AI-capable "
                        "laptops, to turn comparable sales positive in the second half. Paid membership (My Best Buy "
                        "Plus and Total) now exceeds 7 million members.",
                    ),
                ),
                Section(
                    "Risks",
                    (
                        "A return of commodity inflation, particularly in cocoa, sugar and packaging, would squeeze "
                        "staples margins again when further price increases look difficult. For the retailers, a delay "
                        "in Federal Reserve rate cuts would push the housing recovery and big-ticket spending into "
                        "2026.",
                    ),
                ),
            ),
        ),
    ),
)

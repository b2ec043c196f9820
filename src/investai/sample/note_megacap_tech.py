"""Research note: Apple and Microsoft compared on revenue mix, cloud growth and capital return."""

from __future__ import annotations

from datetime import date

from investai.sample.note_model import NotePage, NoteTable, ResearchNote, Section

NOTE = ResearchNote(
    filename="research_megacap_tech_aapl_msft.pdf",
    title="Apple and Microsoft: services mix, cloud growth and buybacks",
    byline="Equity research | US megacap technology | Coverage: AAPL, MSFT | 18 July 2024",
    published=date(2022, 10, 31),
    tags=("research-note", "megacap-tech", "information-technology", "AAPL", "MSFT"),
    pages=(
        NotePage(
            sections=(
                Section(
                    "Summary",
                    (
                        "Apple and Microsoft together account for more than 13% of the S&P 500 by market value, and "
                        "both are increasingly valued as recurring-revenue businesses rather than as hardware or "
                        "licence vendors. We compare the two on the quality of their revenue mix, on cloud and AI "
                        "growth, and on capital return.",
                    ),
                ),
                Section(
                    "Apple: the services mix",
                    (
                        "Services revenue reached a record $23.9 billion in Apple's fiscal second quarter of 2024 (the "
                        "March quarter), up 14% year on year. Services now make up 26% of total revenue but more than "
                        "40% of gross profit: Services gross margin was 74.6%, against 36.7% for products. The "
                        "installed base passed 2.2 billion active devices in January 2024, and it is this base, rather "
                        "than unit sales, that drives App Store commissions, iCloud storage, AppleCare, Apple Music "
                        "and advertising.",
                        "The least visible but most profitable line is licensing. Google pays Apple to be the default "
                        "search engine in Safari, which we estimate at about $20 billion a year, almost pure margin. "
                        "The US Department of Justice antitrust case against Google puts this payment at risk; in our "
                        "bear case its loss would cut Apple's earnings per share by roughly 10% before any replacement "
                        "arrangement.",
                        "iPhone revenue fell 10% in the March quarter, and Greater China sales fell 8% as Huawei "
                        "regained share in premium handsets. We expect the Apple Intelligence features announced at "
                        "WWDC in June 2024, which need an iPhone 15 Pro or later, to start an upgrade cycle in fiscal "
                        "2025, since roughly 90% of the installed base cannot run them.",
                    ),
                ),
            ),
        ),
        NotePage(
            sections=(
                Section(
                    "Microsoft: cloud growth",
                    (
                        "Azure and other cloud services grew 31% year on year in Microsoft's fiscal third quarter of "
                        "2024 (the March quarter), of which AI services contributed 7 percentage points, up from 6 "
                        "points the quarter before. Microsoft Cloud revenue, which combines Azure, Office 365 "
                        "commercial, Dynamics 365 and LinkedIn commercial, reached $35.1 billion in the quarter, up "
                        "23%. Commercial remaining performance obligation, the contracted backlog, stood at $235 "
                        "billion.",
                    ),
                ),
                Section(
                    "AI monetisation and capital intensity",
                    (
                        "The OpenAI partnership gives Microsoft privileged access to frontier models, and it is "
                        "turning that access into seat-based revenue. Copilot for Microsoft 365 is priced at $30 per "
                        "user per month on top of an E3 or E5 licence, a price uplift of more than 80% for a typical "
                        "E3 customer. We assume a 10% attach rate across the commercial Office base of over 400 "
                        "million seats by fiscal 2026, which would add about $14 billion of annual revenue.",
                        "The cost is capital intensity. Capital expenditure including finance leases was $14.0 billion "
                        "in the March quarter, up 79% year on year, as Microsoft builds data centres and buys GPUs, "
                        "and management said spending will rise materially in fiscal 2025. Depreciation of servers "
                        "over a six-year useful life will weigh on operating margins from 2025, which we think the "
                        "market underestimates.",
                    ),
                ),
            ),
        ),
        NotePage(
            sections=(
                Section(
                    "Capital return",
                    (
                        "Apple announced a $110 billion share repurchase authorisation in May 2024, the largest in US "
                        "corporate history, and raised its quarterly dividend 4% to $0.25 per share. Apple has retired "
                        "about 40% of its share count since buybacks began in 2012 and aims to reach net cash "
                        "neutrality over time, from $58 billion of net cash at the end of March 2024.",
                        "Microsoft's $60 billion buyback programme, approved in September 2023, runs alongside a "
                        "quarterly dividend of $0.75 per share. Microsoft returns less cash relative to its size "
                        "because it is reinvesting heavily and paid $69 billion for Activision Blizzard in October "
                        "2023.",
                    ),
                ),
            ),
            table=NoteTable(
                caption="Valuation and capital return (illustrative)",
                header=("Ticker", "Fwd P/E", "FCF yield", "Net cash ($bn)", "Buyback authorisation ($bn)"),
                rows=(
                    ("AAPL", "30.5x", "3.4%", "58", "110"),
                    ("MSFT", "33.8x", "2.2%", "33", "60"),
                ),
            ),
            after_table=(
                Section(
                    "Risks",
                    (
                        "For Apple, the European Union's Digital Markets Act forces it to allow alternative app "
                        "marketplaces in the EU, and its new terms add a Core Technology Fee of EUR 0.50 per first "
                        "annual install above one million. A similar regime in the US or Japan would erode App Store "
                        "take rates.",
                        "For Microsoft, the main risk is a gap between the AI infrastructure build and the revenue it "
                        "generates: if Copilot adoption stalls at the pilot stage, the company will have committed "
                        "tens of billions of dollars to capacity earning lower returns.",
                    ),
                ),
            ),
        ),
    ),
)

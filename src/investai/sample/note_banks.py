"""Research note: JPMorgan Chase and Bank of America through the turn of the rate cycle."""

from __future__ import annotations

from datetime import date

from investai.sample.note_model import NotePage, NoteTable, ResearchNote, Section

NOTE = ResearchNote(
    filename="research_banks_jpm_bac.pdf",
    title="US money-centre banks: JPMorgan and Bank of America at the top of the rate cycle",
    byline="Equity research | Banks | Coverage: JPM, BAC | 25 July 2024",
    published=date(2022, 11, 21),
    tags=("research-note", "banks", "financials", "JPM", "BAC"),
    pages=(
        NotePage(
            sections=(
                Section(
                    "Summary",
                    (
                        "We compare the two largest US banks by assets, JPMorgan Chase and Bank of America, as the "
                        "rate cycle turns. The Federal Reserve has held the fed funds target range at 5.25% to 5.50% "
                        "since July 2023, and futures markets price the first cut for September 2024.",
                    ),
                ),
                Section(
                    "Net interest income",
                    (
                        "JPMorgan raised its 2024 guidance for net interest income excluding Markets to about $91 "
                        "billion, from $90 billion, helped by the deposits it acquired with First Republic in May "
                        "2023. We think this is the peak. JPMorgan's balance sheet is asset-sensitive, with about $1.4 "
                        "trillion of cash and securities repricing quickly, and in our model it loses roughly $2.5 "
                        "billion of annual net interest income for every 100 basis points of lower policy rates.",
                        "Bank of America is in the opposite position. It invested much of its pandemic deposit surge "
                        "in long-dated mortgage-backed securities at low yields, leaving unrealised losses of about "
                        "$100 billion in its held-to-maturity portfolio. That book runs off at roughly $4 billion to "
                        "$5 billion a quarter and is reinvested at current yields. Management expects quarterly net "
                        "interest income to trough at about $14.0 billion in the second quarter of 2024 and to rise to "
                        "about $14.5 billion by the fourth quarter, so Bank of America benefits from a steeper yield "
                        "curve even as policy rates fall.",
                    ),
                ),
                Section(
                    "Deposit beta",
                    (
                        "Deposit beta, the share of a change in policy rates passed on to depositors, is now above the "
                        "level both banks assumed at the start of the cycle. We estimate a cumulative interest-bearing "
                        "deposit beta of 52% for JPMorgan and 48% for Bank of America. The migration of balances from "
                        "non-interest-bearing accounts into certificates of deposit and money market funds has slowed; "
                        "non-interest-bearing deposits are 24% of the total at Bank of America, a share we expect to "
                        "stabilise in 2024.",
                    ),
                ),
            ),
        ),
        NotePage(
            sections=(
                Section(
                    "Credit provisions",
                    (
                        "Credit normalisation is concentrated in consumer cards. JPMorgan expects its card net "
                        "charge-off rate to be about 3.5% in 2024, up from 2.4% in 2023, and Bank of America's card "
                        "loss rate reached 3.56% in the first quarter. Both banks built reserves early: JPMorgan's "
                        "first-quarter provision of $1.9 billion included a net reserve build of about $0.2 billion. "
                        "Office commercial real estate is a small exposure, under 2% of loans at either bank.",
                    ),
                ),
                Section(
                    "Capital: CET1 and the Basel III endgame",
                    (
                        "JPMorgan reported a standardised CET1 ratio of 15.0% at the end of March 2024, against a "
                        "regulatory requirement of 12.3%, giving it about $40 billion of excess capital that it has "
                        "chosen to hold ahead of the final Basel III endgame rules. Bank of America's CET1 ratio was "
                        "11.8% against a requirement of 10.7%.",
                        "In the June 2024 stress test, JPMorgan's stress capital buffer rose to 3.3% from 2.9%, while "
                        "Bank of America's was unchanged at 3.2%. The original Basel III endgame proposal would have "
                        "raised risk-weighted assets by 16% to 19% for the largest banks; regulators have signalled a "
                        "re-proposal with a smaller increase, which would release capital for buybacks.",
                    ),
                ),
            ),
            table=NoteTable(
                caption="Capital and returns (illustrative)",
                header=("Ticker", "CET1 ratio", "CET1 requirement", "ROTCE", "Price / tangible book"),
                rows=(
                    ("JPM", "15.0%", "12.3%", "21%", "2.3x"),
                    ("BAC", "11.8%", "10.7%", "13%", "1.4x"),
                ),
            ),
        ),
    ),
)

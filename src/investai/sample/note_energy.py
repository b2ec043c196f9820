"""Research note: integrated oil (Exxon Mobil, Chevron) and Appalachian gas (Range Resources)."""

from __future__ import annotations

from datetime import date

from investai.sample.note_model import NotePage, NoteTable, ResearchNote, Section

NOTE = ResearchNote(
    filename="research_energy_xom_cvx_rrc.pdf",
    title="Energy: oil majors and Appalachian gas after the Permian deals",
    byline="Equity research | Energy | Coverage: XOM, CVX, RRC | 22 July 2024",
    published=date(2022, 11, 7),
    tags=("research-note", "energy", "XOM", "CVX", "RRC"),
    pages=(
        NotePage(
            sections=(
                Section(
                    "Summary",
                    (
                        "We cover two integrated majors, Exxon Mobil and Chevron, and one Appalachian natural gas "
                        "producer, Range Resources. Our house price deck assumes Brent crude at $80 per barrel and "
                        "Henry Hub natural gas at $2.75 per MMBtu for 2025.",
                    ),
                ),
                Section(
                    "Oil price sensitivity",
                    (
                        "Exxon Mobil's upstream earnings move by about $650 million after tax for every $1 per barrel "
                        "change in the annual average oil price, following the all-stock acquisition of Pioneer "
                        "Natural Resources that closed on 3 May 2024. Pioneer added about 700,000 barrels of oil "
                        "equivalent per day and makes Exxon the largest producer in the Permian Basin, with combined "
                        "Permian output of about 1.3 million barrels of oil equivalent per day.",
                        "Chevron's sensitivity is lower at roughly $450 million per $1 per barrel, and its refining "
                        "and chemicals businesses provide a partial hedge: when crude falls, refining margins usually "
                        "widen.",
                        "Chevron's growth story rests on its $53 billion agreed purchase of Hess, which would bring a "
                        "30% interest in the Stabroek block offshore Guyana. Exxon, the operator of Stabroek with a "
                        "45% stake, claims a right of first refusal over the Hess interest, and the arbitration "
                        "hearing is scheduled for May 2025. Until the dispute is resolved, Chevron's production growth "
                        "depends on the Tengiz expansion in Kazakhstan (the Future Growth Project), due to start up in "
                        "the first half of 2025.",
                    ),
                ),
            ),
        ),
        NotePage(
            sections=(
                Section(
                    "Natural gas",
                    (
                        "US natural gas prices collapsed in early 2024 after a mild winter left storage about 35% "
                        "above the five-year average. Henry Hub averaged roughly $2.10 per MMBtu in the first half and "
                        "briefly traded below $1.60 in February. Producers responded by deferring well completions: "
                        "EQT and Chesapeake cut activity, and Chesapeake guided its 2024 output down by about 20%.",
                        "We expect the market to tighten in 2025 as new LNG export capacity starts up, notably Venture "
                        "Global's Plaquemines terminal, Corpus Christi Stage 3 and Golden Pass, which together add "
                        "more than 5 Bcf per day of feed-gas demand by 2026.",
                    ),
                ),
                Section(
                    "Range Resources",
                    (
                        "Range Resources produces about 2.15 Bcfe per day from the Marcellus Shale in southwest "
                        "Pennsylvania, roughly 30% of it natural gas liquids and condensate. The liquids content "
                        "matters: propane and ethane exports lift Range's realised price above Henry Hub, so its cash "
                        "flow is less exposed to the dry-gas price than its peers'.",
                        "The company holds more than 30 years of core drilling inventory and needs only about $640 "
                        "million of capital a year to hold production flat, one of the lowest maintenance capital "
                        "requirements in the US gas sector.",
                        "Range has cut net debt to about $1.5 billion, close to its target, and now directs free cash "
                        "flow to buybacks and a modest dividend. Each $0.25 per MMBtu change in the gas price moves "
                        "Range's annual free cash flow by about $150 million on our estimates, which makes the shares "
                        "a leveraged call on LNG-driven demand growth.",
                    ),
                ),
            ),
        ),
        NotePage(
            sections=(
                Section(
                    "Capex discipline and dividend cover",
                    (
                        "The integrated majors have kept capital spending flat in real terms despite higher prices. "
                        "Exxon guides 2024 capital expenditure to $22.5 to $27.5 billion including Pioneer, and "
                        "Chevron to $15.5 to $16.5 billion.",
                        "We measure dividend cover by the Brent price at which organic free cash flow just funds the "
                        "dividend: about $41 per barrel for Exxon and $50 per barrel for Chevron on 2025 plans, which "
                        "leaves ample room for buybacks at our $80 deck.",
                    ),
                ),
            ),
            table=NoteTable(
                caption="Capital spending and dividend cover (illustrative)",
                header=("Ticker", "2024 capex ($bn)", "Dividend breakeven Brent ($/bbl)", "Net debt / capital"),
                rows=(
                    ("XOM", "22.5 - 27.5", "41", "6%"),
                    ("CVX", "15.5 - 16.5", "50", "11%"),
                    ("RRC", "0.62 - 0.68", "n/a (gas weighted)", "32%"),
                ),
            ),
            after_table=(
                Section(
                    "Risks",
                    (
                        "OPEC+ plans to start unwinding 2.2 million barrels per day of voluntary production cuts from "
                        "October 2024. If demand growth disappoints, Brent could fall into the $60s, which would "
                        "reduce buybacks at both majors; Exxon's repurchase pace of $20 billion a year is sized for "
                        "about $75 Brent.",
                        "For Range, a second consecutive warm winter and delays to LNG start-ups are the main risks. "
                        "Its hedges cover about 60% of 2024 gas volumes, falling to around 30% for 2025.",
                    ),
                ),
            ),
        ),
    ),
)

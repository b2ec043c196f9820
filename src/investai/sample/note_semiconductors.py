"""Research note: AMD against its data-centre accelerator peers (illustrative figures, mid-2024)."""

from __future__ import annotations

from datetime import date

from investai.sample.note_model import NotePage, NoteTable, ResearchNote, Section

NOTE = ResearchNote(
    filename="research_semiconductors_amd.pdf",
    title="Advanced Micro Devices: the second source in data-centre accelerators",
    byline="Equity research | Semiconductors | Coverage: AMD (peers NVDA, INTC, AVGO) | 15 July 2024",
    published=date(2022, 10, 24),
    tags=("research-note", "semiconductors", "information-technology", "AMD"),
    pages=(
        NotePage(
            sections=(
                Section(
                    "Summary",
                    (
                        "We initiate coverage of Advanced Micro Devices (AMD) with a constructive stance. AMD is the "
                        "only credible merchant alternative to Nvidia in data-centre accelerators, and the Instinct "
                        "MI300X ramp has moved faster than we expected six months ago. Management now guides to more "
                        "than $4.5 billion of Instinct GPU revenue in calendar 2024, up from an initial expectation of "
                        "about $2 billion given in October 2023.",
                        "We think the hyperscale cloud providers are deliberately qualifying a second supplier to gain "
                        "leverage on price and allocation. That structurally supports AMD's share even after Nvidia's "
                        "Blackwell generation arrives.",
                    ),
                ),
                Section(
                    "Investment thesis",
                    (
                        "Data Center segment revenue reached $2.3 billion in the first quarter of 2024, up 80% year on "
                        "year, and the segment is on track to exceed half of group revenue in the second half. Two "
                        "engines drive it: the Instinct accelerators and the fourth-generation EPYC server processors "
                        "(Genoa and Bergamo). We estimate EPYC revenue share of the x86 server market at roughly 33%, "
                        "against less than 10% five years ago, as Intel's Xeon roadmap slipped and cloud providers "
                        "standardised on AMD for general-purpose instances.",
                        "The MI300X carries 192 GB of HBM3 memory per package versus 80 GB on Nvidia's H100, which "
                        "lets a customer serve a large language model such as Llama 2 70B on fewer devices. Inference, "
                        "rather than training, is where we expect AMD to win most sockets: inference buyers are more "
                        "price sensitive and less tied to the CUDA software ecosystem. Microsoft Azure, Meta and "
                        "Oracle have deployed MI300X instances, and Meta serves part of its Llama traffic on them.",
                        "Client and gaming are the weak spots. Semi-custom chip sales for the Sony and Microsoft "
                        "consoles fell 48% year on year in the first quarter as the console cycle ages, and the "
                        "embedded segment (the former Xilinx business) is still digesting excess inventory at "
                        "industrial and automotive customers. We model embedded revenue bottoming in the second "
                        "quarter of 2024.",
                    ),
                ),
            ),
        ),
        NotePage(
            sections=(
                Section(
                    "Valuation",
                    (
                        "On our 2025 estimates AMD trades at 34 times forward earnings, a premium to the semiconductor "
                        "index at 26 times but a discount to Nvidia at 38 times. We value the shares on a "
                        "sum-of-the-parts basis: the data-centre franchise at 10 times 2025 sales, the client PC "
                        "business at 3 times and embedded at 7 times, reflecting the high-margin FPGA portfolio "
                        "acquired with Xilinx for $49 billion in February 2022.",
                        "Amortisation of acquisition-related intangibles, about $2.4 billion a year, is the main "
                        "reason GAAP earnings sit so far below non-GAAP earnings, and we use non-GAAP figures "
                        "throughout this note.",
                    ),
                ),
                Section(
                    "Gross margin",
                    (
                        "Non-GAAP gross margin was 52% in the first quarter of 2024 and management guided to 53% for "
                        "the second quarter. Mix is the lever. We estimate Instinct accelerators carry gross margins "
                        "in the mid-50s today, below the high-70s Nvidia earns on its data-centre products, because "
                        "early volumes absorb start-up yields and expensive memory stacks.",
                        "Every percentage point of group gross margin is worth roughly $0.10 of annual earnings per "
                        "share on our model, and each 100 basis points of revenue mix shifting from client to data "
                        "centre adds about 35 basis points to group margin.",
                    ),
                ),
            ),
            table=NoteTable(
                caption="Semiconductor peer comparison (2025 estimates, illustrative)",
                header=("Ticker", "Fwd P/E", "EV/Sales", "Gross margin", "Data-centre growth"),
                rows=(
                    ("AMD", "34.0x", "8.9x", "55%", "62%"),
                    ("NVDA", "38.0x", "19.5x", "75%", "95%"),
                    ("INTC", "22.0x", "2.3x", "43%", "4%"),
                    ("AVGO", "29.0x", "14.1x", "68%", "41%"),
                ),
            ),
            after_table=(
                Section(
                    "Custom silicon",
                    (
                        "Broadcom is the closest analogue for custom accelerators: its ASIC programmes for Google's "
                        "TPU and for Meta compete for the same budgets AMD targets with merchant GPUs. We do not see "
                        "custom silicon as a zero-sum threat; hyperscalers will run a portfolio of Nvidia, AMD and "
                        "in-house chips.",
                    ),
                ),
            ),
        ),
        NotePage(
            sections=(
                Section(
                    "Risks",
                    (
                        "Supply, not demand, caps AMD's accelerator revenue in 2024. Each MI300X needs TSMC's CoWoS "
                        "advanced packaging, and although TSMC is doubling that capacity in 2024 it remains sold out, "
                        "with Nvidia holding most of the allocation. AMD has secured additional capacity for the "
                        "second half, yet any slippage at the Taiwanese packaging lines would defer shipments by a "
                        "quarter or more.",
                        "High-bandwidth memory is the second bottleneck. SK Hynix has said its HBM output for 2024 is "
                        "fully booked and most of 2025 is sold, while Samsung's qualification has lagged. AMD buys "
                        "memory from more than one supplier, an advantage over single-sourced designs, but memory cost "
                        "inflation would pressure accelerator margins.",
                        "US export controls are a further risk. Rules updated in October 2023 bar the sale of "
                        "MI300-class accelerators to China without a licence. China accounted for about 15% of AMD's "
                        "total revenue in 2023, mostly client and gaming products, so a widening of the restrictions "
                        "to PC processors would be material.",
                    ),
                ),
                Section(
                    "Catalysts",
                    (
                        "The MI325X, with 288 GB of HBM3E, is due to ship in the fourth quarter of 2024, and the MI350 "
                        "series on the CDNA 4 architecture follows in 2025, putting AMD on an annual accelerator "
                        "cadence that matches Nvidia's.",
                        "We also watch the ROCm 6 software stack: day-zero support in PyTorch and Hugging Face for new "
                        "models is the best single indicator of developer adoption. Finally, the Ryzen AI 300 notebook "
                        "processors launched at Computex in June 2024 meet Microsoft's requirements for on-device AI "
                        "and should help client revenue in the back-to-school season.",
                    ),
                ),
            ),
        ),
    ),
)

"""Research note: obesity drugs, patent cliffs and managed-care costs (LLY, MRK, PFE, JNJ, UNH)."""

from __future__ import annotations

from datetime import date

from investai.sample.note_model import NotePage, NoteTable, ResearchNote, Section

NOTE = ResearchNote(
    filename="research_healthcare_pharma_managed_care.pdf",
    title="Healthcare: incretins, patent cliffs and the cost of care",
    byline="Equity research | Pharmaceuticals and managed care | Coverage: LLY, MRK, PFE, JNJ, UNH | 29 July 2024",
    published=date(2022, 11, 14),
    tags=("research-note", "healthcare", "pharma", "managed-care", "LLY", "MRK", "PFE", "JNJ", "UNH"),
    pages=(
        NotePage(
            sections=(
                Section(
                    "Summary",
                    (
                        "Large-cap healthcare has split in two: Eli Lilly, where the incretin class of diabetes and "
                        "obesity drugs is rewriting the growth outlook, and a group of pharmaceutical companies facing "
                        "loss of exclusivity on their largest products before 2030. Managed care, represented here by "
                        "UnitedHealth, faces a separate problem in higher medical utilisation among seniors.",
                    ),
                ),
                Section(
                    "Eli Lilly: the obesity franchise",
                    (
                        "Eli Lilly's tirzepatide is sold as Mounjaro for type 2 diabetes and as Zepbound for chronic "
                        "weight management, which the FDA approved in November 2023. In the first quarter of 2024 "
                        "Mounjaro generated $1.81 billion of revenue and Zepbound $517 million in its first full "
                        "quarter on the market. In the SURMOUNT-1 trial, patients on the highest dose lost an average "
                        "of 20.9% of body weight over 72 weeks, which sets the efficacy bar for competitors.",
                        "Demand exceeds supply. Both products have sat on the FDA drug shortage list for most of 2024, "
                        "and Lilly has committed more than $18 billion since 2020 to new manufacturing sites in "
                        "Indiana, North Carolina, Ireland and Germany, including a $5.3 billion expansion in Lebanon, "
                        "Indiana. We expect supply of injectable incretins in the second half of 2024 to be double "
                        "that of the same period of 2023.",
                        "The pipeline extends the lead. Orforglipron, a once-daily oral pill that needs neither "
                        "injection nor refrigeration, is in phase 3 trials, and retatrutide, a triple agonist of the "
                        "GIP, GLP-1 and glucagon receptors, produced 24% mean weight loss at 48 weeks in phase 2. "
                        "Medicare does not yet cover drugs prescribed for obesity alone, so payer coverage is the main "
                        "swing factor for US volumes.",
                    ),
                ),
            ),
        ),
        NotePage(
            sections=(
                Section(
                    "Merck: the Keytruda patent cliff",
                    (
                        "Keytruda, Merck's PD-1 immunotherapy, generated $25.0 billion of sales in 2023, roughly 42% "
                        "of group revenue. Its key US composition-of-matter patent expires in 2028, and biosimilar "
                        "entry would follow. Merck's defence is a subcutaneous formulation, co-formulated with "
                        "Alteogen's berahyaluronidase alfa, that is injected in minutes rather than infused over 30 "
                        "minutes. We assume 30% to 40% of US patients convert before the cliff, which would preserve "
                        "part of the franchise under later patents.",
                        "Merck has used its balance sheet to rebuild the pipeline. It bought Prometheus Biosciences "
                        "for $10.8 billion in June 2023 for tulisokibart, an anti-TL1A antibody in inflammatory bowel "
                        "disease, and Acceleron for $11.5 billion in 2021, which produced Winrevair (sotatercept), "
                        "approved in March 2024 for pulmonary arterial hypertension. We forecast Winrevair peak sales "
                        "of $5 billion. The in-process research charge for Prometheus is why Merck's reported 2023 "
                        "earnings per share were close to zero.",
                        "Gardasil, the HPV vaccine, is the near-term disappointment. Merck's Chinese distribution "
                        "partner Zhifei has accumulated excess inventory, and Gardasil shipments to China fell sharply "
                        "in the first half of 2024. We assume China Gardasil revenue halves this year.",
                    ),
                ),
            ),
        ),
        NotePage(
            sections=(
                Section(
                    "Pfizer: resetting after COVID",
                    (
                        "Pfizer's revenue fell from a peak of $100 billion in 2022 to $58.5 billion in 2023 as demand "
                        "for the Comirnaty vaccine and the Paxlovid antiviral collapsed. The company responded with a "
                        "cost realignment programme targeting $4 billion of net savings by the end of 2024, and paid "
                        "$43 billion for Seagen, closed in December 2023, to build an oncology franchise around "
                        "antibody-drug conjugates such as Padcev.",
                        "Pfizer faces its own loss of exclusivity on Eliquis, Ibrance, Xeljanz and Vyndaqel between "
                        "2026 and 2028, which we estimate puts about $17 billion of annual revenue at risk. The "
                        "dividend is covered by earnings but leaves little room for debt reduction after the Seagen "
                        "deal.",
                    ),
                ),
                Section(
                    "Johnson & Johnson: Stelara and talc",
                    (
                        "Johnson & Johnson completed the separation of its consumer health business, Kenvue, through "
                        "an exchange offer in August 2023 and is now a pure pharmaceutical and medical technology "
                        "company. The immunology drug Stelara, with $10.9 billion of 2023 sales, faces biosimilar "
                        "competition in the US from January 2025 and in Europe from mid-2024, the largest single "
                        "revenue headwind in our coverage.",
                        "In medtech, J&J bought Abiomed, a maker of heart pumps, in 2022 and Shockwave Medical, which "
                        "makes intravascular lithotripsy devices for calcified arteries, for $13.1 billion in May "
                        "2024.",
                        "Talc litigation overhangs the shares. In May 2024 J&J proposed a $6.475 billion settlement, "
                        "paid over 25 years, to resolve ovarian cancer claims through a prepackaged bankruptcy of its "
                        "subsidiary Red River Talc; the plan needs the support of 75% of claimants to proceed.",
                    ),
                ),
            ),
        ),
        NotePage(
            sections=(
                Section(
                    "UnitedHealth: the medical care ratio",
                    (
                        "UnitedHealth's medical care ratio, the share of premium revenue paid out in medical claims, "
                        "rose to 84.3% in the first quarter of 2024 from 82.2% a year earlier. Seniors in Medicare "
                        "Advantage have been using more outpatient care, especially hip and knee replacements and "
                        "other elective procedures deferred during the pandemic. Every 100 basis points of the ratio "
                        "on UnitedHealth's $290 billion of premium revenue is worth roughly $2.9 billion of pre-tax "
                        "profit, or about $2.40 per share after tax.",
                        "Medicare Advantage funding is also tightening. The final 2025 rate notice from CMS implies an "
                        "average payment increase of 3.7%, but excluding risk-score trend the effective rate is a cut, "
                        "and the phase-in of the V28 risk adjustment model lowers payments for a number of chronic "
                        "condition codes. UnitedHealth expects to respond with benefit reductions and market exits "
                        "that may cost it members in 2025.",
                        "In February 2024 a ransomware attack on Change Healthcare, the claims-processing unit of "
                        "Optum, disrupted payments to pharmacies and providers across the US for weeks. UnitedHealth "
                        "estimates the direct response cost and business disruption at $1.35 billion to $1.60 billion "
                        "for 2024, and it advanced more than $6 billion of interest-free loans to affected providers.",
                    ),
                ),
            ),
            table=NoteTable(
                caption="Healthcare coverage summary (illustrative)",
                header=("Ticker", "Fwd P/E", "Dividend yield", "Key swing factor"),
                rows=(
                    ("LLY", "55.2x", "0.6%", "Incretin supply"),
                    ("MRK", "12.4x", "2.5%", "Subcutaneous Keytruda conversion"),
                    ("PFE", "10.1x", "6.0%", "Cost savings delivery"),
                    ("JNJ", "14.3x", "3.4%", "Stelara erosion"),
                    ("UNH", "17.0x", "1.6%", "Senior utilisation"),
                ),
            ),
        ),
    ),
)

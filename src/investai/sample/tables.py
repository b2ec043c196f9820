"""The tabular half of the demo corpus: fundamentals as CSV and XLSX, analyst estimates as JSON.

All three are serialised reproducibly. openpyxl stamps the current time twice (the core properties'
``modified`` in ``save_workbook`` and each zip member's timestamp), so the workbook is written through
``ExcelWriter`` directly and then re-zipped with fixed member timestamps.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import zipfile
from dataclasses import asdict
from datetime import datetime

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

from investai.sample.universe import AS_OF, COMPANIES, ESTIMATES

FUNDAMENTAL_COLUMNS = (
    "ticker",
    "name",
    "sector",
    "eps_ttm",
    "pe_ratio",
    "revenue_growth_yoy",
    "debt_to_equity",
    "dividend_yield",
    "roe",
    "as_of",
)
NUMERIC_COLUMNS = ("eps_ttm", "pe_ratio", "revenue_growth_yoy", "debt_to_equity", "dividend_yield", "roe")
FUNDAMENTALS_SHEET = "Fundamentals"
MEDIANS_SHEET = "Sector medians"
_FIXED_TIME = datetime(2024, 1, 1)
_ZIP_EPOCH = (2024, 1, 1, 0, 0, 0)


def fundamentals_csv() -> bytes:
    """One row per company; numbers in Python's shortest round-trip form, the as-of date in ISO format."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FUNDAMENTAL_COLUMNS)
    for company in COMPANIES:
        writer.writerow([*asdict(company).values(), AS_OF.isoformat()])
    return buffer.getvalue().encode("utf-8")


def sector_medians() -> list[tuple[str, int, list[float]]]:
    """Per sector (sorted by name): how many companies, and the median of each numeric column."""
    sectors = sorted({company.sector for company in COMPANIES})
    result = []
    for sector in sectors:
        members = [company for company in COMPANIES if company.sector == sector]
        medians = [statistics.median(getattr(company, column) for company in members) for column in NUMERIC_COLUMNS]
        result.append((sector, len(members), medians))
    return result


def fundamentals_xlsx() -> bytes:
    """The CSV's rows on a "Fundamentals" sheet, plus a "Sector medians" sheet computed from the same data."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = FUNDAMENTALS_SHEET
    sheet.append(FUNDAMENTAL_COLUMNS)
    for company in COMPANIES:
        sheet.append([*asdict(company).values(), AS_OF])
        sheet.cell(row=sheet.max_row, column=len(FUNDAMENTAL_COLUMNS)).number_format = "yyyy-mm-dd"
    medians = workbook.create_sheet(MEDIANS_SHEET)
    medians.append(("sector", "companies", *NUMERIC_COLUMNS))
    for sector, count, values in sector_medians():
        medians.append((sector, count, *values))
    workbook.properties.creator = "Investment AI Agent sample corpus"
    workbook.properties.created = _FIXED_TIME
    workbook.properties.modified = _FIXED_TIME
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).save()
    return _with_fixed_timestamps(buffer.getvalue())


def _with_fixed_timestamps(archive_bytes: bytes) -> bytes:
    """The same zip members in the same order, each stamped with a fixed date instead of the write time."""
    output = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(archive_bytes)) as source,
        zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for member in source.infolist():
            info = zipfile.ZipInfo(member.filename, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            target.writestr(info, source.read(member.filename))
    return output.getvalue()


def analyst_estimates_json() -> bytes:
    """A list of records, one per company, in the universe's order. The company name is repeated from the
    fundamentals so that a record can be found by name as well as by ticker."""
    names = {company.ticker: company.name for company in COMPANIES}
    records = [
        {
            "ticker": estimate.ticker,
            "name": names[estimate.ticker],
            "rating": estimate.rating,
            "price_target": estimate.price_target,
            "currency": "USD",
            "next_earnings_date": estimate.next_earnings_date.isoformat(),
            "consensus_eps_next_fy": estimate.consensus_eps_next_fy,
            "estimates": {"low": estimate.eps_low, "high": estimate.eps_high},
            "analyst_count": estimate.analyst_count,
            "as_of": AS_OF.isoformat(),
        }
        for estimate in ESTIMATES
    ]
    return (json.dumps(records, indent=2) + "\n").encode("utf-8")

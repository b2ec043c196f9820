"""The product's schedules as EventBridge rules: which schedules the AWS shape runs, and their five-field UTC
cron expressions in EventBridge's six-field dialect.

EventBridge's ``cron(minutes hours day-of-month month day-of-week year)`` differs from crontab in ways that
matter: exactly one of the two day fields must be ``?``; days of the week count 1-7 from Sunday (crontab: 0-7,
0 and 7 both Sunday), so numbers would silently shift by a day — names (``SUN``-``SAT``) are unambiguous; the
day-of-week field takes no ``/`` step; and the documented step form is ``<start>/<step>``, not ``*/<step>``.
:func:`to_eventbridge_cron` writes what EventBridge means exactly what crontab meant, or refuses: crontab fires
on either day field when both are restricted (an OR EventBridge cannot express), so that case is an error, not
a rule that fires on the wrong days.
"""

from __future__ import annotations

from dataclasses import dataclass

from investai.bootstrap.aws_jobs import aws_schedules as product_aws_schedules
from investai.config import Settings
from investai.domain.schedules import Schedule

DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclass(frozen=True)
class _Field:
    """A crontab field's name, value range and the names it accepts (index 0 = ``low``)."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()


MINUTE = _Field("minute", 0, 59)
HOUR = _Field("hour", 0, 23)
DAY_OF_MONTH = _Field("day-of-month", 1, 31)
MONTH = _Field("month", 1, 12, MONTH_NAMES)
DAY_OF_WEEK = _Field("day-of-week", 0, 7, DAY_NAMES)  # 7 is Sunday again


def aws_schedules() -> list[Schedule]:
    """The schedules the AWS shape runs — the product's own answer (``investai.bootstrap.aws_jobs``, which the
    scheduler function also uses to look a schedule up by its rule's name) for the settings' defaults: no
    document-lifecycle job (the bucket's lifecycle rules move the tiers), no backup job (AWS Backup, PITR and
    versioning), job redelivery (SQS delivers jobs) and market compaction (Parquet on S3). The defaults come from
    the model, never from this machine's environment: ``INVESTAI_*`` variables in a shell must not change what
    is deployed."""
    found: list[Schedule] = product_aws_schedules(Settings.model_construct())
    return found


def to_eventbridge_cron(expression: str) -> str:
    """``cron(...)`` for EventBridge from a five-field crontab expression (UTC on both sides).

    ``ValueError`` for anything that is not valid crontab or has no exact EventBridge equivalent.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"a cron expression has 5 fields; got {expression!r}")
    minute, hour, day, month, weekday = fields
    day_restricted, weekday_restricted = day != "*", weekday != "*"
    if day_restricted and weekday_restricted:
        raise ValueError(
            f"{expression!r} restricts both day-of-month and day-of-week: crontab fires when either matches,"
            " which one EventBridge rule cannot express (it needs '?' in one of them)"
        )
    parts = [
        _numeric(minute, MINUTE),
        _numeric(hour, HOUR),
        _numeric(day, DAY_OF_MONTH) if day_restricted or not weekday_restricted else "?",
        _numeric(month, MONTH),
        _weekdays(weekday) if weekday_restricted else "?",
        "*",
    ]
    return f"cron({' '.join(parts)})"


def _numeric(text: str, field: _Field) -> str:
    """A minute, hour, day-of-month or month field: lists kept, ``*/n`` as ``<low>/n``, ``a-b/n`` spelled out
    (EventBridge documents steps only as ``<start>/<step>``), month names upper-cased."""
    if text == "*":
        return "*"
    return ",".join(_numeric_item(item, field) for item in _items(text, field))


def _numeric_item(item: str, field: _Field) -> str:
    span, has_step, step_text = item.partition("/")
    if not has_step:
        low, has_high, high = span.partition("-")
        first = _value(low, field)
        if not has_high:
            return str(first)
        last = _value(high, field)
        _ordered(first, last, item, field)
        return f"{first}-{last}"
    step = _step(step_text, item, field)
    if span == "*":
        return f"{field.low}/{step}"
    low, has_high, high = span.partition("-")
    first = _value(low, field)
    if not has_high:
        return f"{first}/{step}"
    last = _value(high, field)
    _ordered(first, last, item, field)
    return ",".join(str(value) for value in range(first, last + 1, step))


def _weekdays(text: str) -> str:
    """A day-of-week field as the set of days it names, written with SUN-SAT names and ranges (no steps,
    no wrap-around): ``1-5`` is ``MON-FRI``, ``5-7`` is ``SUN,FRI-SAT``, ``*/2`` is ``SUN,TUE,THU,SAT``."""
    days: set[int] = set()
    for item in _items(text, DAY_OF_WEEK):
        span, has_step, step_text = item.partition("/")
        step = _step(step_text, item, DAY_OF_WEEK) if has_step else 1
        if span == "*":
            first, last = 0, 6
        else:
            low, has_high, high = span.partition("-")
            first = _value(low, DAY_OF_WEEK)
            last = _value(high, DAY_OF_WEEK) if has_high else (DAY_OF_WEEK.high if has_step else first)
            _ordered(first, last, item, DAY_OF_WEEK)
        days.update(value % 7 for value in range(first, last + 1, step))
    return ",".join(_runs(sorted(days)))


def _runs(days: list[int]) -> list[str]:
    """Consecutive days as ``A-B`` ranges (three or more), single days as names."""
    runs: list[list[int]] = []
    for value in days:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    written: list[str] = []
    for run in runs:
        if len(run) >= 3:
            written.append(f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}")
        else:
            written.extend(DAY_NAMES[value] for value in run)
    return written


def _items(text: str, field: _Field) -> list[str]:
    items = text.split(",")
    if any(not item for item in items):
        raise ValueError(f"empty item in {field.name} field {text!r}")
    return items


def _value(token: str, field: _Field) -> int:
    upper = token.upper()
    if upper in field.names:
        return field.names.index(upper) + field.low
    if not token.isdigit() or not field.low <= int(token) <= field.high:
        raise ValueError(f"invalid {field.name} {token!r} (expected {field.low}-{field.high})")
    return int(token)


def _step(text: str, item: str, field: _Field) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"invalid step in {field.name} item {item!r}")
    return int(text)


def _ordered(first: int, last: int, item: str, field: _Field) -> None:
    if first > last:
        raise ValueError(f"{field.name} range runs backwards in {item!r}")

"""Shared value types: identifiers, UTC timestamps, base model configuration."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def new_id(prefix: str = "") -> str:
    """A sortable unique identifier: 48-bit millisecond time then 80 random bits, hex encoded."""
    stamp = f"{time.time_ns() // 1_000_000:012x}"
    return f"{prefix}{stamp}{secrets.token_hex(10)}"


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a time zone")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]
"""A timezone-aware datetime normalised to UTC; naive datetimes are rejected."""

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Tag = Annotated[str, Field(min_length=1, max_length=64)]


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch for an aware datetime."""
    return int(_require_utc(moment).timestamp() * 1000)


def from_epoch_ms(value: int) -> datetime:
    """The aware UTC datetime for milliseconds since the Unix epoch."""
    return datetime.fromtimestamp(value / 1000, tz=UTC)


class DomainModel(BaseModel):
    """Base for domain models: strict about unknown fields, immutable, validated on assignment."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_assignment=True, str_strip_whitespace=True)

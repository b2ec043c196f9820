"""Contract of the Clock port: aware UTC datetimes that never go backwards on their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from investai.adapters.local.clock import FakeClock, SystemClock
from investai.ports.clock import Clock
from tests.factories import T0

ADAPTERS: dict[str, Callable[[], Clock]] = {
    "system": SystemClock,
    "fake": FakeClock,
}


@pytest.fixture(params=sorted(ADAPTERS))
def clock(request: pytest.FixtureRequest) -> Clock:
    return ADAPTERS[request.param]()


def _is_utc(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


def test_now_is_timezone_aware_utc(clock: Clock) -> None:
    assert _is_utc(clock.now())


def test_now_does_not_go_backwards(clock: Clock) -> None:
    readings = [clock.now() for _ in range(1000)]

    assert readings == sorted(readings)


def test_the_system_clock_tells_the_current_time() -> None:
    before = datetime.now(UTC)
    reading = SystemClock().now()
    after = datetime.now(UTC)

    assert before <= reading <= after


class TestFakeClock:
    def test_it_starts_at_the_given_moment_and_stays_there(self) -> None:
        clock = FakeClock(T0)

        assert clock.now() == T0
        assert clock.now() == T0

    def test_its_default_start_is_utc(self) -> None:
        assert _is_utc(FakeClock().now())

    def test_advance_moves_it_forward_and_returns_the_new_time(self) -> None:
        clock = FakeClock(T0)

        moved = clock.advance(timedelta(minutes=90))

        assert moved == T0 + timedelta(minutes=90)
        assert clock.now() == moved
        assert _is_utc(clock.now())

    def test_set_jumps_to_a_moment(self) -> None:
        clock = FakeClock(T0)
        later = datetime(2030, 6, 1, tzinfo=UTC)

        clock.set(later)

        assert clock.now() == later

    def test_aware_moments_in_other_zones_are_converted_to_utc(self) -> None:
        paris = timezone(timedelta(hours=1))
        clock = FakeClock(datetime(2024, 1, 2, 10, 30, tzinfo=paris))

        assert clock.now() == T0
        assert _is_utc(clock.now())
        clock.set(datetime(2024, 1, 2, 11, 30, tzinfo=paris))
        assert _is_utc(clock.now())
        assert clock.now() == T0 + timedelta(hours=1)

    def test_naive_moments_are_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone"):
            FakeClock(datetime(2024, 1, 2, 9, 30))
        clock = FakeClock(T0)
        with pytest.raises(ValueError, match="timezone"):
            clock.set(datetime(2024, 1, 2, 9, 30))
        assert clock.now() == T0

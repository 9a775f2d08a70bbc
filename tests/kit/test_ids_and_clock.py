"""UUIDv7 ids and the injectable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tribekit.kit import clock
from tribekit.kit.ids import new_id


def test_ids_are_version_7_and_time_ordered() -> None:
    ids = [new_id() for _ in range(10_000)]  # many share a millisecond
    assert all(i.version == 7 and i.variant == "specified in RFC 4122" for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == 10_000
    millis = [i.int >> 80 for i in ids]
    assert len(set(millis)) < len(ids)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    assert abs(millis[-1] - now_ms) < 5000


def test_frozen_clock_is_aware_utc_and_moves() -> None:
    shanghai = timezone(timedelta(hours=8))
    with clock.frozen_at(datetime(2026, 11, 23, 20, 0, tzinfo=shanghai)) as frozen:
        assert clock.now() == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
        frozen.advance(timedelta(hours=2))
        assert clock.now().hour == 14
    assert clock.now().tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"), clock.frozen_at(datetime(2026, 1, 1)):
        pass

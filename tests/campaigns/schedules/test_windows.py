"""A campaign schedule's rule: the start read as the scheduled posts read theirs, then how long
(a duration, an end, all day), in English and Chinese; what is refused says what was understood;
occurrences in a timezone with daylight saving (Europe/Berlin's spring-forward and fall-back
nights) and at the month's end."""

# ruff: noqa: RUF001  # Chinese rules and words use full-width punctuation on purpose
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tribekit.campaigns.schedules import windows
from tribekit.robot.schedules.rules import RuleNotUnderstood

H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("rule", "cron", "how", "duration", "en", "zh"),
    [
        (
            "Mon-Thu 20:00 for 2 h",
            "0 20 * * 1-4",
            "duration",
            2 * H,
            "every Monday to Thursday at 20:00, for 2 h",
            "每周一至周四 20:00，持续2小时",
        ),
        (
            "周一至周四 20:00 持续2小时",
            "0 20 * * 1-4",
            "duration",
            2 * H,
            "every Monday to Thursday at 20:00, for 2 h",
            "每周一至周四 20:00，持续2小时",
        ),
        ("every day 12:00 for 90 min", "0 12 * * *", "duration", 1.5 * H, None, None),
        ("Sat 10:00 for 1 day", "0 10 * * 6", "duration", 24 * H, None, None),
        (
            "Fri 20:00-23:00",
            "0 20 * * 5",
            "until",
            3 * H,
            "every Friday at 20:00 until 23:00",
            "每周五 20:00至23:00",
        ),
        ("周五 20：00至23：00", "0 20 * * 5", "until", 3 * H, None, "每周五 20:00至23:00"),
        ("every day 22:00-02:00", "0 22 * * *", "until", 4 * H, None, None),
        ("Mon to Thu 20:00 to 22:30", "0 20 * * 1-4", "until", 2.5 * H, None, None),
        (
            "1st of the month",
            "0 0 1 * *",
            "all_day",
            24 * H,
            "on the 1st of every month, all day",
            "每月1日，全天",
        ),
        ("每月1日", "0 0 1 * *", "all_day", 24 * H, None, "每月1日，全天"),
        ("每月1日 全天", "0 0 1 * *", "all_day", 24 * H, None, None),
        ("1st of the month 10:00", "0 10 1 * *", "until", 14 * H, None, None),
        ("last day of the month 18:00 for 3 h", "0 18 L * *", "duration", 3 * H, None, None),
        ("Sat 20:00 for 2 h", "0 20 * * 6", "duration", 2 * H, None, None),
    ],
)
def test_the_forms_are_read_and_said_back(
    rule: str,
    cron: str,
    how: str,
    duration: timedelta,
    en: str | None,
    zh: str | None,
) -> None:
    window = windows.parse(rule)
    assert (window.cron, window.how, window.duration) == (cron, how, duration)
    if en is not None:
        assert window.words("en") == en
    if zh is not None:
        assert window.words("zh-CN") == zh


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("", "it is empty"),
        ("Mon-Thu 25:00 for 2 h", "25:00 is not a time of day"),
        (
            "Funday 20:00 for 2 h",
            "its start 'funday 20:00' is not read: 'funday' is not a day of the week",
        ),
        ("sometime", "its start 'sometime' is not read: 'sometime' is not a day of the week"),
        ("3 days after a member joins", "not counted from a member's join"),
        (
            "Mon 20:00 for 0 h",
            "it understood every Monday at 20:00, for 0 min, but an occurrence runs from 1 minute",
        ),
        (
            "every day 20:00 for 25 h",
            "it understood every day at 20:00, for 25 h, but each occurrence would still run "
            "when the next starts (24 h apart)",
        ),
        ("Mon for 2 h", "a duration goes with a start time"),
    ],
)
def test_a_rule_not_read_is_a_422_that_says_what_was_understood(rule: str, says: str) -> None:
    with pytest.raises(RuleNotUnderstood) as refused:
        windows.parse(rule)
    assert refused.value.status == 422
    assert refused.value.code == "schedule_rule_invalid"
    assert says in refused.value.detail
    assert refused.value.errors[0].loc == ("body", "rule")


def _spans(rule: str, after: datetime, until: datetime) -> list[tuple[str, datetime, datetime]]:
    window = windows.parse(rule)
    return [
        (o.key, start, end)
        for o, start, end in windows.occurrences(window, "Europe/Berlin", after, until)
    ]


def _utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def test_spring_forward_a_start_in_the_gap_moves_on_and_a_duration_stays_elapsed() -> None:
    # Europe/Berlin, Sunday 29 March 2026: 02:00 CET becomes 03:00 CEST.
    week = (_utc(3, 27, 0), _utc(3, 31, 0))
    assert _spans("Sun 02:30 for 2 h", *week) == [
        ("2026-03-29T02:30@Europe/Berlin", _utc(3, 29, 1, 30), _utc(3, 29, 3, 30)),  # 03:30-05:30
    ]
    # A range ends at its wall-clock end; one inside the gap keeps its length on the clock.
    assert _spans("Sun 01:00-04:00", *week) == [
        ("2026-03-29T01:00@Europe/Berlin", _utc(3, 29, 0), _utc(3, 29, 2)),  # 2 real hours
    ]
    assert _spans("Sun 02:00-02:45", *week) == [
        ("2026-03-29T02:00@Europe/Berlin", _utc(3, 29, 1), _utc(3, 29, 1, 45)),
    ]
    # All day on the spring-forward Sunday lasts 23 hours.
    assert _spans("Sun", *week) == [
        ("2026-03-29T00:00@Europe/Berlin", _utc(3, 28, 23), _utc(3, 29, 22)),
    ]


def test_fall_back_the_repeated_hour_makes_one_occurrence() -> None:
    # Europe/Berlin, Sunday 25 October 2026: 03:00 CEST becomes 02:00 CET.
    week = (_utc(10, 23, 0), _utc(10, 27, 0))
    assert _spans("Sun 02:30 for 1 h", *week) == [
        ("2026-10-25T02:30@Europe/Berlin", _utc(10, 25, 0, 30), _utc(10, 25, 1, 30)),
    ]
    assert _spans("Sun", *week) == [
        ("2026-10-25T00:00@Europe/Berlin", _utc(10, 24, 22), _utc(10, 25, 23)),  # 25 hours
    ]
    # A daily sale keeps its local time on both sides of the change.
    daily = _spans("every day 20:00 for 2 h", _utc(10, 24, 0), _utc(10, 26, 0))
    assert [(start, end - start) for _, start, end in daily] == [
        (_utc(10, 24, 18), 2 * H),  # 20:00 CEST
        (_utc(10, 25, 19), 2 * H),  # 20:00 CET
    ]


def test_the_31st_runs_only_in_months_that_have_one_and_the_last_day_every_month() -> None:
    year = (_utc(1, 1, 0), datetime(2027, 1, 1, tzinfo=UTC))
    months = [key[:10] for key, _, _ in _spans("31st of the month 20:00 for 2 h", *year)]
    assert months == [
        "2026-01-31",
        "2026-03-31",
        "2026-05-31",
        "2026-07-31",
        "2026-08-31",
        "2026-10-31",
        "2026-12-31",
    ]
    lasts = [key[:10] for key, _, _ in _spans("last day of the month 20:00 for 2 h", *year)]
    assert lasts[:6] == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
        "2026-06-30",
    ]
    assert len(lasts) == 12
    assert "months without a 31st are skipped" in windows.parse("31st of the month 20:00").words()

"""A schedule's rule: each form read into its cron expression or delay and said back in en and
zh-CN; refused rules name the forms; occurrences in a timezone across DST changes (Europe/Berlin
and America/New_York), month ends and leap years."""

# ruff: noqa: RUF001  # Chinese rules use full-width punctuation on purpose
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tribekit.robot.schedules import rules

RULES = [
    # rule, cron, after_join_seconds, en, zh-CN
    (
        "Mon-Thu 19:50",
        "50 19 * * 1-4",
        None,
        "every Monday to Thursday at 19:50",
        "每周一至周四 19:50",
    ),
    (
        "Mon,Wed,Fri 08:00",
        "0 8 * * 1,3,5",
        None,
        "every Monday, Wednesday and Friday at 08:00",
        "每周一、周三、周五 08:00",
    ),
    ("every Friday 20:00", "0 20 * * 5", None, "every Friday at 20:00", "每周五 20:00"),
    ("every Friday at 8:05", "5 8 * * 5", None, "every Friday at 08:05", "每周五 08:05"),
    ("every day 09:00", "0 9 * * *", None, "every day at 09:00", "每天 09:00"),
    ("daily 21:30", "30 21 * * *", None, "every day at 21:30", "每天 21:30"),
    (
        "weekdays 18:00",
        "0 18 * * 1-5",
        None,
        "every weekday (Monday to Friday) at 18:00",
        "每个工作日（周一至周五）18:00",
    ),
    (
        "weekends 10:00",
        "0 10 * * 6-7",
        None,
        "every Saturday and Sunday at 10:00",
        "每周六、周日 10:00",
    ),
    (
        "Fri-Mon 12:00",
        "0 12 * * 1,5-7",
        None,
        "every Friday to Monday at 12:00",
        "每周五至周一 12:00",
    ),
    (
        "Monday to Thursday at 19:50",
        "50 19 * * 1-4",
        None,
        "every Monday to Thursday at 19:50",
        "每周一至周四 19:50",
    ),
    (
        "1st of the month 09:00",
        "0 9 1 * *",
        None,
        "on the 1st of every month at 09:00",
        "每月1日 09:00",
    ),
    (
        "15th of the month 10:30",
        "30 10 15 * *",
        None,
        "on the 15th of every month at 10:30",
        "每月15日 10:30",
    ),
    (
        "31st of the month 09:00",
        "0 9 31 * *",
        None,
        "on the 31st of every month at 09:00 (months without a 31st are skipped)",
        "每月31日 09:00（没有31日的月份跳过）",
    ),
    (
        "last day of the month 18:00",
        "0 18 L * *",
        None,
        "on the last day of every month at 18:00",
        "每月最后一天 18:00",
    ),
    (
        "3 days after a member joins",
        None,
        3 * 86400,
        "3 days after a member joins, as a direct message",
        "成员加入3天后，以私信发送",
    ),
    (
        "2 hours after a member joins",
        None,
        7200,
        "2 hours after a member joins, as a direct message",
        "成员加入2小时后，以私信发送",
    ),
    (
        "1 day after a member joins at 10:00",
        "0 10 * * *",
        86400,
        "1 day after a member joins, at 10:00, as a direct message",
        "成员加入1天后的10:00，以私信发送",
    ),
    (
        "周一至周四 19:50",
        "50 19 * * 1-4",
        None,
        "every Monday to Thursday at 19:50",
        "每周一至周四 19:50",
    ),
    ("每周五 20:00", "0 20 * * 5", None, "every Friday at 20:00", "每周五 20:00"),
    (
        "周一、周三、周五 08:00",
        "0 8 * * 1,3,5",
        None,
        "every Monday, Wednesday and Friday at 08:00",
        "每周一、周三、周五 08:00",
    ),
    (
        "星期一至星期五 08:00",
        "0 8 * * 1-5",
        None,
        "every weekday (Monday to Friday) at 08:00",
        "每个工作日（周一至周五）08:00",
    ),
    ("每天 09:00", "0 9 * * *", None, "every day at 09:00", "每天 09:00"),
    (
        "工作日 18:00",
        "0 18 * * 1-5",
        None,
        "every weekday (Monday to Friday) at 18:00",
        "每个工作日（周一至周五）18:00",
    ),
    ("每月1日 09:00", "0 9 1 * *", None, "on the 1st of every month at 09:00", "每月1日 09:00"),
    (
        "每月15号 10：30",
        "30 10 15 * *",
        None,
        "on the 15th of every month at 10:30",
        "每月15日 10:30",
    ),
    (
        "每月最后一天 18:00",
        "0 18 L * *",
        None,
        "on the last day of every month at 18:00",
        "每月最后一天 18:00",
    ),
    (
        "加入3天后",
        None,
        3 * 86400,
        "3 days after a member joins, as a direct message",
        "成员加入3天后，以私信发送",
    ),
    (
        "入群1天后 10:00",
        "0 10 * * *",
        86400,
        "1 day after a member joins, at 10:00, as a direct message",
        "成员加入1天后的10:00，以私信发送",
    ),
]


@pytest.mark.parametrize(("text", "cron", "seconds", "en", "zh"), RULES)
def test_each_form_is_read_and_said_back(
    text: str, cron: str | None, seconds: int | None, en: str, zh: str
) -> None:
    rule = rules.parse(text)
    assert (rule.cron, rule.after_join_seconds) == (cron, seconds)
    assert rule.words("en") == en
    assert rule.words("zh-CN") == zh


BAD = [
    ("", "it is empty"),
    ("every Friyay 20:00", "'friyay' is not a day of the week"),
    ("Mon 25:00", "25:00 is not a time of day"),
    ("Mon 19:60", "19:60 is not a time of day"),
    ("32nd of the month 09:00", "a month has no day 32"),
    ("0th of the month 09:00", "a month has no day 0"),
    ("every Friday", "it has no time of day"),
    ("tomorrow at noon", "it has no time of day"),
    ("0 days after a member joins", "the delay after a join is from 1 minute to 365 days"),
    ("400 days after a member joins", "the delay after a join is from 1 minute to 365 days"),
    ("2 hours after a member joins at 10:00", "a time of day goes with a delay in days"),
    ("*/5 * * * *", "write the rule in words, not as a cron expression"),
    ("50 19 * * 1-4", "write the rule in words, not as a cron expression"),
    ("每周八 10:00", "it is not one of the forms"),
]


@pytest.mark.parametrize(("text", "why"), BAD)
def test_a_bad_rule_is_refused_with_what_to_write(text: str, why: str) -> None:
    with pytest.raises(rules.RuleNotUnderstood) as refused:
        rules.parse(text)
    error = refused.value
    assert error.code == "schedule_rule_invalid"
    assert error.status == 422
    assert error.detail.startswith(f"rule {text!r}: {why}")
    assert "'Mon-Thu 19:50'" in error.detail
    assert "'3 days after a member joins'" in error.detail
    assert "'每月1日 09:00'" in error.detail
    assert [p.loc for p in error.errors] == [("body", "rule")]


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _between(cron: str, tz: str, after: datetime, until: datetime) -> list[tuple[str, datetime]]:
    return [(o.key, o.at) for o in rules.occurrences(cron, tz, after, until)]


def test_mon_to_thu_in_shanghai() -> None:
    # Monday 2026-12-07 to Monday 2026-12-14, Shanghai (UTC+8, no DST).
    found = _between(
        "50 19 * * 1-4", "Asia/Shanghai", _utc(2026, 12, 6, 16), _utc(2026, 12, 13, 16)
    )
    assert found == [
        ("2026-12-07T19:50@Asia/Shanghai", _utc(2026, 12, 7, 11, 50)),
        ("2026-12-08T19:50@Asia/Shanghai", _utc(2026, 12, 8, 11, 50)),
        ("2026-12-09T19:50@Asia/Shanghai", _utc(2026, 12, 9, 11, 50)),
        ("2026-12-10T19:50@Asia/Shanghai", _utc(2026, 12, 10, 11, 50)),
    ]


def test_the_window_excludes_its_start_and_includes_its_end() -> None:
    at = _utc(2026, 12, 7, 11, 50)
    assert _between("50 19 * * *", "Asia/Shanghai", at, at + timedelta(hours=1)) == []
    found = _between("50 19 * * *", "Asia/Shanghai", at - timedelta(minutes=1), at)
    assert found == [("2026-12-07T19:50@Asia/Shanghai", at)]


def test_spring_forward_berlin_a_time_in_the_gap_goes_out_once_an_hour_later() -> None:
    # 2026-03-29: Berlin's clocks go from 02:00 CET to 03:00 CEST; 02:30 does not exist.
    found = _between("30 2 * * *", "Europe/Berlin", _utc(2026, 3, 27, 12), _utc(2026, 3, 30, 12))
    assert found == [
        ("2026-03-28T02:30@Europe/Berlin", _utc(2026, 3, 28, 1, 30)),  # 02:30 CET
        ("2026-03-29T02:30@Europe/Berlin", _utc(2026, 3, 29, 1, 30)),  # = 03:30 CEST
        ("2026-03-30T02:30@Europe/Berlin", _utc(2026, 3, 30, 0, 30)),  # 02:30 CEST
    ]
    said = found[1][1].astimezone(ZoneInfo("Europe/Berlin"))
    assert (said.hour, said.minute, said.utcoffset()) == (3, 30, timedelta(hours=2))


def test_spring_forward_new_york() -> None:
    # 2026-03-08: New York goes from 02:00 EST to 03:00 EDT.
    found = _between("30 2 * * *", "America/New_York", _utc(2026, 3, 7), _utc(2026, 3, 10))
    assert [at for _, at in found] == [
        _utc(2026, 3, 7, 7, 30),  # 02:30 EST
        _utc(2026, 3, 8, 7, 30),  # 03:30 EDT
        _utc(2026, 3, 9, 6, 30),  # 02:30 EDT
    ]


def test_an_occurrence_in_the_gap_is_found_from_a_window_that_starts_after_the_jump() -> None:
    # The window opens at 03:10 CEST, after the jump: 02:30 (placed at 03:30 CEST) is still in it.
    found = _between("30 2 * * *", "Europe/Berlin", _utc(2026, 3, 29, 1, 10), _utc(2026, 3, 29, 2))
    assert found == [("2026-03-29T02:30@Europe/Berlin", _utc(2026, 3, 29, 1, 30))]


@pytest.mark.parametrize(
    ("tz", "hour", "after", "first"),
    [
        # 2026-10-25: 02:30 CEST, then 02:30 CET an hour later.
        ("Europe/Berlin", 2, _utc(2026, 10, 24, 12), _utc(2026, 10, 25, 0, 30)),
        # 2026-11-01: 01:30 EDT, then 01:30 EST an hour later.
        ("America/New_York", 1, _utc(2026, 10, 31, 12), _utc(2026, 11, 1, 5, 30)),
    ],
)
def test_fall_back_a_time_that_happens_twice_goes_out_once_at_the_first(
    tz: str, hour: int, after: datetime, first: datetime
) -> None:
    cron = f"30 {hour} * * *"
    found = _between(cron, tz, after, after + timedelta(hours=24))
    assert [at for _, at in found] == [first]
    # A window that starts between the two does not give the second.
    assert _between(cron, tz, first + timedelta(minutes=1), first + timedelta(hours=3)) == []


def test_every_day_is_one_post_a_day_across_a_year_of_dst_changes() -> None:
    for tz in ("Europe/Berlin", "America/New_York"):
        for hour in (0, 1, 2, 3, 12, 23):
            found = _between(f"30 {hour} * * *", tz, _utc(2026, 1, 1), _utc(2027, 1, 1))
            local_days = {key.split("T")[0] for key, _ in found}
            assert len(found) == len(local_days) == 365, (tz, hour)


def test_the_31st_skips_shorter_months_and_the_last_day_never_does() -> None:
    start, end = _utc(2026, 1, 1), _utc(2027, 1, 1)
    on_31 = [key[:10] for key, _ in _between("0 9 31 * *", "UTC", start, end)]
    assert on_31 == [f"2026-{m:02d}-31" for m in (1, 3, 5, 7, 8, 10, 12)]
    last = [key[:10] for key, _ in _between("0 18 L * *", "UTC", start, end)]
    assert last == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
        "2026-06-30",
        "2026-07-31",
        "2026-08-31",
        "2026-09-30",
        "2026-10-31",
        "2026-11-30",
        "2026-12-31",
    ]


def test_leap_years() -> None:
    def february(year: int, cron: str) -> list[str]:
        found = _between(cron, "Asia/Shanghai", _utc(year, 2, 1), _utc(year, 3, 1))
        return [key[:10] for key, _ in found]

    assert february(2028, "0 18 L * *") == ["2028-02-29"]
    assert february(2027, "0 18 L * *") == ["2027-02-28"]
    assert february(2100, "0 18 L * *") == ["2100-02-28"]  # not a leap year
    assert february(2028, "0 9 29 * *") == ["2028-02-29"]
    assert february(2027, "0 9 29 * *") == []


def test_a_join_delay_is_elapsed_time_or_calendar_days_at_a_time() -> None:
    joined = _utc(2026, 3, 28, 22, 0)  # 23:00 CET in Berlin, the evening before spring-forward
    three_days = rules.JoinDelay.of(3 * 86400, None)
    assert three_days.due(joined, "Europe/Berlin") == joined + timedelta(days=3)
    next_day = rules.JoinDelay.of(86400, "0 10 * * *")
    assert next_day.at == time(10, 0)
    # The day after the join's local day, at 10:00 CEST (the clocks moved in between).
    assert next_day.due(joined, "Europe/Berlin") == _utc(2026, 3, 29, 8, 0)
    late = _utc(2026, 3, 29, 15, 30)  # 23:30 in Shanghai: the next day is the 30th
    assert next_day.due(late, "Asia/Shanghai") == _utc(2026, 3, 30, 2, 0)


ZONES = st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Shanghai", "Australia/Sydney"])


@settings(max_examples=60, deadline=None)
@given(
    zone=ZONES,
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    days=st.sets(st.integers(1, 7), min_size=1),
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 1, 1)),
    span=st.integers(1, 24 * 40),
)
def test_occurrences_are_in_the_window_in_order_and_once(
    zone: str, hour: int, minute: int, days: set[int], start: datetime, span: int
) -> None:
    rule = rules.Rule("weekly", at=time(hour, minute), weekdays=tuple(sorted(days)))
    assert rule.cron is not None
    after = start.replace(tzinfo=UTC)
    until = after + timedelta(hours=span)
    found = list(rules.occurrences(rule.cron, zone, after, until))
    times = [o.at for o in found]
    assert times == sorted(set(times))
    assert len({o.key for o in found}) == len(found)
    assert all(after < at <= until for at in times)
    for occurrence in found:
        assert occurrence.local.isoweekday() in days
        assert (occurrence.local.hour, occurrence.local.minute) == (hour, minute)
        # Placed on the local time, or (in a spring-forward gap) at most 2 hours after it.
        shown = occurrence.at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        assert timedelta(0) <= shown - occurrence.local <= timedelta(hours=2)
    # Splitting the window in two finds the same occurrences.
    middle = after + (until - after) / 2
    halves = [o.at for o in rules.occurrences(rule.cron, zone, after, middle)] + [
        o.at for o in rules.occurrences(rule.cron, zone, middle, until)
    ]
    assert halves == times


@settings(max_examples=200, deadline=None)
@given(
    zone=ZONES,
    days=st.integers(1, 30),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    joined=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 1, 1)),
)
def test_a_due_time_at_a_time_of_day_lies_between_the_shortest_and_longest_delay(
    zone: str, days: int, hour: int, minute: int, joined: datetime
) -> None:
    delay = rules.JoinDelay.of(days * 86400, f"{minute} {hour} * * *")
    at = joined.replace(tzinfo=UTC)
    due = delay.due(at, zone)
    assert delay.shortest <= due - at <= delay.longest
    local = due.astimezone(ZoneInfo(zone))
    assert local.date() == at.astimezone(ZoneInfo(zone)).date() + timedelta(days=days)

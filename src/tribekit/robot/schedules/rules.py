"""A schedule's rule: what staff write ("Mon-Thu 19:50", "every Friday 20:00", "1st of the month
09:00", "3 days after a member joins"), read into a croniter expression or a delay counted from a
member's join, said back in words (en, zh-CN), and turned into occurrences in a timezone.

Pure: no I/O, no clock. The forms read (English is case-insensitive, "at" before the time may be
left out; Chinese may use full-width punctuation):

===============================  ======================================  =========================
form                             examples                                 cron
===============================  ======================================  =========================
days of the week and a time      ``Mon-Thu 19:50``, ``Mon,Wed,Fri 08:00``  ``50 19 * * 1-4``
                                 ``every Friday 20:00``, ``周一至周四 19:50``
                                 ``每周五 20:00``, ``周一、周三、周五 08:00``
every day                        ``every day 09:00``, ``daily 09:00``,    ``0 9 * * *``
                                 ``每天 09:00``
weekdays / weekends              ``weekdays 18:00``, ``工作日 18:00``     ``0 18 * * 1-5``
a day of the month               ``1st of the month 09:00``,             ``0 9 1 * *``
                                 ``15th of the month 10:30``, ``每月1日 09:00``
the last day of the month        ``last day of the month 18:00``,        ``0 18 L * *``
                                 ``每月最后一天 18:00``
after a member joins (a DM)      ``3 days after a member joins``,        None
                                 ``2 hours after a member joins``,
                                 ``1 day after a member joins at 10:00``,
                                 ``加入3天后``, ``入群1天后 10:00``
===============================  ======================================  =========================

**Month-end.** "31st of the month" posts only in months that have a 31st (croniter skips the
others), likewise the 29th and 30th in February; "last day of the month" (croniter's ``L``)
posts every month, on the 28th, 29th, 30th or 31st.

**Daylight saving time.** Occurrences are found in local wall-clock time (croniter over naive
datetimes, which knows no DST) and only then placed on the UTC time line, as RFC 5545 (iCalendar)
does: a local time that does not exist on the spring-forward day (02:30 in Europe/Berlin on the
last Sunday of March) is read with the offset before the gap, so the post goes out once, at the
same distance into the new hour (03:30 CEST); a local time that happens twice on the fall-back
day (02:30 on the last Sunday of October) is the first of the two (02:30 CEST), once. This is
Python's ``fold=0`` (PEP 495).

**After a member joins.** A delay in minutes, hours or days is elapsed time from the join. With a
time of day ("1 day after a member joins at 10:00") it counts calendar days in the community's
timezone: the day of the join plus N days, at that time. A schedule keeps the delay in
``after_join_seconds`` and the time of day, when there is one, as a daily cron expression in
``cron`` (``0 10 * * *``): the table has no column of its own for it.
"""

# ruff: noqa: RUF001  # Chinese rules and words use full-width punctuation on purpose
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from croniter import croniter  # type: ignore[import-untyped]  # croniter ships no type hints

from tribekit.kit.errors import FieldProblem, ValidationFailed

Language = Literal["en", "zh-CN"]
LAST = -1  # ``Rule.day`` of "the last day of the month"
#: The longest delay counted from a join.
MAX_DELAY = timedelta(days=365)

FORMS = (
    "'Mon-Thu 19:50', 'Mon,Wed,Fri 08:00', 'every Friday 20:00', 'every day 09:00', "
    "'weekdays 18:00', '1st of the month 09:00', 'last day of the month 18:00', "
    "'3 days after a member joins' (or hours, minutes; '1 day after a member joins at 10:00'); "
    "in Chinese '周一至周四 19:50', '每周五 20:00', '每天 09:00', '工作日 18:00', "
    "'每月1日 09:00', '每月最后一天 18:00', '加入3天后'"
)


class RuleNotUnderstood(ValidationFailed):
    code = "schedule_rule_invalid"
    title = "The schedule's rule is not one Tribekit reads"


def _refuse(rule: str, why: str) -> RuleNotUnderstood:
    message = f"{why}; write one of: {FORMS}"
    return RuleNotUnderstood(
        f"rule {rule!r}: {message}",
        errors=[FieldProblem(("body", "rule"), message, "schedule_rule_invalid")],
        rule=rule,
    )


# -- the parsed rule ------------------------------------------------------------------------------

_DAY_NAMES_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY_NAMES_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


@dataclass(frozen=True)
class Rule:
    """A rule read: ``weekly`` on ISO weekdays (1 = Monday) at a time, ``monthly`` on a day
    (1-31 or ``LAST``) at a time, or ``after_join`` a delay (optionally at a time of day)."""

    kind: Literal["weekly", "monthly", "after_join"]
    at: time | None = None
    weekdays: tuple[int, ...] = ()
    day: int | None = None
    amount: int = 0  # after_join: how many ``unit``
    unit: Literal["minutes", "hours", "days"] = "days"

    @property
    def cron(self) -> str | None:
        """The croniter expression; for an after-join rule, its time of day as a daily
        expression (None without one)."""
        if self.at is None:
            return None
        clock = f"{self.at.minute} {self.at.hour}"
        if self.kind == "weekly":
            return f"{clock} * * {_cron_weekdays(self.weekdays)}"
        if self.kind == "monthly":
            return f"{clock} {'L' if self.day == LAST else self.day} * *"
        return f"{clock} * * *"

    @property
    def delay(self) -> timedelta | None:
        if self.kind != "after_join":
            return None
        return timedelta(**{self.unit: self.amount})

    @property
    def after_join_seconds(self) -> int | None:
        delay = self.delay
        return None if delay is None else int(delay.total_seconds())

    def words(self, language: Language = "en") -> str:
        """The rule said back, in ``language``."""
        return _words_zh(self) if language == "zh-CN" else _words_en(self)


def _runs(days: tuple[int, ...]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted ISO weekdays: (1, 2, 3, 5) -> [(1, 3), (5, 5)]."""
    runs: list[tuple[int, int]] = []
    for day in days:
        if runs and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _said_runs(days: tuple[int, ...]) -> list[list[int]]:
    """The runs as said: one that ends on Sunday goes on into Monday (Fri-Mon: [5, 6, 7, 1])."""
    runs = [list(range(first, last + 1)) for first, last in _runs(days)]
    if len(runs) > 1 and runs[0][0] == 1 and runs[-1][-1] == 7:
        runs = [*runs[1:-1], runs[-1] + runs[0]]
    return runs


def _cron_weekdays(days: tuple[int, ...]) -> str:
    if len(days) == 7:
        return "*"
    parts = []
    for first, last in _runs(days):
        cron_first, cron_last = first % 7, last % 7  # cron: 0 = Sunday
        if first == last:
            parts.append(str(cron_first))
        elif last == 7:  # a run that ends on Sunday: cron counts Sunday as 0 (or 7)
            parts.append(f"{cron_first}-7")
        else:
            parts.append(f"{cron_first}-{cron_last}")
    return ",".join(parts)


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _hhmm(at: time) -> str:
    return f"{at.hour:02d}:{at.minute:02d}"


def _words_en(rule: Rule) -> str:
    if rule.kind == "after_join":
        unit = rule.unit[:-1] if rule.amount == 1 else rule.unit
        said = f"{rule.amount} {unit} after a member joins"
        if rule.at is not None:
            said += f", at {_hhmm(rule.at)}"
        return f"{said}, as a direct message"
    assert rule.at is not None
    at = _hhmm(rule.at)
    if rule.kind == "monthly":
        if rule.day == LAST:
            return f"on the last day of every month at {at}"
        assert rule.day is not None
        said = f"on the {_ordinal(rule.day)} of every month at {at}"
        if rule.day > 28:
            said += f" (months without a {_ordinal(rule.day)} are skipped)"
        return said
    days = rule.weekdays
    if len(days) == 7:
        return f"every day at {at}"
    if days == (1, 2, 3, 4, 5):
        return f"every weekday (Monday to Friday) at {at}"
    parts = []
    for run in _said_runs(days):
        names = [_DAY_NAMES_EN[d - 1] for d in run]
        parts.extend([f"{names[0]} to {names[-1]}"] if len(names) >= 3 else names)
    return f"every {_and(parts)} at {at}"


def _words_zh(rule: Rule) -> str:
    if rule.kind == "after_join":
        unit = {"minutes": "分钟", "hours": "小时", "days": "天"}[rule.unit]
        said = f"成员加入{rule.amount}{unit}后"
        if rule.at is not None:
            said += f"的{_hhmm(rule.at)}"
        return f"{said}，以私信发送"
    assert rule.at is not None
    at = _hhmm(rule.at)
    if rule.kind == "monthly":
        if rule.day == LAST:
            return f"每月最后一天 {at}"
        said = f"每月{rule.day}日 {at}"
        if rule.day is not None and rule.day > 28:
            said += f"（没有{rule.day}日的月份跳过）"
        return said
    days = rule.weekdays
    if len(days) == 7:
        return f"每天 {at}"
    if days == (1, 2, 3, 4, 5):
        return f"每个工作日（周一至周五）{at}"
    parts = []
    for run in _said_runs(days):
        names = [_DAY_NAMES_ZH[d - 1] for d in run]
        parts.extend([f"{names[0]}至{names[-1]}"] if len(names) >= 3 else names)
    return f"每{'、'.join(parts)} {at}"


# -- reading a rule -------------------------------------------------------------------------------

_EN_DAYS = {
    "mon": 1,
    "monday": 1,
    "tue": 2,
    "tues": 2,
    "tuesday": 2,
    "wed": 3,
    "weds": 3,
    "wednesday": 3,
    "thu": 4,
    "thur": 4,
    "thurs": 4,
    "thursday": 4,
    "fri": 5,
    "friday": 5,
    "sat": 6,
    "saturday": 6,
    "sun": 7,
    "sunday": 7,
}
_ZH_DAYS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "日": 7, "天": 7}
_FULL_WIDTH = str.maketrans(
    {"：": ":", "，": ",", "、": ",", "－": "-", "—": "-", "–": "-", "～": "-", "~": "-"}
)
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")

# "at" is a word of its own: in "sat 20:00" it is the end of the day's name.
_TIME = r"(?:(?:\s+at)?\s*(?P<h>\d{1,2}):(?P<m>\d{2}))"
_MONTHLY = re.compile(
    rf"^(?:on\s+)?(?:the\s+)?(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?:\s+day)?\s+of\s+"
    rf"(?:the|every|each)\s+month{_TIME}$"
)
_LAST = re.compile(rf"^(?:on\s+)?(?:the\s+)?last\s+day\s+of\s+(?:the|every|each)\s+month{_TIME}$")
_EVERY_DAY = re.compile(rf"^(?:every\s+day|everyday|daily|each\s+day){_TIME}$")
_WEEKDAYS = re.compile(rf"^(?:every\s+)?(?P<which>weekdays?|weekends?){_TIME}$")
_AFTER_JOIN = re.compile(
    r"^(?P<n>\d{1,6})\s*(?P<unit>minutes?|mins?|hours?|hrs?|days?)\s+after\s+"
    r"(?:a\s+|the\s+)?(?:new\s+)?(?:member\s+)?(?:joins|joined|joining)"
    r"(?:\s+(?:the\s+)?(?:group|community))?"
    rf"{_TIME}?$"
)
_EN_WEEK = re.compile(rf"^(?:every\s+|on\s+)?(?P<days>[a-z][a-z ,\-]*?){_TIME}$")

_CRON = re.compile(r"^(?:[\d*/,\-lw#?]+\s+){4}[\d*/,\-a-z#?]+$")
_ZH_TIME = r"(?:\s*(?P<h>\d{1,2}):(?P<m>\d{2}))"
_ZH_EVERY_DAY = re.compile(rf"^(?:每天|每日){_ZH_TIME}$")
_ZH_WEEKDAYS = re.compile(rf"^(?:每个?|每逢)?(?P<which>工作日|周末){_ZH_TIME}$")
_ZH_MONTHLY = re.compile(rf"^每(?:个)?月\s*(?P<day>\d{{1,2}})\s*(?:日|号){_ZH_TIME}$")
_ZH_LAST = re.compile(rf"^每(?:个)?月\s*(?:最后一天|月底|最后1天){_ZH_TIME}$")
_ZH_WEEK = re.compile(
    rf"^(?:每)?(?P<days>(?:周|星期|礼拜)[一二三四五六日天周星期礼拜,\-至到和及\s]*?){_ZH_TIME}$"
)
_ZH_AFTER_JOIN = re.compile(
    r"^(?:新?成员|会员)?(?:加入|入群|进群)(?:后)?\s*(?P<n>\d{1,6})\s*"
    r"(?P<unit>天|日|小时|个小时|分钟)后?(?:的)?"
    rf"{_ZH_TIME}?$"
)


def _at(rule: str, hour: str | None, minute: str | None) -> time | None:
    if hour is None or minute is None:
        return None
    h, m = int(hour), int(minute)
    if h > 23 or m > 59:
        raise _refuse(rule, f"{hour}:{minute} is not a time of day (00:00 to 23:59)")
    return time(h, m)


def _day_of_month(rule: str, raw: str) -> int:
    day = int(raw)
    if not 1 <= day <= 31:
        raise _refuse(
            rule, f"a month has no day {day} (1 to 31, or 'last day of the month' / 每月最后一天)"
        )
    return day


def _en_days(rule: str, text: str) -> tuple[int, ...]:
    """``mon-thu``, ``mon, wed and fri``, ``monday to thursday``, ``fridays``."""
    text = re.sub(r"\s+(?:to|through|thru|until)\s+", "-", text.strip())
    text = re.sub(r"\s*(?:,|\band\b|&)\s*", ",", text)
    days: set[int] = set()
    for item in filter(None, (part.strip() for part in text.split(","))):
        ends = [end.strip() for end in item.split("-")]
        if len(ends) > 2:
            raise _refuse(rule, f"{item!r} is not a day or a range of days such as Mon-Thu")
        numbers = [_en_day(rule, end) for end in ends]
        days.update(_span(numbers[0], numbers[-1]))
    if not days:
        raise _refuse(rule, "it names no day of the week")
    return tuple(sorted(days))


def _en_day(rule: str, name: str) -> int:
    number = _EN_DAYS.get(name) or _EN_DAYS.get(name.removesuffix("s"))
    if number is None:
        raise _refuse(rule, f"{name!r} is not a day of the week (Mon, Tue, ... Sun)")
    return number


def _span(first: int, last: int) -> list[int]:
    """ISO weekdays from ``first`` to ``last``, across the week's end (Fri-Mon: 5, 6, 7, 1)."""
    if first <= last:
        return list(range(first, last + 1))
    return [*range(first, 8), *range(1, last + 1)]


def _zh_days(rule: str, text: str) -> tuple[int, ...]:
    """``周一至周四``, ``周一、周三、周五``, ``周一,三,五``, ``星期五``."""
    text = re.sub(r"周|星期|礼拜|\s", "", text)
    text = re.sub(r"至|到", "-", text)
    text = re.sub(r"和|及", ",", text)
    days: set[int] = set()
    for item in filter(None, text.split(",")):
        ends = item.split("-")
        if len(ends) > 2 or not all(len(end) == 1 and end in _ZH_DAYS for end in ends):
            raise _refuse(rule, f"{item!r} is not a day or a range of days such as 周一至周四")
        numbers = [_ZH_DAYS[end] for end in ends]
        days.update(_span(numbers[0], numbers[-1]))
    if not days:
        raise _refuse(rule, "it names no day of the week")
    return tuple(sorted(days))


def _after_join(rule: str, amount: int, unit: Literal["minutes", "hours", "days"]) -> None:
    if amount < 1 or timedelta(**{unit: amount}) > MAX_DELAY:
        raise _refuse(rule, "the delay after a join is from 1 minute to 365 days")


def parse(rule: str) -> Rule:
    """``rule`` read, or a 422 ``schedule_rule_invalid`` that lists the forms."""
    text = re.sub(r"\s+", " ", rule.translate(_FULL_WIDTH).translate(_FULL_WIDTH_DIGITS)).strip()
    text = text.lower()
    if not text:
        raise _refuse(rule, "it is empty")
    if re.search(r"[\u4e00-\u9fff]", text):
        return _parse_zh(rule, text)
    return _parse_en(rule, text)


def _parse_en(rule: str, text: str) -> Rule:
    if found := _AFTER_JOIN.match(text):
        amount, word = int(found["n"]), found["unit"]
        unit: Literal["minutes", "hours", "days"] = (
            "minutes" if word.startswith("min") else "hours" if word.startswith("h") else "days"
        )
        _after_join(rule, amount, unit)
        at = _at(rule, found["h"], found["m"])
        if at is not None and unit != "days":
            raise _refuse(rule, "a time of day goes with a delay in days ('1 day after ... 10:00')")
        return Rule("after_join", at=at, amount=amount, unit=unit)
    if found := _LAST.match(text):
        return Rule("monthly", at=_at(rule, found["h"], found["m"]), day=LAST)
    if found := _MONTHLY.match(text):
        at = _at(rule, found["h"], found["m"])
        return Rule("monthly", at=at, day=_day_of_month(rule, found["day"]))
    if found := _EVERY_DAY.match(text):
        return Rule("weekly", at=_at(rule, found["h"], found["m"]), weekdays=tuple(range(1, 8)))
    if found := _WEEKDAYS.match(text):
        days = (1, 2, 3, 4, 5) if found["which"].startswith("weekday") else (6, 7)
        return Rule("weekly", at=_at(rule, found["h"], found["m"]), weekdays=days)
    if found := _EN_WEEK.match(text):
        at = _at(rule, found["h"], found["m"])
        return Rule("weekly", at=at, weekdays=_en_days(rule, found["days"]))
    if _CRON.match(text):
        raise _refuse(rule, "write the rule in words, not as a cron expression")
    if re.search(r"\d{1,2}:\d{2}", text) is None and "after" not in text:
        raise _refuse(rule, "it has no time of day (HH:MM, e.g. 19:50)")
    raise _refuse(rule, "it is not one of the forms Tribekit reads")


def _parse_zh(rule: str, text: str) -> Rule:
    if found := _ZH_AFTER_JOIN.match(text):
        word = found["unit"]
        unit: Literal["minutes", "hours", "days"] = (
            "minutes" if word == "分钟" else "hours" if "小时" in word else "days"
        )
        amount = int(found["n"])
        _after_join(rule, amount, unit)
        at = _at(rule, found["h"], found["m"])
        if at is not None and unit != "days":
            raise _refuse(rule, "a time of day goes with a delay in days (入群1天后 10:00)")
        return Rule("after_join", at=at, amount=amount, unit=unit)
    if found := _ZH_LAST.match(text):
        return Rule("monthly", at=_at(rule, found["h"], found["m"]), day=LAST)
    if found := _ZH_MONTHLY.match(text):
        at = _at(rule, found["h"], found["m"])
        return Rule("monthly", at=at, day=_day_of_month(rule, found["day"]))
    if found := _ZH_EVERY_DAY.match(text):
        return Rule("weekly", at=_at(rule, found["h"], found["m"]), weekdays=tuple(range(1, 8)))
    if found := _ZH_WEEKDAYS.match(text):
        days = (1, 2, 3, 4, 5) if found["which"] == "工作日" else (6, 7)
        return Rule("weekly", at=_at(rule, found["h"], found["m"]), weekdays=days)
    if found := _ZH_WEEK.match(text):
        at = _at(rule, found["h"], found["m"])
        return Rule("weekly", at=at, weekdays=_zh_days(rule, found["days"]))
    if re.search(r"\d{1,2}:\d{2}", text) is None and "后" not in text:
        raise _refuse(rule, "it has no time of day (HH:MM, e.g. 19:50)")
    raise _refuse(rule, "it is not one of the forms Tribekit reads")


# -- occurrences ----------------------------------------------------------------------------------

#: How far before a window croniter starts looking, in local time: more than any DST shift, so
#: that a local time moved forward past a spring-forward gap is still found.
_LOOK_BEFORE = timedelta(hours=3)


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """A local wall-clock time (naive) placed on the UTC time line: in a spring-forward gap, with
    the offset before the gap (02:30 -> 03:30 of the new offset); in a fall-back overlap, the
    first of the two (``fold=0``)."""
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


@dataclass(frozen=True)
class Occurrence:
    local: datetime  # naive: the wall-clock time the rule names
    at: datetime  # UTC
    timezone: str

    @property
    def key(self) -> str:
        """Names the occurrence among its schedule's: ``2026-12-07T19:50@Asia/Shanghai``."""
        return f"{self.local:%Y-%m-%dT%H:%M}@{self.timezone}"


def occurrences(cron: str, timezone: str, after: datetime, until: datetime) -> Iterator[Occurrence]:
    """The occurrences of ``cron`` in ``timezone`` later than ``after`` and not later than
    ``until`` (both UTC), in time order, each once."""
    tz = ZoneInfo(timezone)
    start = after.astimezone(tz).replace(tzinfo=None) - _LOOK_BEFORE
    stop = until.astimezone(tz).replace(tzinfo=None) + _LOOK_BEFORE
    found = croniter(cron, start)
    seen: set[datetime] = set()
    while True:
        local: datetime = found.get_next(datetime)
        if local > stop:
            return
        at = to_utc(local, tz)
        if after < at <= until and at not in seen:
            seen.add(at)
            yield Occurrence(local, at, timezone)


@dataclass(frozen=True)
class JoinDelay:
    """When a post counted from a member's join is due: ``seconds`` after the join, or with a
    time of day, on the join's local day plus ``seconds // 86400`` days at ``at``."""

    seconds: int
    at: time | None = None

    @classmethod
    def of(cls, after_join_seconds: int, cron: str | None) -> JoinDelay:
        """From a schedule's columns (``cron`` a daily ``M H * * *`` or None)."""
        if cron is None:
            return cls(after_join_seconds)
        minute, hour = (int(part) for part in cron.split()[:2])
        return cls(after_join_seconds, time(hour, minute))

    @property
    def longest(self) -> timedelta:
        """The latest a due time can be after the join (with a time of day: a day more, and
        more than any DST change)."""
        delay = timedelta(seconds=self.seconds)
        return delay + timedelta(days=1) + _LOOK_BEFORE if self.at else delay

    @property
    def shortest(self) -> timedelta:
        """The earliest a due time can be after the join (with a time of day: the next
        midnight may be a moment away)."""
        delay = timedelta(seconds=self.seconds)
        if self.at is None:
            return delay
        return max(delay - timedelta(days=1) - _LOOK_BEFORE, timedelta())

    def due(self, joined_at: datetime, timezone: str) -> datetime:
        if self.at is None:
            return joined_at + timedelta(seconds=self.seconds)
        tz = ZoneInfo(timezone)
        day: date = joined_at.astimezone(tz).date() + timedelta(days=self.seconds // 86400)
        return to_utc(datetime.combine(day, self.at), tz)

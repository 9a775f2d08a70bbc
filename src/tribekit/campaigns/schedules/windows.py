"""A campaign schedule's rule: when each occurrence starts and how long it runs, read from what
staff write ("Mon-Thu 20:00 for 2 h", "Fri 20:00-23:00", "1st of the month").

The start is read by the scheduled posts' reader (``robot.schedules.rules``: the same forms, in
English and Chinese, the same cron, the same occurrences in a timezone); this module reads only
what comes after it:

* **a duration**, elapsed time from the start: ``Mon-Thu 20:00 for 2 h``, ``... for 90 min``,
  ``每周五 20:00 持续3小时``, ``周五 20:00 2小时``;
* **an end**, on the clock (an end not after the start is the next day): ``Fri 20:00-23:00``,
  ``Fri 20:00 to 23:00``, ``周五 20:00-23:00``, ``周五 20:00至23:00``;
* **all day**, when no time is given, to the next midnight: ``1st of the month``, ``Sat``,
  ``每月1日``, ``1st of the month all day``, ``每月1日 全天``.

A time without a duration or an end ("1st of the month 10:00") runs until the end of that day.

**Daylight saving time.** The start is placed as the scheduled posts place theirs (a local time
in a spring-forward gap moves forward by the gap, one in a fall-back overlap is the first of the
two: ``rules.to_utc``). A duration is elapsed time: "02:30 for 2 h" on the spring-forward night
in Europe/Berlin runs 03:30-05:30 CEST, two real hours. A range or all day ends at the end's
wall-clock time: all day on the fall-back Sunday lasts 25 hours, on the spring-forward Sunday
23. An end that DST would put at or before the start (a range inside the spring-forward gap)
is the start plus the range's length on the clock.

**Month-end.** As for the posts: "31st of the month" makes an occurrence only in months that
have a 31st (none in April, June, September, November; the 29th-31st none in a February without
them), never one moved to the 30th; "last day of the month" makes one every month, on its last
day. Said back in words, a day past the 28th names the months it skips.

Pure: no I/O, no clock.
"""

# ruff: noqa: RUF001  # Chinese rules use full-width punctuation on purpose
from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from tribekit.kit.errors import FieldProblem
from tribekit.robot.schedules import rules
from tribekit.robot.schedules.rules import Language, RuleNotUnderstood

#: The shortest and longest an occurrence runs.
SHORTEST = timedelta(minutes=1)
LONGEST = timedelta(days=31)
#: How many coming occurrences are looked at to find the shortest gap between two starts.
_GAPS_LOOKED_AT = 60

FORMS = (
    "a start as the scheduled posts write it ('Mon-Thu 20:00', 'every Friday 20:00', "
    "'1st of the month 09:00', '周一至周四 20:00') followed by how long: 'for 2 h' "
    "('for 90 min', '持续2小时'), or an end ('Fri 20:00-23:00'), or nothing for all day "
    "('1st of the month', '每月1日')"
)

_NORMAL = str.maketrans(
    {"：": ":", "－": "-", "—": "-", "–": "-", "～": "-", "~": "-", "至": "-", "到": "-"}
)
_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_EN_FOR = re.compile(
    r"^(?P<start>.+?)\s+for\s+(?P<n>\d{1,4}(?:\.\d{1,2})?)\s*"
    r"(?P<unit>h|hrs?|hours?|m|mins?|minutes?|d|days?)$"
)
_ZH_FOR = re.compile(
    r"^(?P<start>.+?)\s*[,，]?\s*(?:持续|共|为期)?\s*(?P<n>\d{1,4}(?:\.\d{1,2})?)\s*"
    r"(?P<unit>个?小时|分钟|天)$"
)
_RANGE = re.compile(r"^(?P<start>.*?\d{1,2}:\d{2})\s*-\s*(?P<h>\d{1,2}):(?P<m>\d{2})$")
_ALL_DAY = re.compile(r"^(?P<start>.+?)\s*(?:,?\s*all\s+day|全天)$")
_HAS_TIME = re.compile(r"\d{1,2}:\d{2}")
_TO = re.compile(r"(\d{1,2}:\d{2})\s+(?:to|until|till)\s+(\d{1,2}:\d{2})$")
_UNITS = {"h": "hours", "m": "minutes", "d": "days", "小": "hours", "个": "hours", "分": "minutes"}


def _refuse(rule: str, why: str) -> RuleNotUnderstood:
    message = f"{why}; write {FORMS}"
    return RuleNotUnderstood(
        f"rule {rule!r}: {message}",
        errors=[FieldProblem(("body", "rule"), message, RuleNotUnderstood.code)],
        rule=rule,
    )


@dataclass(frozen=True)
class Window:
    """A rule read: ``start`` (a post rule of days and times) and how long: ``duration``
    (elapsed), or ``until`` (a wall-clock end; the next day when not after the start), or
    ``all_day`` (to the next midnight)."""

    start: rules.Rule
    how: Literal["duration", "until", "all_day"]
    duration: timedelta  # elapsed for ``duration``; on the clock for the others
    until: time | None = None

    @property
    def cron(self) -> str:
        cron = self.start.cron
        assert cron is not None  # a campaign's start always has a time of day
        return cron

    @property
    def duration_seconds(self) -> int:
        return int(self.duration.total_seconds())

    def words(self, language: Language = "en") -> str:
        start = self.start.words(language)
        assert self.start.at is not None
        zh = language == "zh-CN"
        if self.how == "all_day":
            start = start.replace(" at 00:00", "").replace(" 00:00", "")
            return f"{start}，全天" if zh else f"{start}, all day"
        if self.how == "until":
            assert self.until is not None
            end = f"{self.until.hour:02d}:{self.until.minute:02d}"
            return f"{start}至{end}" if zh else f"{start} until {end}"
        length = _said(self.duration, language)
        return f"{start}，持续{length}" if zh else f"{start}, for {length}"

    def span(self, occurrence: rules.Occurrence) -> tuple[datetime, datetime]:
        """(start, end) in UTC of one occurrence."""
        start = occurrence.at
        if self.how == "duration":
            return start, start + self.duration
        tz = ZoneInfo(occurrence.timezone)
        end = rules.to_utc(occurrence.local + self.duration, tz)
        if end <= start:  # the clock's end fell into a spring-forward gap before the start
            end = start + self.duration
        return start, end


def _said(duration: timedelta, language: Language) -> str:
    minutes = int(duration.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    if language == "zh-CN":
        said = f"{hours}小时" if hours else ""
        return said + (f"{rest}分钟" if rest or not hours else "")
    parts = []
    if hours:
        parts.append(f"{hours} h")
    if rest or not hours:
        parts.append(f"{rest} min")
    return " ".join(parts)


def _amount(rule: str, number: str, unit: str) -> timedelta:
    name = _UNITS.get(unit[0], "days" if unit[0] in "d天" else "hours")
    value = float(number)
    duration = timedelta(**{name: value})
    if duration.total_seconds() % 60:
        raise _refuse(rule, f"{number} {unit} is not a whole number of minutes")
    return duration


def _start(rule: str, text: str, *, all_day: bool = False) -> rules.Rule:
    """The start read by the posts' reader (all day: at 00:00)."""
    try:
        found = rules.parse(f"{text} 00:00" if all_day else text)
    except RuleNotUnderstood as refused:
        # The posts' reader says why and lists its own forms; a campaign's are these.
        why = refused.detail.split(": ", 1)[-1].split("; write one of", 1)[0]
        why = why.replace(" 00:00", "") if all_day else why
        raise _refuse(rule, f"its start {text.strip()!r} is not read: {why}") from None
    if found.kind == "after_join":
        raise _refuse(rule, "a campaign runs at days and times, not counted from a member's join")
    return found


def parse(rule: str) -> Window:
    """``rule`` read, or a 422 ``schedule_rule_invalid`` that says what was understood."""
    text = re.sub(r"\s+", " ", rule.translate(_DIGITS).translate(_NORMAL)).strip()
    lowered = _TO.sub(r"\1-\2", text.lower())
    if not lowered:
        raise _refuse(rule, "it is empty")
    window: Window
    if found := (_EN_FOR.match(lowered) or _ZH_FOR.match(lowered)):
        if not _HAS_TIME.search(found["start"]):
            raise _refuse(rule, "a duration goes with a start time ('Mon-Thu 20:00 for 2 h')")
        start = _start(rule, found["start"])
        window = Window(start, "duration", _amount(rule, found["n"], found["unit"]))
    elif found := _RANGE.match(lowered):
        start = _start(rule, found["start"])
        hour, minute = int(found["h"]), int(found["m"])
        if hour > 24 or minute > 59 or (hour == 24 and minute):
            raise _refuse(rule, f"{found['h']}:{found['m']} is not a time of day")
        assert start.at is not None
        begins = start.at.hour * 60 + start.at.minute
        ends = hour * 60 + minute
        length = (ends - begins) % (24 * 60) or 24 * 60
        until = time(hour % 24, minute)
        window = Window(start, "until", timedelta(minutes=length), until)
    else:
        all_day = _ALL_DAY.match(lowered)
        bare = all_day["start"] if all_day else lowered
        if all_day or not _HAS_TIME.search(bare):
            start = _start(rule, bare, all_day=True)
            window = Window(start, "all_day", timedelta(days=1))
        else:
            start = _start(rule, bare)
            assert start.at is not None
            minutes = 24 * 60 - (start.at.hour * 60 + start.at.minute)
            window = Window(start, "until", timedelta(minutes=minutes), time(0, 0))
    _check_length(rule, window)
    return window


def _check_length(rule: str, window: Window) -> None:
    if not SHORTEST <= window.duration <= LONGEST:
        raise _refuse(
            rule,
            f"it understood {window.words()}, but an occurrence runs from 1 minute to "
            f"{LONGEST.days} days",
        )
    # Occurrences never overlap: the same campaign would run twice at once. The gap is measured
    # on the clock (UTC), where every week and month looks alike.
    starts = []
    for occurrence in rules.occurrences(
        window.cron, "UTC", datetime(2027, 1, 1, tzinfo=ZoneInfo("UTC")), _FAR
    ):
        starts.append(occurrence.at)
        if len(starts) == _GAPS_LOOKED_AT:
            break
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    if gaps and window.duration > min(gaps):
        raise _refuse(
            rule,
            f"it understood {window.words()}, but each occurrence would still run when the "
            f"next starts ({_said(min(gaps), 'en')} apart): make it shorter",
        )


_FAR = datetime(2032, 1, 1, tzinfo=ZoneInfo("UTC"))


def occurrences(
    window: Window, timezone: str, after: datetime, until: datetime
) -> Iterator[tuple[rules.Occurrence, datetime, datetime]]:
    """Each occurrence starting later than ``after`` and not later than ``until`` (UTC), with
    its start and end in UTC, in time order."""
    for occurrence in rules.occurrences(window.cron, timezone, after, until):
        starts, ends = window.span(occurrence)
        yield occurrence, starts, ends

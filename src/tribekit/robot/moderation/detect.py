"""The detectors that are patterns rather than phrases: links (and which of them invite to
another group), phone numbers and contact handles. Each works on the ``folded`` view (see
``normalize``) and yields spans of it, so that the engine can show the original text."""

from __future__ import annotations

# ruff: noqa: RUF001  # the patterns match full-width punctuation on purpose
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Final

import phonenumbers

# Top-level domains spam uses, and those any shop link uses. A bare "word.tld" without a
# scheme or "www." is a link only with one of these; for those that are also everyday words
# ("me", "to", "in", "so"…), only when a path follows, so "see you at 5.Me too" is no link.
_TLDS: Final = (
    "com|net|org|info|biz|io|ly|gl|gd|cc|co|cn|top|xyz|vip|club|shop|site|online|app|"
    "ru|gg|tk|ml|ga|cf|gq|us|uk|de|fr|jp|kr|hk|tw|sg|ph|vn|th|tv|fm|ws|bz|su|bet|cash|"
    "icu|ink|wang|xin|asia|mobi|tech|store|dev|im|pw|st|li|nu|eu|nl|ca|au|nz|br|mx|es|ch|"
    "se|dk|fi|pl|cz|tr|pk|bd|ng|za|ke|eg|ar|cl|pe|la|lc|cx|sh|ac|kz|ua|by|ro|hu|gr|pt|ie|"
    "win|vin|loan|click|buzz|rest|fit|live|link|page|work|fun|run|red|pro|one|ai|me|to|so|"
    "in|my|id|be|it|at|am|is|no|gy|gs|ms|ly"
)
_WORDY_TLDS: Final = frozenset(
    {"me", "to", "so", "in", "my", "it", "be", "at", "am", "is", "no", "one", "fun", "run", "red",
     "work", "page", "live", "link", "pro", "id", "ai", "la", "fit", "rest"}
)  # fmt: skip
#: The top-level domains that are no everyday word: one of them as a word of the compact view
#: ("shop com", "bit ly") is a reason to look for links.
LINK_WORDS: Final = frozenset(_TLDS.split("|")) - _WORDY_TLDS | {"http", "https", "www"}
# A dot, or a way of writing one that dodges a naive filter: "。", "[.]", "(dot)", " dot ".
_DOT: Final = r"(?:\s?[.。]\s?|\[\.\]|\(\.\)|\[dot\]|\(dot\)|\s(?:dot|点)\s|点)"
_LABEL: Final = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PATH: Final = r"(?:\s?/[^\s<>\"'，。！？、）]*)?"
URL: Final = re.compile(
    r"(?<![\w@.\-])"
    r"(?:"
    rf"(?P<scheme>https?://|www{_DOT})(?P<host1>[^\s/?#<>\"'，。,;!()\[\]]+)"
    rf"|(?P<host2>(?:{_LABEL}{_DOT})+(?P<tld>{_TLDS}))(?![a-z0-9@-])"
    r")"
    rf"(?P<path>{_PATH})"
)
_DOT_NORMALISE: Final = re.compile(r"\s?(?:[.。]|\[\.\]|\(\.\)|\[dot\]|\(dot\)|dot|点)\s?")


@dataclass(frozen=True, slots=True)
class Link:
    host: str  # lower case, dots written as dots, no port
    path: str  # from the first "/" on, "" when none
    start: int
    end: int


def may_have_links(folded: str) -> bool:
    """False when no link can be in the text: none has no dot (nor a way of writing one)."""
    return "." in folded or "。" in folded or "点" in folded or "dot" in folded


def find_links(folded: str) -> Iterator[Link]:
    for match in URL.finditer(folded):
        host = match["host1"] or match["host2"] or ""
        path = match["path"].replace(" ", "").rstrip(".,;:!?)]}'\"")
        if match["tld"] in _WORDY_TLDS and not path.strip("/"):
            continue
        if not host.isascii() or " " in host or "[" in host or "(" in host or "dot" in host:
            host = _DOT_NORMALISE.sub(".", host)
        host = host.split(":")[0].split("@")[-1].strip(".")
        if match["scheme"] and match["scheme"].startswith("www"):
            host = "www." + host
        yield Link(host, path, match.start(), match.end())


def parse_link(url: str) -> Link:
    """A link the channel extracted (an entity, a button), as ``find_links`` would see it."""
    text = url.strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    host, _, rest = text.partition("/")
    host = host.split("@")[-1].split(":")[0].split("?")[0].split("#")[0]
    return Link(host.strip("."), "/" + rest if rest else "", 0, 0)


# Links that join another group or channel, as (host, path prefix). Any path on these hosts
# is an invitation (a t.me link names a group, a channel or a person to message).
_INVITE_HOSTS: Final = frozenset(
    {"t.me", "telegram.me", "telegram.dog", "chat.whatsapp.com", "discord.gg", "qm.qq.com",
     "jq.qq.com", "signal.group", "chat.line.me", "join.skype.com", "wa.me", "u.wechat.com"}
)  # fmt: skip
_INVITE_PREFIXES: Final = (
    ("matrix.to", "/"),
    ("weixin.qq.com", "/g/"),
    ("discord.com", "/invite"),
    ("discordapp.com", "/invite"),
    ("line.me", "/r/ti/g"),
    ("whatsapp.com", "/channel"),
    ("open.weixin.qq.com", "/qr/"),
)


def is_invite(link: Link) -> bool:
    host = link.host.removeprefix("www.")
    if host in _INVITE_HOSTS:
        return bool(link.path.strip("/")) or host in {"wa.me", "t.me"}
    return any(host == h and link.path.startswith(p) for h, p in _INVITE_PREFIXES)


def host_allowed(link: Link, allowed: tuple[tuple[str, str], ...]) -> bool:
    """``allowed`` holds (domain, path prefix) pairs: a domain covers its subdomains."""
    host = link.host.removeprefix("www.")
    for domain, prefix in allowed:
        if (host == domain or host.endswith("." + domain)) and link.path.startswith(prefix):
            return True
    return False


# Phone numbers are looked for in the compact view (see ``normalize``): only letters, digits
# and single spaces are left there, and digits spelled one at a time ("1 3 8 …", "1-3-8…",
# "①③⑧…") are solid again. Each pattern starts with a digit, not a look-behind, so the regex
# engine jumps from digit to digit; the look-behind after it says the number does not continue
# a word or a longer number ("sf1423577890321" is a parcel, not a phone).
#
# Mainland China mobile numbers: 1[3-9] and nine more digits, solid or in 3-4-4 groups (a
# space may also remain after a first "1" glued to a word: "电话1 3812345678").
_CN_MOBILE: Final = re.compile(r"1(?<![a-z0-9]1) ?[3-9]\d ?\d{4} ?\d{4}(?!\d)")
# Numbers of other kinds written nationally: nine digits or more, or in groups such as
# "021 6234 5678", "400 888 8888", "415 867 5309" (eight solid digits are more often a
# member or parcel number than a phone). Only these go to libphonenumber, which is slow.
_NATIONAL_CANDIDATE: Final = re.compile(
    r"\d(?<![a-z0-9]\d)(?:\d{8,}|\d{1,3} \d{3,4} \d{4}|\d{2,3} \d{7,8})(?!\d)"
)
# Numbers written with a country code, in the folded view (the compact view has no "+").
_INTERNATIONAL_CANDIDATE: Final = re.compile(r"\+\s?\d[\d\s().-]{6,18}\d")


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int


def find_cn_mobiles(compact: str) -> Iterator[Span]:
    for match in _CN_MOBILE.finditer(compact):
        yield Span(match.start(), match.end())


def find_phones(folded: str, compact: str, region: str) -> Iterator[tuple[str, Span]]:
    """Phone numbers, each with the view its span is in ("folded" or "compact")."""
    for span in find_cn_mobiles(compact):
        yield "compact", span
    if "+" in folded:
        for candidate in _INTERNATIONAL_CANDIDATE.finditer(folded):
            start = candidate.start()
            if start and (folded[start - 1].isalnum() or folded[start - 1] in ".:/"):
                continue
            number = _valid_number(candidate, region)
            if number is not None:
                yield "folded", number
    for candidate in _NATIONAL_CANDIDATE.finditer(compact):
        number = _valid_number(candidate, region)
        if number is not None:
            yield "compact", number


def first_phone(folded: str, compact: str, region: str) -> tuple[str, Span] | None:
    """The first of ``find_phones``, without a generator when there is none (most texts)."""
    mobile = _CN_MOBILE.search(compact)
    if mobile is not None:
        return "compact", Span(mobile.start(), mobile.end())
    if "+" not in folded and _NATIONAL_CANDIDATE.search(compact) is None:
        return None
    return next(find_phones(folded, compact, region), None)


_DIGIT_GROUP: Final = re.compile(r"\d+")


def _valid_number(candidate: re.Match[str], region: str) -> Span | None:
    # The longest run of the candidate's digit groups that is a valid number: "+234 803 123
    # 4567 24/7" is "+234 803 123 4567" (libphonenumber's own matcher gives up on such text).
    text = candidate.group()
    plus = text.startswith("+")
    groups = list(_DIGIT_GROUP.finditer(text))
    for count in range(len(groups), 0, -1):
        digits = "".join(group.group() for group in groups[:count])
        if _plausible(digits, plus, region) and _valid(digits, plus, region):
            return Span(candidate.start(), candidate.start() + groups[count - 1].end())
    return None


def _plausible(digits: str, plus: bool, region: str) -> bool:
    """What the numbering plan's metadata allows (a length and a pattern): a cheap test that
    rules out most digit runs before libphonenumber parses them."""
    if plus:
        for size in (1, 2, 3):
            regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:size]))
            if regions:
                return _fits(digits[size:], regions[0])
        return False
    return _fits(digits, region)


def _fits(national: str, region: str) -> bool:
    lengths, pattern, prefix = _plan(region)
    if prefix and national.startswith(prefix) and len(national) - len(prefix) in lengths:
        national = national[len(prefix) :]
    return len(national) in lengths and (pattern is None or pattern.fullmatch(national) is not None)


@cache
def _plan(region: str) -> tuple[frozenset[int], re.Pattern[str] | None, str]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None:
        return frozenset(range(4, 18)), None, ""
    desc = metadata.general_desc
    pattern = re.compile(desc.national_number_pattern) if desc.national_number_pattern else None
    return frozenset(desc.possible_length or range(4, 18)), pattern, metadata.national_prefix or ""


@lru_cache(maxsize=4096)
def _valid(digits: str, plus: bool, region: str) -> bool:
    # libphonenumber's full check, slow (about 0.1 ms): cached, as spam repeats its numbers.
    try:
        number = phonenumbers.parse(("+" if plus else "") + digits, region)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number))


# Contact handles, in three shapes:
# * a messenger named, then an id: "vx: lily_88", "微信号 abc12345", "QQ 12345678", "tg @x";
# * "add" / "加" and a messenger letter: "加V abc12345", "+vx lily888", "加扣 12345678";
# * "DM" / "私聊" and an @handle.
_MESSENGER: Final = (
    r"(?:vx|wx|v信|v芯|微信号?|威信|薇信|徽信|维信|卫星|wechat(?:\s?id)?|weixin|wei xin|"
    r"qq群|qq号?|扣扣|企鹅|q群|telegram|tg|飞机|纸飞机|whatsapp|line\s?id|skype|kakao(?:talk)?|"
    r"signal|threema)"
)
_HANDLE_ID: Final = r"(?P<id>@?[a-z0-9][a-z0-9_.\-]{3,29})"
_CONTACT: Final = re.compile(
    rf"(?<![a-z0-9]){_MESSENGER}(?P<colon>\s?[:：=]|\s?是|\s?号)?[\s\-]{{0,2}}{_HANDLE_ID}"
    r"|(?:加(?:我|个)?|➕|\+|add\s?|添加)\s?(?P<short>v|vx|wx|微|薇|威|q|扣|qq|tg|line)\s?[:：]?\s?"
    r"(?P<id2>[a-z0-9][a-z0-9_.\-]{4,29})"
    r"|(?<![a-z])(?:dm|pm|inbox|私聊|私信|私我|联系)\s?(?:me\s?)?(?:on\s)?(?:telegram\s|tg\s)?"
    r"[:：]?\s?(?P<at>@[a-z0-9_]{4,32})"
)


def find_contact_handles(folded: str) -> Iterator[Span]:
    for match in _CONTACT.finditer(folded):
        handle = match["id"]
        # "wechat group tonight" names the messenger but no id: an id has a digit or "_",
        # starts with "@", or is written after a colon.
        if handle is not None and not (
            match["colon"] or handle[0] == "@" or any(c.isdigit() or c == "_" for c in handle)
        ):
            continue
        yield Span(match.start(), match.end())

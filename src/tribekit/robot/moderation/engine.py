"""The moderation engine: a compiled policy that judges one message at a time.

``compile(policy)`` builds everything a policy needs once (the blocklist's Aho-Corasick
automaton, the allowed domains) and caches it by the policy's version; ``Engine.check`` is
pure: it reads the message and what the caller knows of the author's recent activity
(``Recent``) and returns a ``Verdict`` or ``None``. The engine keeps no state between calls:
the pipeline stores each message's time and ``fingerprint`` and hands them back.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, Final

import ahocorasick  # type: ignore[import-not-found]  # pyahocorasick: a C extension, no hints

from .detect import (
    LINK_WORDS,
    Link,
    Span,
    find_contact_handles,
    find_links,
    first_phone,
    host_allowed,
    is_invite,
    may_have_links,
    parse_link,
)
from .fingerprint import Fingerprint, fingerprint_compact, similarity
from .normalize import Normalized, is_cjk, normalize
from .policy import SEVERITY, Action, MediaKind, Policy, RuleAction


class Rule(StrEnum):
    """Stable rule ids: the moderation log stores them, the warning texts are keyed by them."""

    invite_link = "invite_link"
    blocklist = "blocklist"
    contact_handle = "contact_handle"
    phone = "phone"
    links = "links"
    duplicate = "duplicate"
    flood = "flood"
    channel_forward = "channel_forward"
    probation = "probation"


_ORDER: Final = {rule: i for i, rule in enumerate(Rule)}  # ties between equally severe hits


@dataclass(frozen=True, slots=True)
class Message:
    """One inbound message as the channel adapter and the pipeline know it."""

    text: str
    group_id: str
    at: datetime
    urls: tuple[str, ...] = ()  # links the channel extracted (entities, hidden links, buttons)
    mentions: tuple[str, ...] = ()
    forwarded_from_channel: bool = False
    media: MediaKind | None = None
    author_exempt: bool = False
    member_for: timedelta | None = None  # how long the author has been a member; None: unknown
    messages_before: int | None = None  # the author's earlier messages here; None: unknown


@dataclass(frozen=True, slots=True)
class RecentPost:
    group_id: str
    at: datetime
    fingerprint: Fingerprint


@dataclass(frozen=True, slots=True)
class Recent:
    """What the caller knows of the author's recent activity: the times of their latest
    messages in this group (for flood), and their latest messages in any of the merchant's
    groups with their fingerprints (for duplicates). Anything older than the rules' windows
    may be left out."""

    message_times: tuple[datetime, ...] = ()
    posts: tuple[RecentPost, ...] = ()


NOTHING_RECENT: Final = Recent()


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: Rule
    action: Action
    mute_for: timedelta | None
    delete_message: bool
    strike: bool
    excerpt: str  # the offending part of the original text, at most 80 characters
    explanation: str  # the key of the localized warning text
    detail: str = ""  # what matched: the blocklist phrase, the link's host… (to allow-list it)


def _outcome(rule: Rule, on_hit: RuleAction) -> Callable[[str, str], Verdict]:
    """The verdict of ``rule`` for an excerpt and a detail, the rest worked out once."""
    mute = timedelta(minutes=on_hit.mute_minutes) if on_hit.mute_minutes else None
    mute = mute if on_hit.action is Action.mute else None
    action, delete, strike = on_hit.action, on_hit.delete_message, on_hit.strike
    key = f"moderation.rule.{rule.value}"

    def verdict(excerpt: str, detail: str) -> Verdict:
        return Verdict(rule, action, mute, delete, strike, excerpt, key, detail)

    return verdict


@cache
def default_phrases() -> tuple[str, ...]:
    """The shipped blocklists (``blocklists/default_en.txt`` and ``default_zh.txt``): one
    phrase a line, ``#`` starts a comment."""
    phrases: list[str] = []
    folder = resources.files(__package__).joinpath("blocklists")
    for name in ("default_en.txt", "default_zh.txt"):
        for line in folder.joinpath(name).read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                phrases.append(line)
    return tuple(phrases)


def _is_latin_word_char(char: str) -> bool:
    return char.isalnum() and char < "\u2e80"


# Keys added to the blocklist's automaton that only say "a contact-handle pattern may be
# here": the handle regexes run only on messages that have one (most messages have none).
# A Latin trigger must start a word ("vx" in "vxlily88" or "加vx", not "pm" in "shipment").
# The "DM @someone" shape needs an "@" and "+v" a "+": the engine looks for those itself.
_HANDLE_TRIGGERS: Final = (
    "vx", "wx", "v信", "v芯", "微信", "威信", "薇信", "徽信", "维信", "卫星", "wechat", "weixin",
    "wei xin", "qq", "扣扣", "企鹅", "q群", "telegram", "tg", "飞机", "whatsapp", "line", "skype",
    "kakao", "signal", "threema", "加v", "加q", "加微", "加薇", "加威", "加扣", "加我", "加个",
    "add v", "add q", "添加",
)  # fmt: skip
_TRIGGER_SET: Final = frozenset(_HANDLE_TRIGGERS)
_BLOCKED, _ALLOWED, _HANDLE, _LINK = 0, 1, 2, 3
_TEXT_RULES: Final = frozenset({Rule.blocklist, Rule.contact_handle, Rule.phone, Rule.duplicate})
_LINK_RULES: Final = frozenset({Rule.invite_link, Rule.links})
# The rules ``_Context.clean`` answers for.
_CLEAN_COVERS: Final = frozenset(
    {Rule.invite_link, Rule.links, Rule.blocklist, Rule.contact_handle, Rule.phone}
)


@dataclass(frozen=True, slots=True)
class _Entry:
    phrase: str
    kind: int  # _BLOCKED, _ALLOWED, or a trigger: _HANDLE, _LINK
    length: int
    left_boundary: bool  # a Latin phrase matches whole words only
    right_boundary: bool


# pyahocorasick looks a character up among a node's children one by one, and with thousands
# of Chinese phrases the root has about as many children: each Chinese character of a text
# would cost a walk through them. So the automaton reads Chinese and Japanese characters as a
# marker and three symbols out of 64 (private-use characters, which the compact view never
# holds): no node has more than 64 children, and a key always starts at a character.
_MARK: Final = "\ue040"
_SYMBOLS: Final = "".join(chr(0xE000 + i) for i in range(64))


class _CodeTable(dict[int, str]):
    def __missing__(self, code: int) -> str:
        char = chr(code)
        if is_cjk(char):
            out = _MARK + _SYMBOLS[code >> 12 & 63] + _SYMBOLS[code >> 6 & 63] + _SYMBOLS[code & 63]
        else:
            out = char
        self[code] = out
        return out


_CODES: Final = _CodeTable()


def _encode(compact: str) -> str:
    return compact.translate(_CODES) if compact and max(compact) >= "\u3040" else compact


def _automaton(blocked: Iterable[str], allowed: Iterable[str]) -> Any:
    entries: dict[str, _Entry] = {}
    sources = (
        (_LINK, [f" {word} " for word in sorted(LINK_WORDS)]),
        (_HANDLE, _HANDLE_TRIGGERS),
        (_BLOCKED, blocked),
        (_ALLOWED, allowed),
    )
    for kind, phrases in sources:
        for phrase in phrases:
            key = f" {normalize(phrase)} " if kind == _LINK else normalize(phrase)
            if not key.strip():
                continue
            code = _encode(key)
            if kind in (_BLOCKED, _ALLOWED) and " " in key and key.isascii():
                # "c.r.y.p.t.o s.i.g.n.a.l.s" is one word once its letters are joined: a
                # phrase of several Latin words also matches written as one.
                joined = key.replace(" ", "")
                entries[joined] = _Entry(phrase, kind, len(joined), True, True)
            if kind == _LINK:  # padded with spaces: a whole word, no check needed
                entry = _Entry(phrase, kind, len(code), False, False)
            elif kind == _HANDLE:
                entry = _Entry(phrase, kind, len(code), _is_latin_word_char(key[0]), False)
            else:
                first, last = _is_latin_word_char(key[0]), _is_latin_word_char(key[-1])
                entry = _Entry(phrase, kind, len(code), first, last)
            # A phrase added later replaces an equal key: blocked replaces a trigger (and
            # still triggers), allowed replaces blocked (staff marked it fine). A link word is
            # a whole word; a handle trigger only starts one ("vxlily88").
            entries[code] = entry
    # Added in order: the trie's nodes then hold their children sorted, which pyahocorasick
    # walks faster (a third faster on Chinese text).
    automaton = ahocorasick.Automaton()
    for code in sorted(entries):
        automaton.add_word(code, entries[code])
    automaton.make_automaton()
    return automaton


@dataclass(frozen=True, slots=True)
class _Scan:
    hit: tuple[int, int, _Entry] | None  # the first blocklisted phrase not in an allowed one
    handle_word: bool  # a word that may start a contact handle ("vx", "微信", "qq"…)
    link_word: bool  # a word that may end a link ("com", "ly", "https"…)


_NO_SCAN: Final = _Scan(None, False, False)
_NO_HIT: Final = {(h, k): _Scan(None, h, k) for h in (False, True) for k in (False, True)}
# "点" (dot) written for "." before a top-level domain: "shop点com". Alone it is an everyday
# character ("几点", "点赞").
_DIAN_TLD: Final = re.compile(r"点\s?[a-z]{2}")


class _Context:
    """One message being checked, with what several rules need, computed once."""

    __slots__ = ("links", "message", "phone", "recent", "scan", "text")

    def __init__(self, engine: Engine, message: Message, recent: Recent) -> None:
        self.message = message
        self.recent = recent
        text = self.text = Normalized(message.text)
        scan = self.scan = engine._scan(text.compact) if message.text else _NO_SCAN
        links: list[Link] = []
        if engine._wants_links:
            folded = text.folded
            # The link regex runs only where a link can be: a link word ("com", "ly",
            # "https"…), or a "/" ("t.me/…": "me" is no link word) or "点" ("shop点com").
            maybe = scan.link_word or "/" in folded
            if not maybe and "点" in folded:
                maybe = _DIAN_TLD.search(folded) is not None
            if maybe and may_have_links(folded):
                links.extend(find_links(folded))
            if message.urls:
                links.extend(parse_link(url) for url in message.urls)
        self.links = links
        self.phone: tuple[str, Span] | None = None

    def clean(self, engine: Engine) -> bool:
        """Whether no rule that reads the text can hit: true for most messages, which are then
        let through without trying each rule. A cautious test: when it says no, the rules
        decide."""
        if self.links or self.scan.hit is not None:
            return False
        folded = self.text.folded
        if engine._contact_on and (
            self.scan.handle_word or "@" in folded or "+" in folded or "\u2795" in folded
        ):
            return False
        if engine._phones_on and self.message.text:
            self.phone = first_phone(folded, self.text.compact, engine._region)
            if self.phone is not None:
                return False
        return True


class Engine:
    """A compiled policy. Build it with ``compile``."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        p = policy
        self._allowed = tuple(
            (domain, "/" + path if path else "")
            for domain, _, path in (d.partition("/") for d in p.links.allowed_domains)
        )
        enabled = p.blocklist.enabled
        blocked = [*(default_phrases() if p.blocklist.use_defaults else ()), *p.blocklist.phrases]
        self._automaton = _automaton(
            blocked if enabled else (), p.blocklist.allowed_phrases if enabled else ()
        )
        self._flood_window = timedelta(seconds=p.flood.per_seconds)
        self._duplicate_window = timedelta(minutes=p.duplicates.within_minutes)
        self._probation_age = timedelta(hours=p.probation.hours)
        self._probation_media = frozenset(p.probation.block_media)
        self._region = p.phones.region
        self._wants_links = p.links.enabled or p.invite_links.enabled or p.probation.enabled
        self._probation_on = p.probation.enabled
        self._probation_hours = p.probation.hours
        self._probation_messages = p.probation.messages
        self._flood_max = p.flood.max_messages
        self._duplicate_others = p.duplicates.min_groups - 1
        # The rules in the order they are tried: the most severe action first, ties in the
        # order of ``Rule``. The first hit is then the verdict, and a message that breaks
        # several rules is judged by the worst without trying the others.
        rules: list[tuple[Rule, RuleAction, Callable[[_Context], Verdict | None]]] = [
            (Rule.invite_link, p.invite_links.on_hit, self._invite),
            (Rule.blocklist, p.blocklist.on_hit, self._blocklist),
            (Rule.contact_handle, p.contact_handles.on_hit, self._contact_handle),
            (Rule.phone, p.phones.on_hit, self._phone),
            (Rule.links, p.links.on_hit, self._plain_link),
            (Rule.duplicate, p.duplicates.on_hit, self._duplicate),
            (Rule.flood, p.flood.on_hit, self._flood),
            (Rule.channel_forward, p.channel_forwards.on_hit, self._channel_forward),
            (Rule.probation, p.probation.on_hit, self._probation),
        ]
        switches = {
            Rule.invite_link: p.invite_links.enabled,
            Rule.blocklist: p.blocklist.enabled,
            Rule.contact_handle: p.contact_handles.enabled,
            Rule.phone: p.phones.enabled,
            Rule.links: p.links.enabled,
            Rule.duplicate: p.duplicates.enabled,
            Rule.flood: p.flood.enabled,
            Rule.channel_forward: p.channel_forwards.enabled,
            Rule.probation: p.probation.enabled,
        }
        self._out = {rule: _outcome(rule, on_hit) for rule, on_hit, _ in rules}
        rules = [rule for rule in rules if switches[rule[0]]]
        rules.sort(key=lambda r: (-SEVERITY[r[1].action], _ORDER[r[0]]))
        ordered = [(rule, check) for rule, _, check in rules]
        # For each combination of what the message's metadata rules out (see
        # ``_not_applicable``), the checks left, in order: no per-rule test when checking.
        self._plans = {
            flags: tuple(check for rule, check in ordered if rule not in skip)
            for flags, skip in _SKIP.items()
        }
        # Whether the plan holds only rules that read the text (then ``_Context.clean`` may
        # let the message through at once).
        self._text_only = {
            flags: all(rule in _CLEAN_COVERS for rule, _ in ordered if rule not in skip)
            for flags, skip in _SKIP.items()
        }
        self._contact_on = p.contact_handles.enabled
        self._phones_on = p.phones.enabled

    # -- what several rules share ------------------------------------------------------------

    def _scan(self, compact: str) -> _Scan:
        # The compact view between two spaces, so that a link word's key (" com ") matches
        # at either end too, and Chinese characters encoded (see ``_MARK``).
        c = _encode(f" {compact} ")
        handle_word = link_word = False
        hits: list[tuple[int, int, _Entry]] = []
        allowed: list[tuple[int, int]] = []
        for end, entry in self._automaton.iter(c):
            kind = entry.kind
            if kind == _LINK:
                link_word = True
                continue
            start = end - entry.length + 1
            if entry.left_boundary:
                before = c[start - 1]  # a Latin letter or digit: not a word's start
                if before.isalnum() and before < "\u2e80":
                    continue
            if kind == _HANDLE:
                handle_word = True
                continue
            if entry.right_boundary:
                after = c[end + 1]
                if after.isalnum() and after < "\u2e80":
                    continue
            if kind == _ALLOWED:
                allowed.append((start, end))
            else:
                handle_word = handle_word or entry.phrase in _TRIGGER_SET
                hits.append((start, end, entry))
        for start, end, entry in hits:
            if not allowed or not any(a <= start and end <= b for a, b in allowed):
                # Back to the compact view: one character for each marker and its three
                # symbols, one for the leading space.
                first = start - 3 * c.count(_MARK, 0, start) - 1
                last = end + 1 - 3 * c.count(_MARK, 0, end + 1) - 2
                return _Scan((first, last, entry), handle_word, link_word)
        return _NO_HIT[handle_word, link_word]

    # -- the rules ---------------------------------------------------------------------------

    def _invite(self, ctx: _Context) -> Verdict | None:
        for link in ctx.links:
            if is_invite(link) and not host_allowed(link, self._allowed):
                return self._out[Rule.invite_link](_link_excerpt(ctx, link), link.host + link.path)
        return None

    def _plain_link(self, ctx: _Context) -> Verdict | None:
        block_all = self.policy.links.mode == "block_all"
        invites_apart = self.policy.invite_links.enabled
        for link in ctx.links:
            if invites_apart and is_invite(link) and not host_allowed(link, self._allowed):
                continue  # the invite rule's, tried at its own rank
            if block_all or not host_allowed(link, self._allowed):
                return self._out[Rule.links](_link_excerpt(ctx, link), link.host)
        return None

    def _blocklist(self, ctx: _Context) -> Verdict | None:
        hit = ctx.scan.hit
        if hit is None:
            return None
        start, end, entry = hit
        excerpt = ctx.text.excerpt(start, end + 1)
        return self._out[Rule.blocklist](excerpt, entry.phrase)

    def _contact_handle(self, ctx: _Context) -> Verdict | None:
        text = ctx.text
        folded = text.folded
        if not (ctx.scan.handle_word or "@" in folded or "+" in folded or "\u2795" in folded):
            return None
        # The folded view keeps the colons and "+" of "vx: …" and "+v …"; the compact view
        # undoes letter-by-letter spelling and emoji between the messenger and the id.
        for view in ("folded", "compact"):
            span = next(find_contact_handles(getattr(text, view)), None)
            if span is not None:
                excerpt = text.excerpt(span.start, span.end, view=view)
                return self._out[Rule.contact_handle](excerpt, "")
        return None

    def _phone(self, ctx: _Context) -> Verdict | None:
        text = ctx.text
        found = ctx.phone or first_phone(text.folded, text.compact, self._region)
        if found is None:
            return None
        view, span = found
        excerpt = text.excerpt(span.start, span.end, view=view)
        return self._out[Rule.phone](excerpt, "")

    def _channel_forward(self, ctx: _Context) -> Verdict | None:
        return self._out[Rule.channel_forward](ctx.message.text.strip()[:80], "")

    def _probation(self, ctx: _Context) -> Verdict | None:
        rule, message = self.policy.probation, ctx.message
        reason = ""
        if message.media is not None and message.media in self._probation_media:
            reason = message.media
        elif rule.block_mentions and message.mentions:
            reason = "mention"
        elif rule.block_links and any(not host_allowed(k, self._allowed) for k in ctx.links):
            reason = "link"
        if not reason:
            return None
        return self._out[Rule.probation](message.text.strip()[:80], reason)

    def _flood(self, ctx: _Context) -> Verdict | None:
        rule, message, times = self.policy.flood, ctx.message, ctx.recent.message_times
        since = message.at - self._flood_window
        count = 1 + sum(1 for at in times if since < at <= message.at)
        if count <= rule.max_messages:
            return None
        return self._out[Rule.flood](message.text.strip()[:80], str(count))

    def _duplicate(self, ctx: _Context) -> Verdict | None:
        rule, message, posts = self.policy.duplicates, ctx.message, ctx.recent.posts
        since = message.at - self._duplicate_window
        others = [
            post
            for post in posts
            if post.group_id != message.group_id and since <= post.at <= message.at
        ]
        if len({post.group_id for post in others}) < rule.min_groups - 1:
            return None  # not enough other groups for the rule to fire, whatever the texts
        compact_text = ctx.text.compact
        if len(compact_text) - compact_text.count(" ") < rule.min_length:
            return None
        mine = fingerprint_compact(compact_text)
        mine_set = set(mine)
        groups = {
            p.group_id
            for p in others
            # most texts share no hash at all: no sort for them
            if not mine_set.isdisjoint(p.fingerprint)
            and similarity(mine, p.fingerprint) >= rule.similarity
        }
        if len(groups) + 1 < rule.min_groups:
            return None
        excerpt = message.text.strip()[:80]
        return self._out[Rule.duplicate](excerpt, str(len(groups) + 1))

    # -- the entry point ---------------------------------------------------------------------

    def check(self, message: Message, recent: Recent = NOTHING_RECENT) -> Verdict | None:
        """The most severe rule the message breaks (ties: the order of ``Rule``), or ``None``."""
        if message.author_exempt:
            return None
        ctx = _Context(self, message, recent)
        flags = self._flags(message, recent)
        if self._text_only[flags] and ctx.clean(self):
            return None
        for check in self._plans[flags]:
            verdict = check(ctx)
            if verdict is not None:
                return verdict
        return None

    def _flags(self, message: Message, recent: Recent) -> tuple[bool, ...]:
        # What the message's metadata rules out, found with a few comparisons instead of a
        # call to each rule (see ``_skip_set``).
        on_probation = False
        if self._probation_on:
            age, count = message.member_for, message.messages_before
            on_probation = bool(
                (self._probation_hours and age is not None and age < self._probation_age)
                or (
                    self._probation_messages
                    and count is not None
                    and count < self._probation_messages
                )
            )
        return (
            len(recent.message_times) < self._flood_max,
            len(recent.posts) < self._duplicate_others,
            not message.forwarded_from_channel,
            not on_probation,
            not message.text,
            not message.urls,
        )


def _skip_set(flags: tuple[bool, ...]) -> frozenset[Rule]:
    no_flood, no_duplicate, no_forward, no_probation, no_text, no_urls = flags
    skip: set[Rule] = set()
    if no_flood:
        skip.add(Rule.flood)
    if no_duplicate:
        skip.add(Rule.duplicate)
    if no_forward:
        skip.add(Rule.channel_forward)
    if no_probation:
        skip.add(Rule.probation)
    if no_text:
        skip.update(_TEXT_RULES)
        if no_urls:
            skip.update(_LINK_RULES)
    return frozenset(skip)


_SKIP: Final = {flags: _skip_set(flags) for flags in itertools.product((False, True), repeat=6)}


def _link_excerpt(ctx: _Context, link: Link) -> str:
    if link.end:
        return ctx.text.excerpt(link.start, link.end, view="folded")
    return (link.host + link.path)[:80]  # a link of the channel's entities, not in the text


_CACHE: OrderedDict[Hashable, Engine] = OrderedDict()
_CACHE_SIZE: Final = 256
_LOCK = threading.Lock()


def compile(policy: Policy, version: Hashable | None = None) -> Engine:
    """The engine for ``policy``, built once per version: ``version`` names it (e.g. the
    merchant's policy version and the community override's); without one, the policy's
    content is hashed."""
    key = (
        version
        if version is not None
        else hashlib.sha256(policy.model_dump_json().encode()).hexdigest()
    )
    with _LOCK:
        engine = _CACHE.get(key)
        if engine is not None:
            _CACHE.move_to_end(key)
            return engine
    engine = Engine(policy)
    with _LOCK:
        _CACHE[key] = engine
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return engine

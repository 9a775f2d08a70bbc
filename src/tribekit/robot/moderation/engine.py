"""The moderation engine: a compiled policy that judges one message at a time.

``compile(policy)`` builds everything a policy needs once (the blocklist's Aho-Corasick
automaton, the allowed domains) and caches it by the policy's version; ``Engine.check`` is
pure: it reads the message and what the caller knows of the author's recent activity
(``Recent``) and returns a ``Verdict`` or ``None``. The engine keeps no state between calls:
the pipeline stores each message's time and ``fingerprint`` and hands them back.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, Final

import ahocorasick  # type: ignore[import-not-found]  # pyahocorasick: a C extension, no hints

from .detect import (
    Link,
    find_cn_mobiles,
    find_contact_handles,
    find_links,
    find_phones,
    host_allowed,
    is_invite,
    parse_link,
)
from .fingerprint import Fingerprint, fingerprint_compact, similarity
from .normalize import Normalized, normalize
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


def _verdict(rule: Rule, on_hit: RuleAction, excerpt: str, detail: str = "") -> Verdict:
    mute = timedelta(minutes=on_hit.mute_minutes) if on_hit.mute_minutes else None
    return Verdict(
        rule=rule,
        action=on_hit.action,
        mute_for=mute if on_hit.action is Action.mute else None,
        delete_message=on_hit.delete_message,
        strike=on_hit.strike,
        excerpt=excerpt,
        explanation=f"moderation.rule.{rule.value}",
        detail=detail,
    )


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


@dataclass(frozen=True, slots=True)
class _Entry:
    phrase: str
    allowed: bool
    length: int
    left_boundary: bool  # a Latin phrase matches whole words only
    right_boundary: bool


def _automaton(blocked: Iterable[str], allowed: Iterable[str]) -> Any:
    automaton = ahocorasick.Automaton()
    count = 0
    for is_allowed, phrases in ((False, blocked), (True, allowed)):
        for phrase in phrases:
            key = normalize(phrase)
            if not key:
                continue
            entry = _Entry(
                phrase, is_allowed, len(key), _is_latin_word_char(key[0]),
                _is_latin_word_char(key[-1]),
            )  # fmt: skip
            automaton.add_word(key, entry)  # an allowed phrase replaces the same blocked one
            count += 1
    if not count:
        return None
    automaton.make_automaton()
    return automaton


class Engine:
    """A compiled policy. Build it with ``compile``."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        p = policy
        self._allowed = tuple(
            (domain, "/" + path if path else "")
            for domain, _, path in (d.partition("/") for d in p.links.allowed_domains)
        )
        blocked = [*(default_phrases() if p.blocklist.use_defaults else ()), *p.blocklist.phrases]
        self._automaton = (
            _automaton(blocked, p.blocklist.allowed_phrases) if p.blocklist.enabled else None
        )
        self._flood_window = timedelta(seconds=p.flood.per_seconds)
        self._duplicate_window = timedelta(minutes=p.duplicates.within_minutes)
        self._probation_age = timedelta(hours=p.probation.hours)
        self._probation_media = frozenset(p.probation.block_media)

    # -- the rules ---------------------------------------------------------------------------

    def _blocklist(self, text: Normalized) -> Verdict | None:
        if self._automaton is None:
            return None
        c = text.compact
        size = len(c)
        hits: list[tuple[int, int, _Entry]] = []
        allowed: list[tuple[int, int]] = []
        for end, entry in self._automaton.iter(c):
            start = end - entry.length + 1
            if entry.left_boundary and start > 0 and _is_latin_word_char(c[start - 1]):
                continue
            if entry.right_boundary and end + 1 < size and _is_latin_word_char(c[end + 1]):
                continue
            if entry.allowed:
                allowed.append((start, end))
            else:
                hits.append((start, end, entry))
        for start, end, entry in hits:
            if not any(a <= start and end <= b for a, b in allowed):
                excerpt = text.excerpt(start, end + 1)
                return _verdict(Rule.blocklist, self.policy.blocklist.on_hit, excerpt, entry.phrase)
        return None

    def _links(self, text: Normalized, links: list[Link]) -> list[Verdict]:
        p = self.policy
        block_all = p.links.mode == "block_all"
        invite: Verdict | None = None
        plain: Verdict | None = None
        for link in links:
            allowed = host_allowed(link, self._allowed)
            if link.end:
                excerpt = text.excerpt(link.start, link.end, view="folded")
            else:  # a link of the channel's entities, not in the text
                excerpt = (link.host + link.path)[:80]
            if p.invite_links.enabled and not allowed and is_invite(link):
                invite = invite or _verdict(
                    Rule.invite_link, p.invite_links.on_hit, excerpt, link.host + link.path
                )
            elif p.links.enabled and (block_all or not allowed):
                plain = plain or _verdict(Rule.links, p.links.on_hit, excerpt, link.host)
        return [v for v in (invite, plain) if v is not None]

    def _on_probation(self, message: Message) -> bool:
        rule = self.policy.probation
        young = (
            bool(rule.hours)
            and message.member_for is not None
            and message.member_for < self._probation_age
        )
        quiet = (
            bool(rule.messages)
            and message.messages_before is not None
            and message.messages_before < rule.messages
        )
        return young or quiet

    def _probation(self, text: Normalized, message: Message, links: list[Link]) -> Verdict | None:
        rule = self.policy.probation
        if not self._on_probation(message):
            return None
        reason = ""
        if rule.block_links and any(not host_allowed(link, self._allowed) for link in links):
            reason = "link"
        elif message.media is not None and message.media in self._probation_media:
            reason = message.media
        elif rule.block_mentions and message.mentions:
            reason = "mention"
        if not reason:
            return None
        return _verdict(Rule.probation, rule.on_hit, message.text.strip()[:80], reason)

    def _flood(self, message: Message, recent: Recent) -> Verdict | None:
        rule = self.policy.flood
        if len(recent.message_times) < rule.max_messages:
            return None
        since = message.at - self._flood_window
        count = 1 + sum(1 for at in recent.message_times if since < at <= message.at)
        if count <= rule.max_messages:
            return None
        return _verdict(Rule.flood, rule.on_hit, message.text.strip()[:80], str(count))

    def _duplicate(self, text: Normalized, message: Message, recent: Recent) -> Verdict | None:
        rule = self.policy.duplicates
        if len(recent.posts) < rule.min_groups - 1:
            return None
        since = message.at - self._duplicate_window
        others = [
            post
            for post in recent.posts
            if post.group_id != message.group_id and since <= post.at <= message.at
        ]
        if len({post.group_id for post in others}) < rule.min_groups - 1:
            return None  # not enough other groups for the rule to fire, whatever the texts
        if len(text.compact) - text.compact.count(" ") < rule.min_length:
            return None
        mine = fingerprint_compact(text.compact)
        groups = {
            post.group_id
            for post in others
            if similarity(mine, post.fingerprint) >= rule.similarity
        }
        if len(groups) + 1 < rule.min_groups:
            return None
        return _verdict(
            Rule.duplicate, rule.on_hit, message.text.strip()[:80], str(len(groups) + 1)
        )

    # -- the entry point ---------------------------------------------------------------------

    def check(self, message: Message, recent: Recent = NOTHING_RECENT) -> Verdict | None:
        """The most severe rule the message breaks (ties: the order of ``Rule``), or ``None``."""
        if message.author_exempt:
            return None
        p = self.policy
        text = Normalized(message.text)
        found: list[Verdict] = []
        links = list(find_links(text.folded)) if message.text else []
        links.extend(parse_link(url) for url in message.urls)
        if links and (p.links.enabled or p.invite_links.enabled):
            found.extend(self._links(text, links))
        if p.blocklist.enabled and (hit := self._blocklist(text)):
            found.append(hit)
        if p.contact_handles.enabled:
            # The folded view keeps the colons and "+" of "vx: …" and "+v …"; the compact view
            # undoes letter-by-letter spelling and emoji between the messenger and the id.
            for view in ("folded", "compact"):
                span = next(find_contact_handles(getattr(text, view)), None)
                if span is not None:
                    excerpt = text.excerpt(span.start, span.end, view=view)
                    found.append(_verdict(Rule.contact_handle, p.contact_handles.on_hit, excerpt))
                    break
        if p.phones.enabled:
            # A number spelled digit by digit with changing separators is solid in the compact view.
            span = next(find_phones(text.folded, p.phones.region), None)
            view = "folded"
            if span is None:
                span, view = next(find_cn_mobiles(text.compact), None), "compact"
            if span is not None:
                excerpt = text.excerpt(span.start, span.end, view=view)
                found.append(_verdict(Rule.phone, p.phones.on_hit, excerpt))
        if p.channel_forwards.enabled and message.forwarded_from_channel:
            found.append(
                _verdict(Rule.channel_forward, p.channel_forwards.on_hit, message.text.strip()[:80])
            )
        if p.probation.enabled and (hit := self._probation(text, message, links)):
            found.append(hit)
        if p.flood.enabled and (hit := self._flood(message, recent)):
            found.append(hit)
        if p.duplicates.enabled and (hit := self._duplicate(text, message, recent)):
            found.append(hit)
        if not found:
            return None
        return max(found, key=lambda v: (SEVERITY[v.action], -_ORDER[v.rule]))


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

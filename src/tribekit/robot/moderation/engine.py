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
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from .detect import (
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
from .normalize import Normalized
from .phrases import NO_SCAN, build, default_phrases, scan
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


_TEXT_RULES: Final = frozenset({Rule.blocklist, Rule.contact_handle, Rule.phone, Rule.duplicate})
_LINK_RULES: Final = frozenset({Rule.invite_link, Rule.links})
# The rules ``_Context.clean`` answers for.
_CLEAN_COVERS: Final = frozenset(
    {Rule.invite_link, Rule.links, Rule.blocklist, Rule.contact_handle, Rule.phone}
)


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
        found = self.scan = scan(engine._automaton, text.compact) if message.text else NO_SCAN
        links: list[Link] = []
        if engine._wants_links:
            folded = text.folded
            # The link regex runs only where a link can be: a link word ("com", "ly",
            # "https"…), or a "/" ("t.me/…": "me" is no link word) or "点" ("shop点com").
            maybe = found.link_word or "/" in folded
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
        self._automaton = build(
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
        # For each combination of what the message's metadata rules out (see ``_flags``),
        # the checks left, in order: no per-rule test when checking.
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

"""The phrases side of the engine: the shipped blocklists, the Aho-Corasick automaton of a
policy (its blocked and allowed phrases plus the words that say a link or a contact handle
may be in a text) and the one pass over a message's compact view that reads them all."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

import ahocorasick  # type: ignore[import-not-found]  # pyahocorasick: a C extension, no hints

from .detect import LINK_WORDS
from .normalize import is_cjk, normalize


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


def build(blocked: Iterable[str], allowed: Iterable[str]) -> Any:
    """The automaton of a policy: its blocked and allowed phrases, and the trigger words."""
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
class Scan:
    hit: tuple[int, int, _Entry] | None  # the first blocklisted phrase not in an allowed one
    handle_word: bool  # a word that may start a contact handle ("vx", "微信", "qq"…)
    link_word: bool  # a word that may end a link ("com", "ly", "https"…)


NO_SCAN: Final = Scan(None, False, False)
_NO_HIT: Final = {(h, k): Scan(None, h, k) for h in (False, True) for k in (False, True)}


def scan(automaton: Any, compact: str) -> Scan:
    """One pass of ``automaton`` (from ``build``) over a message's compact view."""
    # The compact view between two spaces, so that a link word's key (" com ") matches
    # at either end too, and Chinese characters encoded (see ``_MARK``).
    c = _encode(f" {compact} ")
    handle_word = link_word = False
    hits: list[tuple[int, int, _Entry]] = []
    allowed: list[tuple[int, int]] = []
    for end, entry in automaton.iter(c):
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
            return Scan((first, last, entry), handle_word, link_word)
    return _NO_HIT[handle_word, link_word]

"""Text normalisation for matching, with a way back to the original text.

Two views of a message are matched, both made of C-level passes (``str.translate`` and
``re.sub``) so that normalising costs about what one regex scan costs:

* ``folded``: each character NFKC-normalised and case-folded (full-width letters and digits
  become ASCII, ``ｗｅＣｈａｔ`` becomes ``wechat``, ``①`` becomes ``1``), a few Cyrillic and Greek
  look-alikes mapped to the Latin letter they imitate, zero-width, format and combining
  characters removed, every kind of space made one ASCII space. Links, phone numbers and
  contact handles are looked for here.
* ``compact``: ``folded`` with every run of punctuation, symbols, emoji and spaces made one
  space, the spaces between two Chinese or Japanese characters removed (``微.信`` and ``微 信``
  become ``微信``) and the spaces between single letters or digits removed (``w e c h a t``
  becomes ``wechat``). Blocklist phrases and fingerprints are matched here.

Each character is folded on its own (not the whole string), so that every character of a view
comes from exactly one character of the original: ``Normalized.excerpt`` maps a span of a view
back to the original text, which is what a moderation log shows.
"""

from __future__ import annotations

# ruff: noqa: RUF001, RUF002, RUF003  # this module is about look-alike and full-width characters
import re
import unicodedata
from typing import Final

# Characters that imitate Latin letters in spam ("сasino" with a Cyrillic с). Only the lower
# case is needed: case folding comes first.
_LOOKALIKES: Final = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q",
    "ԝ": "w", "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w",
}  # fmt: skip
# Letters that render as nothing (Hangul fillers) or as a blank (the braille blank).
_BLANK_LETTERS: Final = {"\u115f": "", "\u1160": "", "\u3164": "", "\uffa0": "", "\u2800": " "}
_DROPPED_CATEGORIES: Final = frozenset({"Cf", "Mn", "Me", "Cs"})
_SPACE_CATEGORIES: Final = frozenset({"Zs", "Zl", "Zp"})


def _fold_once(char: str) -> str:
    if char in _BLANK_LETTERS:
        return _BLANK_LETTERS[char]
    category = unicodedata.category(char)
    if category in _DROPPED_CATEGORIES:
        return ""
    if category in _SPACE_CATEGORIES or char.isspace():
        return " "
    if category == "Cc":
        return ""
    out = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", char).casefold())
    if out == char:
        return _LOOKALIKES.get(char, char)
    return "".join(_fold_once(c) for c in out)


def _fold(char: str) -> str:
    # Folding the characters of a folded character again changes nothing: normalising is
    # idempotent. A few characters need a second round (NFKC, then case folding, can yield a
    # character that folds further); the loop ends because each round is a fixed point or
    # shorter.
    out = _fold_once(char)
    for _ in range(4):
        again = "".join(_fold_once(c) for c in out)
        if again == out:
            return out
        out = again
    return out


class _FoldTable(dict[int, str]):
    """``str.translate``'s table, filled the first time each character is seen."""

    def __missing__(self, code: int) -> str:
        out = _fold(chr(code))
        self[code] = out
        return out


_TABLE: Final = _FoldTable()
for _code in range(128):
    _TABLE[_code] = _fold(chr(_code))

_CJK: Final = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_NON_WORD: Final = re.compile(r"[\W_]+")
_BETWEEN_CJK: Final = re.compile(f"(?<=[{_CJK}]) (?=[{_CJK}])")
_BETWEEN_SINGLES: Final = re.compile(r"(?<=(?<!\w)\w) (?=\w(?!\w))")
# compact = three substitutions in this order, each with a fixed replacement.
_COMPACT_STEPS: Final = ((_NON_WORD, " "), (_BETWEEN_CJK, ""), (_BETWEEN_SINGLES, ""))


def fold(text: str) -> str:
    """The ``folded`` view of ``text``."""
    return text.translate(_TABLE)


def compact(folded: str) -> str:
    """The ``compact`` view, from the ``folded`` view."""
    out = _NON_WORD.sub(" ", folded)
    if " " in out:
        out = _BETWEEN_CJK.sub("", out)
        out = _BETWEEN_SINGLES.sub("", out)
    return out


def normalize(text: str) -> str:
    """The text blocklist phrases are matched on (the ``compact`` view, without its outer
    spaces)."""
    return compact(fold(text)).strip()


def is_cjk(char: str) -> bool:
    return "\u3040" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


class Normalized:
    """A message's two views; the maps back to the original are built only when an excerpt is
    asked for (once per flagged message, not once per message)."""

    __slots__ = ("_compact_map", "_folded_map", "compact", "folded", "original")

    def __init__(self, original: str) -> None:
        self.original = original
        self.folded = fold(original)
        self.compact = compact(self.folded)
        self._folded_map: tuple[list[int], list[int]] | None = None
        self._compact_map: tuple[list[int], list[int]] | None = None

    def _folded_spans(self) -> tuple[list[int], list[int]]:
        # For each character of ``folded``: the start and end of the original character it
        # comes from.
        if self._folded_map is None:
            starts: list[int] = []
            for i, char in enumerate(self.original):
                starts.extend([i] * len(_TABLE[ord(char)]))
            self._folded_map = (starts, [s + 1 for s in starts])
        return self._folded_map

    def _compact_spans(self) -> tuple[list[int], list[int]]:
        if self._compact_map is None:
            text = self.folded
            starts, ends = self._folded_spans()
            for pattern, replacement in _COMPACT_STEPS:
                text, starts, ends = _sub_mapped(pattern, replacement, text, starts, ends)
            assert text == self.compact  # the same substitutions as compact()
            self._compact_map = (starts, ends)
        return self._compact_map

    def excerpt(self, start: int, end: int, *, view: str = "compact", limit: int = 80) -> str:
        """The original text behind ``view[start:end]``, cut to ``limit`` characters."""
        starts, ends = self._compact_spans() if view == "compact" else self._folded_spans()
        if not starts:
            return ""
        start = min(max(start, 0), len(starts) - 1)
        end = min(max(end, start + 1), len(ends))
        piece = self.original[starts[start] : ends[end - 1]].strip()
        return piece[:limit]


def _sub_mapped(
    pattern: re.Pattern[str], replacement: str, text: str, starts: list[int], ends: list[int]
) -> tuple[str, list[int], list[int]]:
    """``pattern.sub(replacement, text)``, carrying the per-character spans along."""
    parts: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    last = 0
    for match in pattern.finditer(text):
        a, b = match.span()
        parts.append(text[last:a])
        new_starts.extend(starts[last:a])
        new_ends.extend(ends[last:a])
        if replacement:
            parts.append(replacement)
            new_starts.extend([starts[a]] * len(replacement))
            new_ends.extend([ends[b - 1]] * len(replacement))
        last = b
    parts.append(text[last:])
    new_starts.extend(starts[last:])
    new_ends.extend(ends[last:])
    return "".join(parts), new_starts, new_ends

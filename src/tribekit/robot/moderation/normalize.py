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
from bisect import bisect_right
from itertools import accumulate
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
        if len(out) != 1:
            _NOT_ONE_TO_ONE.add(chr(code))
        self[code] = out
        return out


_TABLE: Final = _FoldTable()
# The characters seen so far that fold to none or to several: a text with none of them has
# the same indexes in its folded view (every character of a text is in the table once the
# text has been folded).
_NOT_ONE_TO_ONE: Final[set[str]] = set()
for _code in range(128):
    _TABLE[_code]

_CJK: Final = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_NON_WORD: Final = re.compile(r"[\W_]+")
# The spaces that go: between two CJK characters, or between two one-character words. The
# pattern starts with the space, so the regex engine skips from space to space.
_JOINED_SPACE: Final = re.compile(
    f" (?:(?<=[{_CJK}] )(?=[{_CJK}])|(?:(?<=\\W\\w )|(?<=^\\w ))(?=\\w(?!\\w)))"
)


# For printable ASCII text, what folding and ``_NON_WORD`` do, as one translation (CPython
# translates ASCII to ASCII one to one without a lookup per character) and a collapse of runs.
_ASCII_COMPACT: Final = {
    code: (chr(code).lower() if chr(code).isalnum() else " ") for code in range(128)
}
_SPACES: Final = re.compile(" {2,}")


def fold(text: str) -> str:
    """The ``folded`` view of ``text``."""
    if text.isascii() and text.isprintable():
        return text.lower()  # what the table does to printable ASCII, faster
    return text.translate(_TABLE)


def compact(folded: str) -> str:
    """The ``compact`` view, from the ``folded`` view."""
    if folded.isascii():
        out = _SPACES.sub(" ", folded.translate(_ASCII_COMPACT))
    else:
        out = _NON_WORD.sub(" ", folded)
    return _JOINED_SPACE.sub("", out) if " " in out else out


def normalize(text: str) -> str:
    """The text blocklist phrases are matched on (the ``compact`` view, without its outer
    spaces)."""
    return compact(fold(text)).strip()


def is_cjk(char: str) -> bool:
    return "\u3040" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


_NTH: dict[int, re.Pattern[str]] = {}


def _nth_word_char(n: int) -> re.Pattern[str]:
    """A pattern whose match ends just after the n-th letter or digit of a text."""
    pattern = _NTH.get(n)
    if pattern is None:
        pattern = _NTH[n] = re.compile(f"(?:[\\W_]*[^\\W_]){{{n}}}")
    return pattern


class Normalized:
    """A message's two views, and the way back from a span of either to the original text
    (computed only when an excerpt is asked for: once per flagged message)."""

    __slots__ = ("compact", "folded", "original")

    def __init__(self, original: str) -> None:
        # fold() and compact(), inlined: this runs for every message.
        self.original = original
        if original.isascii() and original.isprintable():
            folded = self.folded = original.lower()
        else:
            folded = self.folded = original.translate(_TABLE)
        if folded.isascii():
            out = _SPACES.sub(" ", folded.translate(_ASCII_COMPACT))
        else:
            out = _NON_WORD.sub(" ", folded)
        self.compact = _JOINED_SPACE.sub("", out) if " " in out else out

    def _original_span(self, first: int, last: int) -> tuple[int, int]:
        """The indexes in ``original`` of the characters ``folded[first]`` and
        ``folded[last]`` come from."""
        original = self.original
        if _NOT_ONE_TO_ONE.isdisjoint(original):
            return first, last
        # Where each original character's folded text ends, then a binary search.
        ends = list(accumulate(map(len, map(_TABLE.__getitem__, map(ord, original)))))
        return bisect_right(ends, first), min(bisect_right(ends, last), len(original) - 1)

    def _folded_index(self, i: int) -> int:
        """The index in ``folded`` of the character ``compact[i]`` (not a space) comes from.
        The compact view keeps the folded view's letters and digits, in order, and nothing
        else but spaces: its k-th non-space character is the folded view's k-th one."""
        k = i - self.compact.count(" ", 0, i)
        match = _nth_word_char(k + 1).match(self.folded)
        return match.end() - 1 if match else len(self.folded) - 1

    def excerpt(self, start: int, end: int, *, view: str = "compact", limit: int = 80) -> str:
        """The original text behind ``view[start:end]``, cut to ``limit`` characters."""
        if view == "compact":
            piece = self.compact[start:end]
            start += len(piece) - len(piece.lstrip(" "))
            end -= len(piece) - len(piece.rstrip(" "))
            if start >= end:
                return ""
            piece = self.compact[start:end]
            found = self.folded.find(piece)
            if found >= 0 and self.compact.find(piece) == start:
                # Written as it is matched (most texts): the same place of the folded view.
                start, end = found, found + len(piece)
            else:
                start, end = self._folded_index(start), self._folded_index(end - 1) + 1
        if not self.folded or start >= end:
            return ""
        first, last = self._original_span(start, min(end, len(self.folded)) - 1)
        return self.original[first : last + 1].strip()[:limit]

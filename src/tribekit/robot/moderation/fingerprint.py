"""Fingerprints for near-duplicate detection across groups.

A fingerprint is a bottom-k MinHash sketch: the ``K`` smallest CRC-32 values of the text's
character 3-grams, taken on the ``compact`` view without spaces (so case, width, zero-width
characters, punctuation, emoji and spacing do not matter). Two sketches estimate the Jaccard
similarity of the two texts' 3-gram sets: among the ``K`` smallest values of their union, the
share found in both. Changing a word or two of a 100-character text keeps the estimate above
0.7; two different messages share almost no 3-grams. Character n-grams work alike for Chinese
(no spaces between words) and for Latin text.

A sketch is at most ``K`` integers below 2**32, stable across processes and versions (CRC-32,
not Python's salted ``hash``), so the pipeline can store it with each message (e.g. as a
list of integers or ``to_bytes``) and hand it back in ``Recent``.
"""

from __future__ import annotations

import struct
import zlib

from .normalize import compact, fold

K = 16
SHINGLE = 3
Fingerprint = tuple[int, ...]


def fingerprint_compact(compact_text: str) -> Fingerprint:
    text = compact_text.replace(" ", "")
    if len(text) <= SHINGLE:
        return (zlib.crc32(text.encode()),) if text else ()
    # UTF-32 has four bytes a character, so a 3-gram is a 12-byte slice of one encoding.
    data = text.encode("utf-32-le")
    width = 4 * SHINGLE
    hashes = set(map(zlib.crc32, [data[i : i + width] for i in range(0, len(data) - width + 4, 4)]))
    return tuple(sorted(hashes)[:K])


def fingerprint(text: str) -> Fingerprint:
    """The fingerprint of a message's text, as ``Engine.check`` computes it."""
    return fingerprint_compact(compact(fold(text)))


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """Estimated Jaccard similarity of the two texts' 3-gram sets (0 to 1)."""
    if not a or not b:
        return 1.0 if a == b else 0.0
    mine = set(a)
    both = mine.intersection(b)
    if not both:
        return 0.0
    union = sorted(mine.union(b))[:K]
    return sum(1 for h in union if h in both) / len(union)


def to_bytes(value: Fingerprint) -> bytes:
    return struct.pack(f">{len(value)}I", *value)


def from_bytes(data: bytes) -> Fingerprint:
    return struct.unpack(f">{len(data) // 4}I", data)

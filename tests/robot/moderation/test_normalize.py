"""Normalisation: the evasions it undoes, the way back to the original text, and properties
that hold for any text."""

# ruff: noqa: RUF001, RUF003  # full-width and look-alike characters are what is tested here
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tribekit.robot.moderation.normalize import Normalized, compact, fold, normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ＷｅＣｈａｔ： Lily88", "wechat lily88"),  # full-width letters, colon
        ("w e c h a t", "wechat"),  # letters spaced out
        ("w.e.c.h.a.t", "wechat"),
        ("v x: abc123", "vx abc123"),
        ("微.信.号", "微信号"),  # dots between Chinese characters
        ("加 微 信", "加微信"),
        ("刷🔥单", "刷单"),  # emoji between Chinese characters
        ("fr\u200bee mo\u200dney", "free money"),  # zero-width characters
        ("\ufeffcasino\u2060", "casino"),
        ("сasinо", "casino"),  # Cyrillic с and о
        ("ᴄᴀsɪɴᴏ", "ᴄᴀsɪɴᴏ"),  # small capitals are letters of their own: left as they are
        ("①③⑧", "138"),  # circled digits
        ("CASINO!!!", "casino"),
        ("Grüße, Straße", "grüsse strasse"),  # case folding
        ("c̶a̶s̶i̶n̶o̶", "casino"),  # combining strike-through marks
        ("今天 苹果, 明天 香蕉", "今天苹果明天香蕉"),
        ("I'd like 3 boxes", "id like 3 boxes"),  # one-letter words are joined
        ("", ""),
    ],
)
def test_evasions_are_undone(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_folded_view_keeps_punctuation_for_links_and_handles() -> None:
    assert fold("Ｔ．ｍｅ／＋AbC") == "t.me/+abc"
    assert fold("vx：lily\u200b88") == "vx:lily88"


@pytest.mark.parametrize(
    ("text", "phrase", "excerpt"),
    [
        ("Best ｃａｓｉｎｏ in town", "casino", "ｃａｓｉｎｏ"),
        ("try c a s i n o now", "casino", "c a s i n o"),
        ("play сasino\u200b today", "casino", "сasino"),
        ("兼职，刷.单，日结", "刷单", "刷.单"),
        ("👉 free money 👈", "free money", "free money"),
    ],
)
def test_excerpt_is_the_original_text(text: str, phrase: str, excerpt: str) -> None:
    normalized = Normalized(text)
    start = normalized.compact.index(phrase)
    assert normalized.excerpt(start, start + len(phrase)) == excerpt


def test_excerpt_of_the_folded_view() -> None:
    normalized = Normalized("join Ｔ．ｍｅ／＋abc now")
    start = normalized.folded.index("t.me")
    assert normalized.excerpt(start, start + len("t.me/+abc"), view="folded") == "Ｔ．ｍｅ／＋abc"


def test_excerpt_is_cut_to_the_limit() -> None:
    text = "casino " * 40
    normalized = Normalized(text)
    assert normalized.excerpt(0, len(normalized.compact)) == text.strip()[:80]
    assert normalized.excerpt(0, len(normalized.compact), limit=10) == "casino cas"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalising_is_idempotent_and_never_fails(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert fold(fold(text)) == fold(text)
    assert compact(compact(fold(text))) == compact(fold(text))


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1), st.data())
def test_any_excerpt_is_a_substring_of_the_original(text: str, data: st.DataObject) -> None:
    normalized = Normalized(text)
    for view in ("compact", "folded"):
        size = len(getattr(normalized, view))
        if not size:
            continue
        start = data.draw(st.integers(0, size - 1))
        end = data.draw(st.integers(start + 1, size))
        excerpt = normalized.excerpt(start, end, view=view)
        assert excerpt in text
        assert len(excerpt) <= 80


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_the_compact_view_keeps_every_letter_and_digit(text: str) -> None:
    # The compact view is the folded view's letters and digits, in order, with single spaces
    # between some of them: what excerpts rely on.
    folded = fold(text)
    assert compact(folded).replace(" ", "") == "".join(re.findall(r"[^\W_]", folded))

"""Fingerprints for the duplicate rule."""

# ruff: noqa: RUF001  # full-width letters and punctuation are what is tested here
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tribekit.robot.moderation.fingerprint import (
    K,
    fingerprint,
    from_bytes,
    similarity,
    to_bytes,
)

AD = "Fresh durian from Malaysia, order now before Friday, limited boxes, free delivery!"


def test_the_same_text_written_differently_is_the_same() -> None:
    written = "ＦＲＥＳＨ durian from Malaysia — order now before Friday!!! limited boxes, free"
    assert fingerprint(AD) == fingerprint(written + "\u200b delivery")
    assert similarity(fingerprint(AD), fingerprint(AD)) == 1.0


def test_a_few_words_changed_stay_similar_other_texts_do_not() -> None:
    changed = "Fresh durian from Thailand, order now before Sunday, limited boxes, free delivery!"
    assert similarity(fingerprint(AD), fingerprint(changed)) >= 0.5
    other = "Does anyone know when the cherries arrive this week at the Wuding Road pickup?"
    assert similarity(fingerprint(AD), fingerprint(other)) == 0.0
    zh = "榴莲到货啦，马来西亚猫山王，周五前下单，数量有限，包邮到家"
    assert (
        similarity(
            fingerprint(zh), fingerprint("榴莲到货啦！马来西亚猫山王，周六前下单，数量有限，包邮")
        )
        >= 0.5
    )
    assert similarity(fingerprint(zh), fingerprint(AD)) == 0.0


def test_stable_values_and_bytes() -> None:
    value = fingerprint("hello world")
    assert value == fingerprint("Hello, World!")
    assert len(fingerprint(AD)) == K
    assert all(0 <= h < 2**32 for h in value)
    assert from_bytes(to_bytes(value)) == value
    assert fingerprint("") == ()
    assert similarity((), ()) == 1.0
    assert similarity((), value) == 0.0


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text())
def test_similarity_is_a_share(a: str, b: str) -> None:
    fa, fb = fingerprint(a), fingerprint(b)
    assert 0.0 <= similarity(fa, fb) <= 1.0
    assert similarity(fa, fb) == similarity(fb, fa)
    assert list(fa) == sorted(set(fa))

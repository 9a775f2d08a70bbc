"""The announcements' default texts: every one has a zh-CN translation in the ``campaigns``
catalog with the same values, the catalog holds nothing stale, and a text is filled in safely
(a value not known, or a stray brace, is left as written)."""

from __future__ import annotations

import string
from importlib import resources

from babel.messages.pofile import read_po

from tribekit.campaigns import announcements
from tribekit.campaigns.announcements import TEXTS, default_text, fill


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_text_has_a_zh_cn_translation_with_its_values() -> None:
    source = resources.files("tribekit") / "locale" / "zh_CN" / "LC_MESSAGES" / "campaigns.po"
    with source.open("rb") as handle:
        catalog = {
            str(m.id): str(m.string)
            for m in read_po(handle, locale="zh_CN", domain="campaigns")
            if m.id
        }
    assert [key for key, en in TEXTS.items() if not catalog.get(en)] == []
    assert {key: _fields(en) for key, en in TEXTS.items()} == {
        key: _fields(catalog[en]) for key, en in TEXTS.items()
    }
    assert set(catalog) == set(TEXTS.values())
    assert default_text("flash_sale.button", "zh-CN") == "立即抢购"
    assert default_text("flash_sale.button", "fr") == "Buy now"


def test_a_text_is_filled_safely() -> None:
    assert fill("{product} at {price}", {"product": "Mango", "price": "9.90"}) == "Mango at 9.90"
    assert fill("{product} {unknown}", {"product": "Mango"}) == "Mango {unknown}"
    assert fill("a stray { brace", {"product": "Mango"}) == "a stray { brace"
    assert fill("{product.__class__}", {"product": "Mango"}) == "{product.__class__}"
    assert announcements.check_texts({"start": {"en": "{{literal}} {price}"}}, "flash_sale") == {
        "start": {"en": "{{literal}} {price}"}
    }

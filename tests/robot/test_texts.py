"""The robot's texts: every one has a zh-CN translation in the ``robot`` catalog, with the same
placeholders, and the catalog holds no text the robot no longer says."""

from __future__ import annotations

import string
from importlib import resources

from babel.messages.pofile import read_po

from tribekit.robot.texts import TEXTS, say


def _catalog() -> dict[str, str]:
    source = resources.files("tribekit") / "locale" / "zh_CN" / "LC_MESSAGES" / "robot.po"
    with source.open("rb") as handle:
        catalog = read_po(handle, locale="zh_CN", domain="robot")
    return {str(m.id): str(m.string) for m in catalog if m.id}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_robot_text_has_a_zh_cn_translation_with_its_placeholders() -> None:
    catalog = _catalog()
    missing = [key for key, en in TEXTS.items() if not catalog.get(en)]
    assert missing == []
    assert {key: _fields(en) for key, en in TEXTS.items()} == {
        key: _fields(catalog[en]) for key, en in TEXTS.items()
    }
    assert set(catalog) == set(TEXTS.values())  # nothing stale


def test_say_fills_in_the_values_in_the_groups_language() -> None:
    assert say("moderation.muted", "en", name="Sam", minutes=60) == "Sam is muted for 60 minutes."
    assert say("moderation.muted", "zh-CN", name="Sam", minutes=60) == "Sam 已被禁言 60 分钟。"
    assert say("captcha.button", "zh-CN") == "我不是机器人"
    assert say("captcha.button", "fr") == "I'm not a robot"  # a language without a catalog
    assert say("no.such.key", "en") == "no.such.key"

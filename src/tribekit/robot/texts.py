"""What the robot says, in each group's language (en, zh-CN). Keys are stable: the moderation
engine names a rule's warning by ``moderation.rule.<rule>``."""

# ruff: noqa: RUF001  # Chinese text uses the full-width comma

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("en", "zh-CN")

_TEXTS: Mapping[str, Mapping[str, str]] = {
    "moderation.rule.invite_link": {
        "en": "{name}, links to other groups are not allowed here.",
        "zh-CN": "{name}，本群不允许发布其他群的邀请链接。",
    },
    "moderation.rule.links": {
        "en": "{name}, links are not allowed here.",
        "zh-CN": "{name}，本群不允许发布链接。",
    },
    "moderation.rule.phone": {
        "en": "{name}, please do not post phone numbers in the group.",
        "zh-CN": "{name}，请不要在群里发布电话号码。",
    },
    "moderation.rule.contact_handle": {
        "en": "{name}, please do not post contact handles in the group.",
        "zh-CN": "{name}，请不要在群里发布微信号、QQ号等联系方式。",
    },
    "moderation.rule.blocklist": {
        "en": "{name}, that message breaks the group's rules.",
        "zh-CN": "{name}，该消息违反了群规。",
    },
    "moderation.rule.flood": {
        "en": "{name}, please slow down.",
        "zh-CN": "{name}，请不要刷屏。",
    },
    "moderation.rule.duplicate": {
        "en": "{name}, the same message in several groups is not allowed.",
        "zh-CN": "{name}，请不要在多个群重复发布同一条消息。",
    },
    "moderation.rule.channel_forward": {
        "en": "{name}, forwards from channels are not allowed here.",
        "zh-CN": "{name}，本群不允许转发频道消息。",
    },
    "moderation.rule.probation": {
        "en": "{name}, new members may not post links or media yet.",
        "zh-CN": "{name}，新成员暂时不能发布链接或图片视频。",
    },
    "moderation.muted": {
        "en": "{name} is muted for {minutes} minutes.",
        "zh-CN": "{name} 已被禁言 {minutes} 分钟。",
    },
    "moderation.banned": {
        "en": "{name} is removed from the shop's groups.",
        "zh-CN": "{name} 已被移出本店所有群。",
    },
    "moderation.strikes": {
        "en": "Warning {count}.",
        "zh-CN": "第 {count} 次警告。",
    },
}


def say(key: str, language: str, **values: object) -> str:
    """The text of ``key`` in ``language`` (English when the language or the key has none)."""
    texts = _TEXTS.get(key)
    if texts is None:
        return key
    text = texts.get(language) or texts["en"]
    return text.format(**values)

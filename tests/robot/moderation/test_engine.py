"""The engine: each rule's verdict (rule id, action, excerpt, explanation key), how rules
combine, exemptions, and the compiled-engine cache."""

# ruff: noqa: RUF001  # full-width and look-alike characters are what is tested here
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tribekit.robot.moderation import (
    Action,
    Message,
    Policy,
    Recent,
    RecentPost,
    Rule,
    Verdict,
    compile,
    fingerprint,
)
from tribekit.robot.moderation.engine import Engine

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
REGULAR: dict[str, Any] = {"member_for": timedelta(days=30), "messages_before": 40}
SHOP: dict[str, Any] = {
    "links": {"allowed_domains": ["greenwoodfruit.com", "t.me/greenwood_fruit"]}
}


def engine(**policy: Any) -> Engine:
    return compile(Policy.model_validate({**SHOP, **policy}))


def msg(text: str, **fields: Any) -> Message:
    return Message(text=text, group_id="g1", at=NOW, **{**REGULAR, **fields})


def check(
    text: str, recent: Recent | None = None, policy: dict[str, Any] | None = None, **fields: Any
) -> Verdict | None:
    return engine(**(policy or {})).check(msg(text, **fields), recent or Recent())


def test_a_blocklisted_phrase() -> None:
    verdict = check("Best ｃａｓｉｎｏ in town, come")
    assert verdict == Verdict(
        rule=Rule.blocklist,
        action=Action.warn,
        mute_for=None,
        delete_message=True,
        strike=True,
        excerpt="ｃａｓｉｎｏ",
        explanation="moderation.rule.blocklist",
        detail="casino",
    )


def test_latin_phrases_match_whole_words_chinese_anywhere() -> None:
    assert check("the occasional casinoX, not a casinofan") is None
    hit = check("two casinos nearby")
    assert hit is not None
    assert hit.detail == "casinos"  # listed on its own: "casino" does not match "casinos"
    hit = check("今天兼职刷单赚钱")
    assert hit is not None
    # Both "兼职刷单" and "刷单" are listed; the longer one, ending at the same place, first.
    assert (hit.rule, hit.excerpt, hit.detail) == (Rule.blocklist, "兼职刷单", "兼职刷单")


def test_merchant_phrases_and_allowed_phrases() -> None:
    policy = {"blocklist": {"phrases": ["durian king"], "allowed_phrases": ["casino royale"]}}
    hit = check("the DURIAN-KING stall", policy=policy)
    assert hit is not None
    assert (hit.rule, hit.excerpt, hit.detail) == (Rule.blocklist, "DURIAN-KING", "durian king")
    # "casino" is blocklisted, but staff marked "casino royale" fine.
    assert check("film night: Casino Royale", policy=policy) is None
    assert check("casino tonight", policy=policy) is not None


def test_the_shipped_lists_can_be_left_out() -> None:
    assert check("online casino", policy={"blocklist": {"use_defaults": False}}) is None
    assert check("online casino", policy={"blocklist": {"enabled": False}}) is None


def test_links_outside_the_allowed_domains() -> None:
    hit = check("cheap stuff at www.spam-deals.top/x today")
    assert hit is not None
    assert (hit.rule, hit.excerpt, hit.detail) == (
        Rule.links,
        "www.spam-deals.top/x",
        "www.spam-deals.top",
    )
    assert check("see https://shop.greenwoodfruit.com/p/12 please") is None
    assert check("join the shop channel t.me/greenwood_fruit") is None


def test_block_all_blocks_the_shops_own_links_too() -> None:
    policy = {"links": {"mode": "block_all", "allowed_domains": ["greenwoodfruit.com"]}}
    hit = check("see greenwoodfruit.com/p/12", policy=policy)
    assert hit is not None
    assert (hit.rule, hit.detail) == (Rule.links, "greenwoodfruit.com")


def test_links_the_channel_extracted() -> None:
    # A hidden link (text_link entity) is not in the text.
    hit = check("look here", urls=("https://bit.ly/3abc",))
    assert hit is not None
    assert (hit.rule, hit.excerpt) == (Rule.links, "bit.ly/3abc")


def test_an_invitation_to_another_group() -> None:
    hit = check("more deals: Ｔ．ｍｅ／＋AbCdEf123")
    assert hit is not None
    assert (hit.rule, hit.excerpt, hit.detail) == (
        Rule.invite_link,
        "Ｔ．ｍｅ／＋AbCdEf123",
        "t.me/+abcdef123",
    )
    assert hit.explanation == "moderation.rule.invite_link"


def test_invitations_are_judged_even_with_the_links_rule_off() -> None:
    hit = check("https://chat.whatsapp.com/AbCd", policy={"links": {"enabled": False}})
    assert hit is not None
    assert hit.rule == Rule.invite_link
    # With the invite rule off, an invitation is a link like any other.
    hit = check("https://chat.whatsapp.com/AbCd", policy={"invite_links": {"enabled": False}})
    assert hit is not None
    assert hit.rule == Rule.links


def test_phone_numbers() -> None:
    hit = check("wholesale, call 1 3 8 - 1 2 3 4 - 5 6 7 8")
    assert hit is not None
    assert (hit.rule, hit.excerpt) == (Rule.phone, "1 3 8 - 1 2 3 4 - 5 6 7 8")
    hit = check("whatsapp +44 20 7946 0958 anytime", policy={"contact_handles": {"enabled": False}})
    assert hit is not None
    assert (hit.rule, hit.excerpt) == (Rule.phone, "+44 20 7946 0958")
    assert check("Order 261202-4F7QK-9ZP2M, 45.00, pickup 20:00 on 2026-12-05") is None


def test_contact_handles() -> None:
    hit = check("批发价 加V：money_8888")
    assert hit is not None
    assert (hit.rule, hit.excerpt) == (Rule.contact_handle, "加V：money_8888")
    hit = check("vx k*e*f*u*4*5*0*5*3 代购正品")
    assert hit is not None
    assert (hit.rule, hit.excerpt) == (Rule.contact_handle, "vx k*e*f*u*4*5*0*5*3")


def test_flood() -> None:
    times = tuple(NOW - timedelta(seconds=s) for s in (1, 2, 3, 4, 5))
    hit = check("hi", Recent(message_times=times))
    assert hit == Verdict(
        rule=Rule.flood,
        action=Action.mute,
        mute_for=timedelta(minutes=10),
        delete_message=True,
        strike=False,
        excerpt="hi",
        explanation="moderation.rule.flood",
        detail="6",
    )
    # Five in ten seconds, this one included, is allowed; older messages do not count.
    assert check("hi", Recent(message_times=times[:4])) is None
    old = tuple(NOW - timedelta(seconds=s) for s in (1, 2, 3, 4, 11))
    assert check("hi", Recent(message_times=old)) is None


def _posts(text: str, groups: list[str], minutes_ago: int = 2) -> tuple[RecentPost, ...]:
    at = NOW - timedelta(minutes=minutes_ago)
    return tuple(RecentPost(group, at, fingerprint(text)) for group in groups)


def test_nearly_the_same_text_in_three_groups() -> None:
    earlier = "Fresh durian from Malaysia, order now before Friday, limited boxes!"
    now = "FRESH durian from Malaysia — order now before Friday, limited boxes!!"
    hit = check(now, Recent(posts=_posts(earlier, ["g2", "g3"])))
    assert hit is not None
    assert (hit.rule, hit.action, hit.detail) == (Rule.duplicate, Action.delete, "3")
    assert hit.excerpt == now[:80]


def test_duplicates_need_enough_groups_time_and_text() -> None:
    text = "Fresh durian from Malaysia, order now before Friday, limited boxes!"
    assert check(text, Recent(posts=_posts(text, ["g2"]))) is None  # two groups
    assert check(text, Recent(posts=_posts(text, ["g2", "g2"]))) is None  # the same group twice
    assert check(text, Recent(posts=_posts(text, ["g1", "g1"]))) is None  # this group
    assert check(text, Recent(posts=_posts(text, ["g2", "g3"], minutes_ago=11))) is None
    other = "Does anyone know when the cherries arrive this week at the market?"
    assert check(text, Recent(posts=_posts(other, ["g2", "g3"]))) is None
    assert check("thanks!", Recent(posts=_posts("thanks!", ["g2", "g3"]))) is None  # short


def test_forwards_from_channels() -> None:
    hit = check("weekly deals", forwarded_from_channel=True)
    assert hit is not None
    assert (hit.rule, hit.action, hit.excerpt) == (
        Rule.channel_forward,
        Action.delete,
        "weekly deals",
    )


def test_probation() -> None:
    new: dict[str, Any] = {"member_for": timedelta(hours=2), "messages_before": 10}
    hit = check("my photo", media="photo", **new)
    assert hit is not None
    assert (hit.rule, hit.action, hit.detail) == (Rule.probation, Action.delete, "photo")
    # Probation lasts until both thresholds are passed: 24 hours and 3 messages.
    quiet: dict[str, Any] = {"member_for": timedelta(days=3), "messages_before": 1}
    assert check("my photo", media="photo", **quiet) is not None
    assert check("my photo", media="photo") is None
    assert check("a voice note", media="voice", **new) is None  # not in the blocked kinds
    assert check("see shop.greenwoodfruit.com/p/1", **new) is None  # an allowed domain
    hit = check("look", urls=("https://example.org",), policy={"links": {"enabled": False}}, **new)
    assert hit is not None
    assert (hit.rule, hit.detail) == (Rule.probation, "link")
    policy = {"probation": {"block_mentions": True}}
    hit = check("hi @amy", mentions=("amy",), policy=policy, **new)
    assert hit is not None
    assert (hit.rule, hit.detail) == (Rule.probation, "mention")
    unknown: dict[str, Any] = {"member_for": None, "messages_before": None}
    assert check("my photo", media="photo", **unknown) is None


def test_exempt_authors_are_never_moderated() -> None:
    assert check("online casino t.me/+abc 13812345678", author_exempt=True) is None


def test_the_most_severe_rule_wins() -> None:
    policy = {"phones": {"on_hit": {"action": "ban"}}}
    hit = check("online casino, call 13812345678", policy=policy)
    assert hit is not None
    assert (hit.rule, hit.action) == (Rule.phone, Action.ban)
    # Equally severe: the order of Rule (invite_link, blocklist, contact_handle, phone, links…).
    hit = check("online casino, call 13812345678")
    assert hit is not None
    assert hit.rule == Rule.blocklist


def test_disabled_rules_and_an_empty_message() -> None:
    names = ("links", "invite_links", "phones", "contact_handles", "blocklist")
    off = {name: {"enabled": False} for name in names}
    assert check("online casino t.me/+abc 13812345678 vx: lily88", policy=off) is None
    assert check("", media="photo") is None


def test_mute_duration_and_warn_without_deleting() -> None:
    policy = {
        "blocklist": {"on_hit": {"action": "mute", "mute_minutes": 60, "strike": False}},
        "links": {"allowed_domains": [], "on_hit": {"action": "warn", "delete_message": False}},
    }
    hit = check("online casino", policy=policy)
    assert hit is not None
    assert (hit.action, hit.mute_for, hit.strike) == (Action.mute, timedelta(hours=1), False)
    hit = check("see example.com/x", policy=policy)
    assert hit is not None
    assert (hit.action, hit.mute_for, hit.delete_message) == (Action.warn, None, False)


def test_compile_is_cached_by_version_and_by_content() -> None:
    a = Policy.model_validate(SHOP)
    b = Policy.model_validate(SHOP)
    assert compile(a) is compile(b)  # the same content
    assert compile(a, version=("m1", 3)) is compile(b, version=("m1", 3))
    assert compile(a, version=("m1", 4)) is not compile(a, version=("m1", 3))
    c = Policy.model_validate({"blocklist": {"phrases": ["durian king"]}})
    assert compile(c) is not compile(a)


@pytest.mark.parametrize(
    "text", ["", " ", "\u200b", "🍎🍎", "a", "加", "1", "@", "+", "http://", "t.me/"]
)
def test_odd_messages(text: str) -> None:
    verdict = check(text)
    assert verdict is None or verdict.excerpt in text

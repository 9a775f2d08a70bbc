"""The pattern detectors: links and invitations, phone numbers, contact handles; and the
ordinary text they must leave alone."""

# ruff: noqa: RUF001  # full-width and look-alike characters are what is tested here
from __future__ import annotations

import pytest

from tribekit.robot.moderation.detect import (
    Link,
    find_contact_handles,
    find_links,
    find_phones,
    host_allowed,
    is_invite,
    parse_link,
)
from tribekit.robot.moderation.normalize import Normalized


def links(text: str) -> list[tuple[str, str]]:
    return [(link.host, link.path) for link in find_links(Normalized(text).folded)]


def phones(text: str) -> list[str]:
    n = Normalized(text)
    return [n.excerpt(s.start, s.end, view=v) for v, s in find_phones(n.folded, n.compact, "CN")]


def handles(text: str) -> list[str]:
    n = Normalized(text)
    return [n.excerpt(s.start, s.end, view="folded") for s in find_contact_handles(n.folded)] + [
        n.excerpt(s.start, s.end) for s in find_contact_handles(n.compact)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see https://shop.greenwoodfruit.com/p/12, ok", [("shop.greenwoodfruit.com", "/p/12")]),
        ("join t.me/+AbC123 now", [("t.me", "/+abc123")]),
        ("ＴＥＬＥＧＲＡＭ．ＭＥ／deals", [("telegram.me", "/deals")]),
        ("bit . ly / xyz1", [("bit.ly", "/")]),
        ("example[.]com", [("example.com", "")]),
        ("example(dot)com is great", [("example.com", "")]),
        ("shop点com", [("shop.com", "")]),
        ("www.spam.top", [("www.spam.top", "")]),
        ("HTTP://1.2.3.4:8080/x", [("1.2.3.4", "/x")]),
        # ordinary text
        ("Nice.Me too", []),  # "me" is a domain only with a path
        ("call at 5.30pm, total 45.00", []),
        ("mail me at lily.wang@qq.com", []),  # an e-mail address is no link
        ("2026.12.05 pickup", []),
    ],
)
def test_links(text: str, expected: list[tuple[str, str]]) -> None:
    assert links(text) == expected


@pytest.mark.parametrize(
    ("url", "invite"),
    [
        ("https://t.me/joinchat/AAAAAE", True),
        ("t.me/+AbC", True),
        ("https://t.me/some_channel", True),
        ("https://chat.whatsapp.com/AbCdEf", True),
        ("wa.me/8613812345678", True),
        ("https://matrix.to/#/#deals:example.org", True),
        ("https://weixin.qq.com/g/AbCd", True),
        ("https://qm.qq.com/cgi-bin/qm/qr?k=abc", True),
        ("https://discord.gg/abc", True),
        ("https://discord.com/invite/abc", True),
        ("https://weixin.qq.com/", False),
        ("https://discord.com/channels/1", False),
        ("https://greenwoodfruit.com/g/abc", False),
    ],
)
def test_invites(url: str, invite: bool) -> None:
    assert is_invite(parse_link(url)) is invite


def test_allowed_domains_cover_subdomains_and_path_prefixes() -> None:
    allowed = (("greenwoodfruit.com", ""), ("t.me", "/greenwood_fruit"))
    assert host_allowed(Link("shop.greenwoodfruit.com", "/p/1", 0, 0), allowed)
    assert host_allowed(Link("www.greenwoodfruit.com", "", 0, 0), allowed)
    assert host_allowed(Link("t.me", "/greenwood_fruit", 0, 0), allowed)
    assert not host_allowed(Link("t.me", "/other", 0, 0), allowed)
    assert not host_allowed(Link("greenwoodfruit.com.evil.top", "", 0, 0), allowed)
    assert not host_allowed(Link("notgreenwoodfruit.com", "", 0, 0), allowed)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", "13812345678"),
        ("call 138 1234 5678", "138 1234 5678"),
        ("+86 138-1234-5678", "138-1234-5678"),
        ("1 3 8 1 2 3 4 5 6 7 8", "1 3 8 1 2 3 4 5 6 7 8"),
        ("1-3-8-1-2-3-4-5-6-7-8", "1-3-8-1-2-3-4-5-6-7-8"),
        ("①③⑧①②③④⑤⑥⑦⑧", "①③⑧①②③④⑤⑥⑦⑧"),
        ("１３８１２３４５６７８", "１３８１２３４５６７８"),
        ("电话1 3812345678", "1 3812345678"),
        ("+1 202 456 1414", "+1 202 456 1414"),
        ("+44 20 7946 0958 24/7", "+44 20 7946 0958"),
        ("+852 9123 4567", "+852 9123 4567"),
        ("021-6234 5678", "021-6234 5678"),
        ("400-888-8888", "400-888-8888"),
    ],
)
def test_phones(text: str, expected: str) -> None:
    assert phones(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "Order 261202-4F7QK-9ZP2M paid, 1,280.00 total",
        "Pickup 2026-12-05 at 20:00, 13:30-15:00 also fine",
        "Tracking SF1423577890321",
        "Member number 12345678",
        "Bank transfer ref 22303864695329",
        "Room 1502, building 6, postcode 200031",
        "3 x 5kg = 138.00",
        "ages 6-9, 10:30 class",
    ],
)
def test_numbers_that_are_no_phones(text: str) -> None:
    assert phones(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("vx: lily_88", "vx: lily_88"),
        ("加V：abc12345", "加V：abc12345"),
        ("微信号 kefu8899", "微信号 kefu8899"),
        ("薇信lily520", "薇信lily520"),
        ("QQ 12345678", "QQ 12345678"),
        ("扣扣123456789", "扣扣123456789"),
        ("DM @crypto_king1 now", "DM @crypto_king1"),
        ("tg @signals88", "tg @signals88"),
        ("➕v lily888", "➕v lily888"),
        ("add me on wechat: mm2233", "wechat: mm2233"),
        ("ｗｅｃｈａｔ ｌｉｌｙ８８", "ｗｅｃｈａｔ ｌｉｌｙ８８"),
    ],
)
def test_contact_handles(text: str, expected: str) -> None:
    assert handles(text)[0] == expected


def test_spelled_out_handles_are_found_in_the_compact_view() -> None:
    n = Normalized("v x k*e*f*u*4*5*0*5*3 代购")
    assert list(find_contact_handles(n.folded)) == []
    span = next(find_contact_handles(n.compact))
    assert n.excerpt(span.start, span.end) == "v x k*e*f*u*4*5*0*5*3"


@pytest.mark.parametrize(
    "text",
    [
        "wechat group tonight?",  # a messenger named, no id
        "Is it ok to pay by WeChat Pay?",
        "my WeChat name is Lily",
        "用微信支付可以吗",
        "Thanks @Amy for packing",  # a mention is no contact handle
        "the line was long at 5 pm",
        "qq音乐的会员也能兑换吗",
    ],
)
def test_ordinary_text_has_no_contact_handle(text: str) -> None:
    assert handles(text) == []

"""Every losing attempt is a 409 with its stable code, never a 500; the flash token is checked
in-process, blocked members are refused from the moment staff block them; after sell-out the
answer comes before any engine (database) work."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

from httpx import AsyncClient

from tests.conftest import SECRET
from tests.factories import Factory
from tribekit.campaigns.flash import tokens
from tribekit.campaigns.flash.engine import Attempt, Refusal, Reserved
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.members import access

from .world import (
    buy,
    create_sale,
    end_sales,
    flash_headers,
    flash_shop,
    group,
    level,
    live_sale,
    runtime_of,
    sale_row,
)


def code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


async def test_each_refusal_has_its_code(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory)
    member = (await factory.member(world.shop)).member.id
    mine = flash_headers(world.shop, member)
    starts = clock.now() + timedelta(hours=1)
    later = await create_sale(
        client,
        world,
        starts_at=starts.isoformat(),
        ends_at=(starts + timedelta(hours=1)).isoformat(),
    )
    assert code(await buy(client, later["id"], mine)) == (409, "not_started")

    sale_id = await live_sale(client, db, world, quantity=3, per_member_limit=2)
    assert code(await buy(client, sale_id, mine, quantity=3)) == (409, "limit_reached")
    assert (await buy(client, sale_id, mine, quantity=2)).status_code == 201
    assert code(await buy(client, sale_id, mine)) == (409, "limit_reached")
    other = flash_headers(world.shop, (await factory.member(world.shop)).member.id)
    assert code(await buy(client, sale_id, other, quantity=2)) == (409, "sold_out")
    assert (await buy(client, sale_id, other)).status_code == 201
    third = flash_headers(world.shop, (await factory.member(world.shop)).member.id)
    refused = await buy(client, sale_id, third)
    assert code(refused) == (409, "sold_out")
    assert refused.json()["sale_id"] == sale_id

    row = await sale_row(db, sale_id)
    with clock.frozen_at(row.ends_at + timedelta(seconds=1)):
        assert code(await buy(client, sale_id, third)) == (409, "ended")  # by the clock
        assert await end_sales(db) == 1
        runtime_of(db).live.forget(uuid.UUID(sale_id))
        assert code(await buy(client, sale_id, third)) == (409, "ended")


async def test_targets_decide_who_may_buy(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory)
    inside = (await factory.member(world.shop)).member.id
    outside = (await factory.member(world.shop)).member.id
    vip = await group(db, world.shop, "VIP", inside)
    gold = await level(db, world.shop, "Gold", 1)
    silver = await level(db, world.shop, "Silver", 0)
    sale_id = await live_sale(
        client, db, world, community_ids=[str(vip)], level_ids=[str(gold)], per_member_limit=5
    )
    good = flash_headers(world.shop, inside, level_id=gold, communities=[vip])
    no_group = flash_headers(world.shop, outside, level_id=gold)
    wrong_level = flash_headers(world.shop, inside, level_id=silver, communities=[vip])
    no_level = flash_headers(world.shop, inside, communities=[vip])
    for headers in (no_group, wrong_level, no_level):
        assert code(await buy(client, sale_id, headers)) == (409, "not_eligible")
    elsewhere = await group(db, world.shop, "Other", inside)
    assert code(await buy(client, sale_id, good, community_id=str(elsewhere))) == (
        409,
        "not_eligible",
    )
    bought = await buy(client, sale_id, good)
    assert bought.status_code == 201, bought.text
    order = await client.get(
        f"/api/v1/orders/{bought.json()['order_id']}", headers=world.shop.headers
    )
    assert order.json()["community_id"] == str(vip)


async def test_the_flash_token_is_issued_to_a_member_and_checked(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory)
    member = (await factory.member(world.shop)).member.id
    vip = await group(db, world.shop, "VIP", member)
    sale_id = await live_sale(client, db, world, community_ids=[str(vip)])
    link, _ = access.issue_link(SECRET, world.shop.tenant, member)
    issued = await client.post(
        "/api/v1/me/flash-token", headers={"Authorization": f"Bearer {link}"}
    )
    assert issued.status_code == 200, issued.text
    token = issued.json()["token"]
    claims = tokens.verify(SECRET, token)
    assert (claims.merchant_id, claims.member_id, claims.community_ids) == (
        world.shop.tenant.id,
        member,
        frozenset({vip}),
    )
    assert (await buy(client, sale_id, {"Authorization": f"Bearer {token}"})).status_code == 201
    assert code(await buy(client, sale_id, {})) == (401, "flash_token_invalid")
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert code(await buy(client, sale_id, {"Authorization": f"Bearer {forged}"})) == (
        401,
        "flash_token_invalid",
    )
    old, _ = tokens.sign(
        SECRET, world.shop.tenant.id, member, None, frozenset(), ttl=timedelta(seconds=-1)
    )
    assert code(await buy(client, sale_id, {"Authorization": f"Bearer {old}"})) == (
        401,
        "flash_token_invalid",
    )
    link_as_flash = await buy(client, sale_id, {"Authorization": f"Bearer {link}"})
    assert code(link_as_flash) == (401, "flash_token_invalid")
    other = await flash_shop(db, factory)
    theirs = await live_sale(client, db, other)
    assert (await buy(client, theirs, {"Authorization": f"Bearer {token}"})).status_code == 404


async def test_a_blocked_member_is_refused_at_once_and_let_in_when_unblocked(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory)
    member = (await factory.member(world.shop)).member.id
    headers = flash_headers(world.shop, member)
    sale_id = await live_sale(client, db, world, per_member_limit=5)
    assert (await buy(client, sale_id, headers)).status_code == 201
    blocked = await client.patch(
        f"/api/v1/members/{member}", json={"blocked": True}, headers=world.shop.headers
    )
    assert blocked.status_code == 200, blocked.text
    assert code(await buy(client, sale_id, headers)) == (403, "permission_denied")
    unblocked = await client.patch(
        f"/api/v1/members/{member}", json={"blocked": False}, headers=world.shop.headers
    )
    assert unblocked.status_code == 200
    assert (await buy(client, sale_id, headers)).status_code == 201
    erased = await client.delete(f"/api/v1/members/{member}", headers=world.shop.headers)
    assert erased.status_code in (200, 204), erased.text
    assert code(await buy(client, sale_id, headers)) == (403, "permission_denied")


async def test_after_sell_out_losers_never_reach_the_engine(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    world = await flash_shop(db, factory)
    sale_id = await live_sale(client, db, world, quantity=1, per_member_limit=1)
    runtime = runtime_of(db)
    engine = runtime.engine("sql")
    calls = 0
    real = engine.reserve

    async def counted(attempt: Attempt) -> Reserved | Refusal:
        nonlocal calls
        calls += 1
        return await real(attempt)

    engine.reserve = counted  # type: ignore[method-assign]
    try:
        first = flash_headers(world.shop, (await factory.member(world.shop)).member.id)
        assert (await buy(client, sale_id, first)).status_code == 201
        assert calls == 1
        began = time.monotonic()
        for _ in range(20):
            loser = flash_headers(world.shop, uuid.uuid4())
            assert code(await buy(client, sale_id, loser)) == (409, "sold_out")
        if time.monotonic() - began < runtime.live.sold_out_hold:
            assert calls == 1  # answered by the sold-out flag alone
    finally:
        engine.reserve = real  # type: ignore[method-assign]

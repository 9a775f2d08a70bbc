"""Group buys through the HTTP API: staff make (validated), list, read and cancel them; members
join by a share code, pay through the ordinary payments, follow progress, are refused with
stable codes; anyone reads a team's progress by its code; an unpaid join that expires frees
its seat; grouping by address makes one team per address; a schedule's occurrence is made
once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from httpx import AsyncClient

from tests.campaigns.group_buys import world as gw
from tests.concurrency import fire
from tests.factories import Factory, Shop, count_rows
from tests.orders.store import key
from tribekit.campaigns.group_buys import service
from tribekit.campaigns.group_buys.spec import GroupBuySpec
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.campaigns import CampaignSchedule, GroupBuy, GroupBuyTeam
from tribekit.models.orders import Order
from tribekit.orders import tasks as order_tasks

ADDRESS = {"recipient": "Li", "line1": "1 Mango Road", "city": "Shenzhen", "country": "CN"}


def _body(w: gw.World, **fields: Any) -> dict[str, Any]:
    now = clock.now()
    body: dict[str, Any] = {
        "product_id": str(w.product.id),
        "tiers": [
            {"size": 2, "unit_price": 9000},
            {"size": 3, "unit_price": 8500},
            {"size": 5, "unit_price": 7500},
        ],
        "starts_at": (now - timedelta(seconds=1)).isoformat(),
        "deadline": (now + timedelta(hours=3)).isoformat(),
    }
    body.update(fields)
    return body


async def _member_headers(client: AsyncClient, shop: Shop, member_id: uuid.UUID) -> dict[str, str]:
    link = await client.post(f"/api/v1/members/{member_id}/access-links", headers=shop.headers)
    assert link.status_code == 201, link.text
    return {"Authorization": f"Bearer {link.json()['token']}"}


async def test_staff_make_read_and_cancel_and_bad_input_is_refused(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    w = await gw.world(db, factory)
    headers = w.shop.headers
    bad = [
        _body(w, tiers=[{"size": 3, "unit_price": 9000}, {"size": 2, "unit_price": 8000}]),
        _body(w, tiers=[{"size": 2, "unit_price": 8000}, {"size": 3, "unit_price": 9000}]),
        _body(w, max_size=4),
        _body(w, deadline=(clock.now() - timedelta(hours=1)).isoformat()),
        _body(w, community_ids=[str(uuid.uuid4())]),
        _body(w, per_member_limit=6),
    ]
    for body in bad:
        refused = await client.post("/api/v1/group-buys", json=body, headers=headers)
        assert refused.status_code == 422, (body, refused.text)
    missing = await client.post(
        "/api/v1/group-buys", json=_body(w, product_id=str(uuid.uuid4())), headers=headers
    )
    assert missing.status_code == 404
    assert await count_rows(db, GroupBuy) == 0
    made = await client.post("/api/v1/group-buys", json=_body(w, name="Friday"), headers=headers)
    assert made.status_code == 201, made.text
    group_buy = made.json()
    assert (group_buy["status"], group_buy["min_size"], group_buy["max_size"]) == ("open", 2, 5)
    listed = await client.get("/api/v1/group-buys?status=open", headers=headers)
    assert [g["id"] for g in listed.json()["items"]] == [group_buy["id"]]
    cancelled = await client.post(f"/api/v1/group-buys/{group_buy['id']}/cancel", headers=headers)
    assert cancelled.json()["status"] == "cancelled"
    again = await client.post(f"/api/v1/group-buys/{group_buy['id']}/cancel", headers=headers)
    assert again.status_code == 409
    assert again.json()["code"] == "group_buy_closed"


async def test_members_join_by_code_pay_and_share_progress(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    w = await gw.world(db, factory, stock=10)
    made = await client.post("/api/v1/group-buys", json=_body(w), headers=w.shop.headers)
    group_buy_id = made.json()["id"]
    ann = await gw.member(factory, w, "Ann")
    bo = await gw.member(factory, w, "Bo")
    ann_h = await _member_headers(client, w.shop, ann)
    bo_h = await _member_headers(client, w.shop, bo)
    visible = await client.get("/api/v1/me/group-buys", headers=ann_h)
    assert [g["id"] for g in visible.json()["items"]] == [group_buy_id]
    opened = await client.post(
        f"/api/v1/me/group-buys/{group_buy_id}/join",
        json={},
        headers={**ann_h, "Idempotency-Key": key()},
    )
    assert opened.status_code == 201, opened.text
    code = opened.json()["team"]["code"]
    assert (opened.json()["unit_price"], opened.json()["total"]) == (9000, 9000)
    assert opened.json()["team"]["members"] == []  # nobody has paid yet: nobody is shown
    pay = await client.post(
        opened.json()["pay_path"],
        json={"provider": "manual"},
        headers={**ann_h, "Idempotency-Key": key()},
    )
    assert pay.status_code == 201, pay.text
    await gw.pay(db, w, uuid.UUID(opened.json()["order_id"]))  # staff took the cash
    joined = await client.post(
        f"/api/v1/me/group-buys/{group_buy_id}/join",
        json={"code": code.lower()},
        headers={**bo_h, "Idempotency-Key": key()},
    )
    assert joined.status_code == 201, joined.text
    assert joined.json()["unit_price"] == 9000
    twice = await client.post(
        f"/api/v1/me/group-buys/{group_buy_id}/join",
        json={"code": code},
        headers={**bo_h, "Idempotency-Key": key()},
    )
    assert twice.status_code == 409
    assert twice.json()["code"] == "already_in_team"
    too_many = await client.post(
        f"/api/v1/me/group-buys/{group_buy_id}/join",
        json={"portions": 2},
        headers={
            **await _member_headers(client, w.shop, await gw.member(factory, w)),
            "Idempotency-Key": key(),
        },
    )
    assert too_many.status_code == 409
    assert too_many.json()["code"] == "group_buy_limit_reached"
    public = await client.get(f"/api/v1/group-buy-teams/by-code/{code}")
    assert public.status_code == 200
    progress = public.json()
    assert progress["members"] == ["Ann"]
    assert (progress["paid_portions"], progress["seats_taken"], progress["unit_price"]) == (
        1,
        2,
        9000,
    )
    assert progress["next_tier"] == {"size": 2, "unit_price": 9000}
    assert progress["needed_for_next"] == 1
    assert progress["share_path"] == f"/m/group-buys/teams/{code}"
    assert 0 < progress["seconds_left"] <= 3 * 3600
    mine = await client.get(f"/api/v1/me/group-buys/{group_buy_id}/team", headers=bo_h)
    assert mine.json()["code"] == code
    left = await client.post(f"/api/v1/me/group-buys/{group_buy_id}/leave", headers=bo_h)
    assert left.status_code == 200, left.text
    assert left.json()["status"] == "left"
    bo_order = await gw.order(db, uuid.UUID(joined.json()["order_id"]))
    assert bo_order.status == "cancelled"
    staff = await client.get(f"/api/v1/group-buys/{group_buy_id}", headers=w.shop.headers)
    teams = staff.json()["teams"]
    assert [(t["code"], t["size"], t["paid_portions"]) for t in teams] == [(code, 1, 1)]
    unknown = await client.get("/api/v1/group-buy-teams/by-code/NOSUCHCODE")
    assert unknown.status_code == 404


async def test_an_unpaid_join_that_expires_frees_its_seat(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    w = await gw.world(db, factory, stock=10)
    group_buy = await gw.make(db, w, tiers=gw.FRIDAY[:1], max_size=2)
    first = await gw.join(db, w, await gw.member(factory, w), group_buy)
    second = await gw.join(db, w, await gw.member(factory, w), group_buy, code=first.team.code)
    assert (await gw.team(db, first.team.id)).size == 2
    async with db.unit_of_work() as session:
        for order_id in (first.order.order.id, second.order.order.id):
            row = await session.get(Order, order_id)
            assert row is not None
            row.expires_at = clock.now() - timedelta(seconds=1)
    assert await db.run(lambda session: order_tasks.expire_unpaid(session, 100)) == 2
    assert (await gw.team(db, first.team.id)).size == 0
    assert [p.status for p in await gw.participants(db, first.team.id)] == ["cancelled"] * 2
    assert await gw.stock(db, w.product.id) == 10
    third = await gw.join(db, w, await gw.member(factory, w), group_buy, code=first.team.code)
    assert third.team.size == 1


async def test_grouping_by_address_makes_one_team_per_address(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    w = await gw.world(db, factory)
    group_buy = await gw.make(db, w, grouping="address")
    near = {"fulfilment": "delivery", "address": ADDRESS}
    same = {"fulfilment": "delivery", "address": {**ADDRESS, "line1": " 1  mango road "}}
    other = {"fulfilment": "delivery", "address": {**ADDRESS, "line1": "2 Mango Road"}}
    a = await gw.join(db, w, await gw.member(factory, w), group_buy, **near)
    b = await gw.join(db, w, await gw.member(factory, w), group_buy, **same)
    c = await gw.join(db, w, await gw.member(factory, w), group_buy, **other)
    assert a.team.id == b.team.id != c.team.id
    assert (await gw.team(db, a.team.id)).size == 2
    assert await count_rows(db, GroupBuyTeam) == 2
    pickup = await client.post(
        f"/api/v1/me/group-buys/{group_buy.id}/join",
        json={},
        headers={
            **await _member_headers(client, w.shop, await gw.member(factory, w)),
            "Idempotency-Key": key(),
        },
    )
    assert pickup.status_code == 422


async def test_a_schedule_occurrence_is_made_once(db: Database, factory: Factory) -> None:
    w = await gw.world(db, factory)
    now = clock.now()
    async with db.unit_of_work() as session:
        schedule = CampaignSchedule(
            merchant_id=w.shop.tenant.id,
            name="Friday gift packs",
            rule="Fri 20:00-23:00",
            cron="0 20 * * 5",
            duration_seconds=3 * 3600,
            timezone="Asia/Shanghai",
            kind="group_buy",
            template={},
            due_at=now,
            created_by="test",
        )
        session.add(schedule)
    spec = GroupBuySpec(
        product_id=w.product.id,
        tiers=gw.FRIDAY,
        starts_at=now + timedelta(hours=1),
        deadline=now + timedelta(hours=4),
    )

    async def make(session: Any) -> GroupBuy | None:
        await service.check_create(session, w.shop.tenant, spec)
        return await service.do_create(
            session,
            w.shop.tenant,
            spec,
            "schedule",
            schedule_id=schedule.id,
            occurrence_key="2026-12-04",
        )

    made = await fire(4, lambda _: db.run(make))
    assert sorted(m is None for m in made) == [False, True, True, True]
    first = next(m for m in made if m is not None)
    assert (first.status, first.due_at) == ("scheduled", spec.starts_at)
    assert await count_rows(db, GroupBuy) == 1

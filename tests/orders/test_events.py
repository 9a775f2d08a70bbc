"""An events community (scenario 8): capacity is stock, a full event closes sign-up, paid levels
get the event discount, sign-up closes at the deadline, check-in records who came."""

from __future__ import annotations

from datetime import timedelta

from httpx import AsyncClient

from tests.factories import Factory
from tribekit.kit import clock
from tribekit.kit.db import Database

from .store import give_points, open_store, pay, place


async def test_sign_up_check_in_and_no_shows(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    starts = clock.now() + timedelta(days=2)
    talk = await factory.product(
        store.shop,
        kind="event",
        name="Tea tasting",
        price=8000,
        stock=2,
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        place="Greenwood shop",
        signup_deadline=starts - timedelta(hours=1),
    )
    gold = (await factory.member(store.shop)).member
    await give_points(db, store, gold.id, 5000)
    plain = (await factory.member(store.shop)).member
    late = (await factory.member(store.shop)).member
    gold_order = (await place(client, store, gold.id, (talk, 1))).json()
    assert gold_order["lines"][0]["unit_price"] == 6400  # Gold: 20 % off event tickets
    assert gold_order["lines"][0]["price_source"] == "level_discount"
    plain_order = (await place(client, store, plain.id, (talk, 1))).json()
    assert plain_order["total"] == 8000
    full = await place(client, store, late.id, (talk, 1))
    assert full.status_code == 409
    assert "only 0 seats of 'Tea tasting' left" in full.json()["detail"]
    for order in (gold_order, plain_order):
        assert (await pay(client, store, order["id"])).status_code == 201
    listed = await client.get(f"/api/v1/events/{talk.id}/attendees", headers=store.shop.headers)
    assert listed.status_code == 200
    assert listed.json()["capacity_left"] == 0
    attendees = listed.json()["items"]
    assert [(a["member_id"], a["member_name"]) for a in attendees] == [
        (str(gold.id), gold.display_name),
        (str(plain.id), plain.display_name),
    ]
    came = await client.post(
        f"/api/v1/events/{talk.id}/check-ins",
        json={"line_id": attendees[0]["line_id"]},
        headers=store.shop.headers,
    )
    assert came.status_code == 200
    assert came.json()["attendance"] == "attended"
    assert came.json()["member_name"] == gold.display_name
    early = await client.post(
        f"/api/v1/events/{talk.id}/check-ins/close", headers=store.shop.headers
    )
    assert early.status_code == 422
    with clock.frozen_at(starts + timedelta(hours=3)):
        closed = await client.post(
            f"/api/v1/events/{talk.id}/check-ins/close", headers=store.shop.headers
        )
        assert closed.json() == {"no_shows": 1}
        too_late = await place(client, store, late.id, (talk, 1))
        assert too_late.status_code == 422
        assert too_late.json()["code"] == "not_on_sale"
    after = await client.get(f"/api/v1/events/{talk.id}/attendees", headers=store.shop.headers)
    assert [a["attendance"] for a in after.json()["items"]] == ["attended", "no_show"]
    not_event = await client.get(
        f"/api/v1/events/{store.mango.id}/attendees", headers=store.shop.headers
    )
    assert not_event.status_code == 404

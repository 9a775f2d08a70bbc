"""The points ledger through its REST API: balance, history, adjust, redeem, reverse, expiry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import func, select

from tests.factories import Factory, Shop, count_rows
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.worker import WorkerLoop
from tribekit.membership import tasks
from tribekit.models.membership import MembershipAccount, PointsEntry, PointsLot

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


async def post(
    client: AsyncClient, shop: Shop, path: str, body: dict[str, Any], key: str
) -> Response:
    return await client.post(path, json=body, headers={**shop.headers, "Idempotency-Key": key})


async def ledger_totals(db: Database, member_id: uuid.UUID) -> tuple[int, int, int]:
    """(cached balance, sum of entries, sum of lots' remaining points)."""
    async with db.unit_of_work() as session:
        balance = await session.scalar(
            select(MembershipAccount.balance).where(MembershipAccount.member_id == member_id)
        )
        entries = await session.scalar(
            select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
                PointsEntry.member_id == member_id
            )
        )
        lots = await session.scalar(
            select(func.coalesce(func.sum(PointsLot.remaining), 0)).where(
                PointsLot.member_id == member_id
            )
        )
    return int(balance or 0), int(entries or 0), int(lots or 0)


async def test_adjust_and_read_balance_and_history(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    member = (await factory.member(shop)).member
    base = f"/api/v1/members/{member.id}/points"
    with clock.frozen_at(T0):
        first = await post(
            client, shop, f"{base}/adjustments", {"points": 120, "reason": "a"}, "k1"
        )
        second = await post(
            client, shop, f"{base}/adjustments", {"points": -20, "reason": "b"}, "k2"
        )
    assert first.status_code == 201, first.text
    assert first.json()["kind"] == "earn"
    assert first.json()["source"] == "manual"
    assert first.json()["balance_after"] == 120
    assert first.json()["actor"].startswith("staff:")
    assert second.json()["kind"] == "spend"
    assert second.json()["points"] == -20
    assert second.json()["balance_after"] == 100

    balance = (await client.get(base, headers=shop.headers)).json()
    assert balance == {
        "member_id": str(member.id),
        "balance": 100,
        "expiring": [{"expires_at": "2027-01-10T09:00:00Z", "points": 100}],
    }
    page = (await client.get(f"{base}/entries?limit=1", headers=shop.headers)).json()
    assert [e["points"] for e in page["items"]] == [-20]
    rest = await client.get(
        f"{base}/entries?limit=1&cursor={page['next_cursor']}", headers=shop.headers
    )
    assert [e["points"] for e in rest.json()["items"]] == [120]
    assert rest.json()["next_cursor"] is None


async def test_idempotency_key_replays_refuses_other_bodies_and_is_required(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    member = (await factory.member(shop)).member
    path = f"/api/v1/members/{member.id}/points/adjustments"
    first = await post(client, shop, path, {"points": 30, "reason": "gift"}, "same")
    again = await post(client, shop, path, {"points": 30, "reason": "gift"}, "same")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers

    other = await post(client, shop, path, {"points": 31, "reason": "gift"}, "same")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    redeem = await post(
        client,
        shop,
        f"/api/v1/members/{member.id}/points/redemptions",
        {"points": 1, "reward": "mug"},
        "same",
    )
    assert redeem.status_code == 422

    missing = await client.post(path, json={"points": 1, "reason": "x"}, headers=shop.headers)
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await ledger_totals(db, member.id) == (30, 30, 30)
    assert await count_rows(db, PointsEntry) == 1


async def test_redeeming_more_than_the_balance_is_refused_and_writes_nothing(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    member = (await factory.member(shop)).member
    base = f"/api/v1/members/{member.id}/points"
    await post(client, shop, f"{base}/adjustments", {"points": 50, "reason": "x"}, "e")
    refused = await post(client, shop, f"{base}/redemptions", {"points": 51, "reward": "mug"}, "r")
    assert refused.status_code == 409
    assert refused.json()["code"] == "insufficient_points"
    assert refused.json()["balance"] == 50
    removed = await post(client, shop, f"{base}/adjustments", {"points": -51, "reason": "x"}, "m")
    assert removed.status_code == 409
    assert await ledger_totals(db, member.id) == (50, 50, 50)
    assert await count_rows(db, PointsEntry) == 1


async def test_bad_input_is_a_clear_422(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    member = (await factory.member(shop)).member
    base = f"/api/v1/members/{member.id}/points"
    zero = await post(client, shop, f"{base}/adjustments", {"points": 0, "reason": "x"}, "z")
    assert zero.status_code == 422
    assert zero.json()["errors"][0]["loc"] == ["body", "points"]
    no_reason = await post(client, shop, f"{base}/adjustments", {"points": 5}, "n")
    assert no_reason.status_code == 422
    negative = await post(client, shop, f"{base}/redemptions", {"points": -5, "reward": "x"}, "q")
    assert negative.status_code == 422
    unknown = await client.get(f"/api/v1/members/{uuid.uuid4()}/points", headers=shop.headers)
    assert unknown.status_code == 404


async def test_spending_takes_the_oldest_lots_and_expiry_takes_the_rest(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    member = (await factory.member(shop)).member
    base = f"/api/v1/members/{member.id}/points"
    with clock.frozen_at(T0) as frozen:
        await post(client, shop, f"{base}/adjustments", {"points": 100, "reason": "jan"}, "a")
        frozen.advance(timedelta(days=60))
        await post(client, shop, f"{base}/adjustments", {"points": 100, "reason": "mar"}, "b")
        spent = await post(
            client, shop, f"{base}/redemptions", {"points": 150, "reward": "box"}, "c"
        )
        assert spent.status_code == 201
        # January's lot is used up, March's has 50 left; it expires in March next year.
        frozen.at = datetime(2027, 3, 11, 9, 0, tzinfo=UTC)
        handled = await WorkerLoop(db, tasks.SWEEPS).run_sweep(tasks.SWEEPS[0])
    assert handled == 1
    entries = (await client.get(f"{base}/entries", headers=shop.headers)).json()["items"]
    assert [(e["kind"], e["points"], e["balance_after"]) for e in entries] == [
        ("expire", -50, 0),
        ("spend", -150, 50),
        ("earn", 100, 200),
        ("earn", 100, 100),
    ]
    assert await ledger_totals(db, member.id) == (0, 0, 0)


async def test_points_due_to_expire_are_expired_before_a_spend(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    member = (await factory.member(shop)).member
    base = f"/api/v1/members/{member.id}/points"
    with clock.frozen_at(T0) as frozen:
        await post(client, shop, f"{base}/adjustments", {"points": 100, "reason": "x"}, "a")
        frozen.advance(timedelta(days=400))
        late = await post(client, shop, f"{base}/redemptions", {"points": 10, "reward": "x"}, "b")
    assert late.status_code == 409
    assert late.json()["balance"] == 0


async def test_reversing_a_spend_returns_points_to_their_lots_once(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    member = (await factory.member(shop)).member
    base = f"/api/v1/members/{member.id}/points"
    with clock.frozen_at(T0):
        await post(client, shop, f"{base}/adjustments", {"points": 80, "reason": "x"}, "a")
        spend = (
            await post(client, shop, f"{base}/redemptions", {"points": 30, "reward": "x"}, "b")
        ).json()
        undo = await post(
            client, shop, f"{base}/entries/{spend['id']}/reversal", {"reason": "returned"}, "c"
        )
        assert undo.status_code == 201
        assert undo.json()["reverses_id"] == spend["id"]
        assert undo.json()["points"] == 30
        twice = await post(
            client, shop, f"{base}/entries/{spend['id']}/reversal", {"reason": "again"}, "d"
        )
        assert twice.status_code == 409
        assert twice.json()["code"] == "not_reversible"
        of_reversal = await post(
            client, shop, f"{base}/entries/{undo.json()['id']}/reversal", {"reason": "x"}, "e"
        )
        assert of_reversal.status_code == 409
    assert await ledger_totals(db, member.id) == (80, 80, 80)
    balance = (await client.get(base, headers=shop.headers)).json()
    assert balance["expiring"] == [{"expires_at": "2027-01-10T09:00:00Z", "points": 80}]


async def test_reversing_a_spent_earn_takes_what_it_can_and_records_the_shortfall(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    member = (await factory.member(shop)).member
    base = f"/api/v1/members/{member.id}/points"
    earn = (
        await post(client, shop, f"{base}/adjustments", {"points": 100, "reason": "x"}, "a")
    ).json()
    await post(client, shop, f"{base}/adjustments", {"points": 20, "reason": "y"}, "b")
    await post(client, shop, f"{base}/redemptions", {"points": 90, "reward": "x"}, "c")
    undo = await post(client, shop, f"{base}/entries/{earn['id']}/reversal", {"reason": "r"}, "d")
    assert undo.status_code == 201
    assert (undo.json()["points"], undo.json()["shortfall"], undo.json()["balance_after"]) == (
        -30,
        70,
        0,
    )
    assert await ledger_totals(db, member.id) == (0, 0, 0)


async def test_an_entry_of_another_member_cannot_be_reversed_through_this_one(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    one, two = (await factory.member(shop)).member, (await factory.member(shop)).member
    earn = (
        await post(
            client,
            shop,
            f"/api/v1/members/{one.id}/points/adjustments",
            {"points": 5, "reason": "x"},
            "a",
        )
    ).json()
    wrong = await post(
        client,
        shop,
        f"/api/v1/members/{two.id}/points/entries/{earn['id']}/reversal",
        {"reason": "x"},
        "b",
    )
    assert wrong.status_code == 404
    assert await count_rows(db, PointsEntry) == 1

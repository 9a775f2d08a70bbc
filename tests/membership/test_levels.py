"""Levels: scenario 7 end to end, upgrades at once, downgrades at the period end, manual
assignment, paid plans, benefits, the rules' validation."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from tests.factories import Factory, Shop, count_rows
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.worker import WorkerLoop
from tribekit.membership import service, tasks
from tribekit.membership.ledger import Source
from tribekit.membership.schemas import LevelAssign
from tribekit.models.members import MemberEvent
from tribekit.models.membership import LevelChange, PointsEntry

from .ladder import earned, scenario_7

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


async def earn(db: Database, shop: Shop, member_id: uuid.UUID, points: int, key: str) -> None:
    async with db.unit_of_work() as session:
        await service.earn_points(
            session, shop.tenant, member_id, points, source=Source.CAMPAIGN, key=key
        )


async def level_of(client: AsyncClient, shop: Shop, member_id: uuid.UUID) -> dict[str, Any]:
    response = await client.get(f"/api/v1/members/{member_id}/level", headers=shop.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def sweep(db: Database, name: str) -> int:
    found = next(s for s in tasks.SWEEPS if s.name == name)
    return await WorkerLoop(db, tasks.SWEEPS).run_sweep(found)


async def test_a_member_climbs_at_once_skipping_levels_with_each_entry_reward_once(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    ladder = await scenario_7(db, shop, rewards=True)
    member = (await factory.member(shop)).member
    with clock.frozen_at(T0):
        assert (await level_of(client, shop, member.id))["level"]["name"] == "Member"
        await earn(db, shop, member.id, 6000, "big-campaign")
        level = await level_of(client, shop, member.id)
    assert level["level"]["name"] == "Gold"
    assert level["since"] == "2026-03-02T10:00:00Z"
    assert level["review_at"] == "2027-03-02T10:00:00Z"
    assert level["next_level"]["name"] == "Black"
    assert "6,000 points earned in the last 12 months (needs 5,000)" in level["why"]

    async with db.unit_of_work() as session:
        rewards = (
            await session.scalars(
                select(PointsEntry.points)
                .where(PointsEntry.source == "level_reward")
                .order_by(PointsEntry.points)
            )
        ).all()
        changes = (await session.scalars(select(LevelChange))).all()
    assert list(rewards) == [50, 200]  # Silver's and Gold's, once each
    assert [(c.from_level_id, c.to_level_id, c.reason) for c in changes] == [
        (ladder.member.id, ladder.gold.id, "qualified")
    ]

    # Dropping and climbing again grants no second reward.
    with clock.frozen_at(T0 + timedelta(days=1)):
        async with db.unit_of_work() as session:
            await service.assign_level(
                session,
                shop.tenant,
                member.id,
                LevelAssign(level_id=ladder.member.id, reason="test"),
                "staff:test",
            )
        await earn(db, shop, member.id, 1, "one-more")
    assert (await level_of(client, shop, member.id))["level"]["name"] == "Gold"
    assert await count_rows(db, PointsEntry, PointsEntry.source == "level_reward") == 2


async def test_reward_points_do_not_count_toward_levels(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    await scenario_7(db, shop, rewards=True)
    member = (await factory.member(shop)).member
    await earn(db, shop, member.id, 4990, "nearly")  # +50 Silver reward: 5,040 points held
    level = await level_of(client, shop, member.id)
    assert level["level"]["name"] == "Silver"
    assert level["next_level_needs"] == "4,990 points earned in the last 12 months (needs 5,000)"


async def test_gold_doubles_points_on_purchases(factory: Factory, db: Database) -> None:
    shop = await factory.shop()
    await scenario_7(db, shop)
    member = (await factory.member(shop)).member
    async with db.unit_of_work() as session:
        first = await service.record_purchase(
            session, shop.tenant, member.id, ref="order-1", amount=500_099
        )
        second = await service.record_purchase(
            session, shop.tenant, member.id, ref="order-2", amount=10_050
        )
        replay = await service.record_purchase(
            session, shop.tenant, member.id, ref="order-1", amount=500_099
        )
    assert first.points is not None
    assert second.points is not None
    assert first.points.entry.points == 5000  # 5,000.99 at 1 point per 1.00, rounded down
    assert second.points.entry.points == 201  # Gold from order-1 on: 100.50 x 2
    assert replay.points is not None
    assert replay.points.replayed
    assert replay.points.entry.id == first.points.entry.id


async def test_a_member_below_the_threshold_keeps_the_level_until_the_period_ends(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    ladder = await scenario_7(db, shop)
    member = (await factory.member(shop)).member
    with clock.frozen_at(T0) as frozen:
        await earn(db, shop, member.id, 4000, "spring")  # Silver
        frozen.advance(timedelta(days=200))
        await earn(db, shop, member.id, 1200, "autumn")  # Gold, reviewed on 2027-09-18
        frozen.at = datetime(2027, 3, 3, 10, 0, tzinfo=UTC)  # spring's points are out of the window
        assert await sweep(db, "membership.review_levels") == 0
        held = await level_of(client, shop, member.id)
        assert held["level"]["name"] == "Gold"
        assert held["qualified_level"]["name"] == "Silver"
        assert held["why"].startswith("held until the period ends")
        assert held["review_at"] == "2027-09-18T10:00:00Z"

        frozen.at = datetime(2027, 9, 19, 10, 0, tzinfo=UTC)  # the period has ended
        assert await sweep(db, "membership.review_levels") == 1
        after = await level_of(client, shop, member.id)
        assert after["level"]["name"] == "Silver"  # one level at a time, though it earns Member
        assert after["review_at"] == "2028-09-19T10:00:00Z"
        assert await sweep(db, "membership.review_levels") == 0

        frozen.at = datetime(2028, 9, 20, 10, 0, tzinfo=UTC)
        assert await sweep(db, "membership.review_levels") == 1
    assert (await level_of(client, shop, member.id))["level"]["name"] == "Member"
    changes = (
        await client.get(f"/api/v1/members/{member.id}/level-changes", headers=shop.headers)
    ).json()["items"]
    assert [(c["from_level"]["name"], c["to_level"]["name"], c["reason"]) for c in changes] == [
        ("Silver", "Member", "review"),
        ("Gold", "Silver", "review"),
        ("Silver", "Gold", "qualified"),
        ("Member", "Silver", "qualified"),
    ]
    assert changes[1]["detail"] == (
        "evaluation period ended: Gold not kept: "
        "0 points earned in the last 12 months (needs 5,000)"
    )
    assert changes[1]["to_level"]["id"] == str(ladder.silver.id)


async def test_a_downgrade_may_go_straight_to_the_qualified_level(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    await scenario_7(db, shop)
    member = (await factory.member(shop)).member
    patched = await client.patch(
        "/api/v1/membership/settings",
        json={"downgrade": "to_qualified", "review_period": "calendar_year"},
        headers=shop.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["downgrade"] == "to_qualified"
    with clock.frozen_at(T0) as frozen:
        await earn(db, shop, member.id, 5000, "x")
        level = await level_of(client, shop, member.id)
        assert level["review_at"] == "2026-12-31T16:00:00Z"  # 1 January in Asia/Shanghai
        frozen.at = datetime(2028, 1, 2, tzinfo=UTC)
        assert await sweep(db, "membership.review_levels") == 1
    assert (await level_of(client, shop, member.id))["level"]["name"] == "Member"


async def test_staff_assign_a_level_with_a_reason_that_holds_until_the_date_given(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    ladder = await scenario_7(db, shop)
    member = (await factory.member(shop)).member
    with clock.frozen_at(T0) as frozen:
        response = await client.put(
            f"/api/v1/members/{member.id}/level",
            json={
                "level_id": str(ladder.gold.id),
                "reason": "opening-week VIP",
                "hold_until": "2026-04-01T00:00:00Z",
            },
            headers=shop.headers,
        )
        assert response.status_code == 200, response.text
        assert response.json()["level"]["name"] == "Gold"
        assert response.json()["review_at"] == "2026-04-01T00:00:00Z"
        frozen.at = datetime(2026, 4, 2, tzinfo=UTC)
        await sweep(db, "membership.review_levels")
    assert (await level_of(client, shop, member.id))["level"]["name"] == "Silver"
    changes = (
        await client.get(f"/api/v1/members/{member.id}/level-changes", headers=shop.headers)
    ).json()["items"]
    assert changes[1]["reason"] == "manual"
    assert changes[1]["detail"] == "opening-week VIP"
    assert changes[1]["actor"].startswith("staff:")

    past = await client.put(
        f"/api/v1/members/{member.id}/level",
        json={"level_id": str(ladder.gold.id), "reason": "x", "hold_until": "2020-01-01T00:00:00Z"},
        headers=shop.headers,
    )
    assert past.status_code == 422
    unknown = await client.put(
        f"/api/v1/members/{member.id}/level",
        json={"level_id": str(uuid.uuid4()), "reason": "x"},
        headers=shop.headers,
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["body", "level_id"]


async def test_black_card_grants_its_level_extends_reminds_and_ends(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    ladder = await scenario_7(db, shop)
    member = (await factory.member(shop)).member
    await earn(db, shop, member.id, 1200, "history")
    path = f"/api/v1/members/{member.id}/plans"
    body = {"plan_id": str(ladder.black_card.id), "note": "paid cash"}
    with clock.frozen_at(T0) as frozen:
        bought = await client.post(
            path, json=body, headers={**shop.headers, "Idempotency-Key": "card-1"}
        )
        assert bought.status_code == 201, bought.text
        assert bought.json()["period_end"] == "2027-03-02T10:00:00Z"
        assert bought.json()["price"] == 19900
        again = await client.post(
            path, json=body, headers={**shop.headers, "Idempotency-Key": "card-1"}
        )
        assert again.json() == bought.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        assert (await level_of(client, shop, member.id))["level"]["name"] == "Black"

        frozen.at = datetime(2027, 2, 24, 10, 0, tzinfo=UTC)  # a week before it ends
        assert await sweep(db, "membership.remind_plan_renewals") == 1
        assert await sweep(db, "membership.remind_plan_renewals") == 0
        renewed = await client.post(
            path, json=body, headers={**shop.headers, "Idempotency-Key": "card-2"}
        )
        assert renewed.json()["period_start"] == "2027-03-02T10:00:00Z"
        assert renewed.json()["period_end"] == "2028-03-02T10:00:00Z"

        frozen.at = datetime(2028, 3, 2, 10, 0, 1, tzinfo=UTC)
        assert await sweep(db, "membership.end_plans") == 1
    plans = (await client.get(path, headers=shop.headers)).json()["items"]
    assert [(p["plan_name"], p["status"]) for p in plans] == [("Black card", "expired")]
    # The 1,200 points were earned long ago: activity now earns the base level.
    assert (await level_of(client, shop, member.id))["level"]["name"] == "Member"
    kinds = (await client.get(f"/api/v1/members/{member.id}/events", headers=shop.headers)).json()[
        "items"
    ]
    assert [e["kind"] for e in kinds][:4] == [
        "plan.expired",
        "plan.purchased",
        "plan.renewal_due",
        "plan.purchased",
    ]
    reasons = [
        c["reason"]
        for c in (
            await client.get(f"/api/v1/members/{member.id}/level-changes", headers=shop.headers)
        ).json()["items"]
    ]
    assert reasons == ["plan_expired", "plan_granted", "qualified"]


async def test_an_inactive_plan_cannot_be_sold(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    ladder = await scenario_7(db, shop)
    member = (await factory.member(shop)).member
    off = await client.patch(
        f"/api/v1/membership/plans/{ladder.black_card.id}",
        json={"active": False},
        headers=shop.headers,
    )
    assert off.json()["active"] is False
    refused = await client.post(
        f"/api/v1/members/{member.id}/plans",
        json={"plan_id": str(ladder.black_card.id)},
        headers={**shop.headers, "Idempotency-Key": "k"},
    )
    assert refused.status_code == 422
    assert await count_rows(db, MemberEvent, MemberEvent.kind == "plan.purchased") == 0


async def test_benefits_say_what_applies_and_why(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    ladder = await scenario_7(db, shop)
    product = (await factory.product(shop)).id
    await client.put(
        f"/api/v1/membership/levels/{ladder.gold.id}/prices/{product}",
        json={"price": 8800},
        headers=shop.headers,
    )
    member = (await factory.member(shop)).member
    await earn(db, shop, member.id, 5000, "x")
    response = await client.get(f"/api/v1/members/{member.id}/benefits", headers=shop.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["level"]["name"] == "Gold"
    by_name = {b["benefit"]: b for b in body["benefits"]}
    assert by_name["discount"]["applies"] is True
    assert by_name["discount"]["value"] == 1000
    assert by_name["discount"]["why"].startswith("10 % off regular prices: Gold level (")
    assert by_name["points_multiplier"]["why"].startswith("points earned x2 (1 point(s) per 1 CNY)")
    assert by_name["level_prices"]["value"] == 1
    assert by_name["event_discount"]["value"] == 2000
    assert by_name["free_shipping"] == {
        "benefit": "free_shipping",
        "applies": False,
        "value": False,
        "why": "shipping is charged at Gold",
    }
    prices = await client.get(
        f"/api/v1/membership/levels/{ladder.gold.id}/prices", headers=shop.headers
    )
    assert prices.json()["items"] == [
        {
            "level_id": str(ladder.gold.id),
            "product_id": str(product),
            "price": 8800,
            "warnings": [],
        }
    ]
    removed = await client.delete(
        f"/api/v1/membership/levels/{ladder.gold.id}/prices/{product}", headers=shop.headers
    )
    assert removed.status_code == 204
    gone = await client.delete(
        f"/api/v1/membership/levels/{ladder.gold.id}/prices/{product}", headers=shop.headers
    )
    assert gone.status_code == 404


async def test_rules_combine_with_and_or_over_windows(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    await client.post(
        "/api/v1/membership/levels", json={"name": "Base", "rank": 0}, headers=shop.headers
    )
    rule = {
        "any": [
            {"all": [earned(100), {"metric": "order_count", "at_least": 2}]},
            {
                "metric": "amount_spent",
                "at_least": 100_000,
                "window": {"kind": "calendar_year"},
            },
        ]
    }
    created = await client.post(
        "/api/v1/membership/levels",
        json={"name": "Regular", "rank": 1, "rule": rule},
        headers=shop.headers,
    )
    assert created.status_code == 201, created.text
    stored = created.json()["rule"]
    assert stored["any"][0]["all"][1] == {
        "metric": "order_count",
        "at_least": 2,
        "window": {"kind": "lifetime", "months": None},  # defaults written out
    }
    assert stored["any"][1]["window"] == {"kind": "calendar_year", "months": None}
    member = (await factory.member(shop)).member
    with clock.frozen_at(T0):
        async with db.unit_of_work() as session:
            await service.record_purchase(session, shop.tenant, member.id, ref="o1", amount=20_000)
        assert (await level_of(client, shop, member.id))["level"]["name"] == "Base"
        async with db.unit_of_work() as session:
            await service.record_purchase(session, shop.tenant, member.id, ref="o2", amount=1_000)
        level = await level_of(client, shop, member.id)
    assert level["level"]["name"] == "Regular"
    assert level["why"] == (
        "((210 points earned in the last 12 months (needs 100) and 2 orders in total (needs 2))"
        " or 210.00 CNY spent this calendar year (needs 1000.00 CNY))"
    )


async def test_bad_rules_and_duplicates_are_refused(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    bad = [
        {"metric": "points_earned", "at_least": 1, "window": {"kind": "rolling_months"}},
        {"metric": "paid_plan", "plan_id": str(uuid.uuid4())},
        {"all": [{"all": [{"all": [{"all": [earned(1)]}]}]}]},
        {"metric": "mood", "at_least": 1},
        {"all": []},
    ]
    for rule in bad:
        response = await client.post(
            "/api/v1/membership/levels",
            json={"name": "X", "rank": 5, "rule": rule},
            headers=shop.headers,
        )
        assert response.status_code == 422, rule
    first = await client.post(
        "/api/v1/membership/levels", json={"name": "Silver", "rank": 1}, headers=shop.headers
    )
    assert first.status_code == 201
    same_rank = await client.post(
        "/api/v1/membership/levels", json={"name": "Other", "rank": 1}, headers=shop.headers
    )
    assert same_rank.status_code == 409
    listed = await client.get("/api/v1/membership/levels", headers=shop.headers)
    assert [lvl["name"] for lvl in listed.json()["items"]] == ["Silver"]


async def test_birthday_points_once_a_year(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    ladder = await scenario_7(db, shop)
    await client.patch(
        f"/api/v1/membership/levels/{ladder.member.id}",
        json={"birthday_points": 88},
        headers=shop.headers,
    )
    born = (await factory.member(shop, birthday=date(1990, 3, 2))).member
    await factory.member(shop, birthday=date(1990, 3, 3))
    with clock.frozen_at(datetime(2026, 3, 1, 17, 0, tzinfo=UTC)):  # 2 March 01:00 in Shanghai
        assert await sweep(db, "membership.birthday_gifts") == 1
        assert await sweep(db, "membership.birthday_gifts") == 0
    entries = (
        await client.get(f"/api/v1/members/{born.id}/points/entries", headers=shop.headers)
    ).json()["items"]
    assert [(e["source"], e["points"]) for e in entries] == [("birthday", 88)]


async def test_merging_members_moves_points_purchases_plans_and_the_higher_level(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    ladder = await scenario_7(db, shop)
    keep = (await factory.member(shop, display_name="Keep")).member
    duplicate = (await factory.member(shop, display_name="Duplicate")).member
    with clock.frozen_at(T0) as frozen:
        await earn(db, shop, keep.id, 300, "keep")
        await earn(db, shop, duplicate.id, 5200, "dup-early")  # Gold
        frozen.advance(timedelta(days=30))
        async with db.unit_of_work() as session:
            await service.record_purchase(
                session, shop.tenant, duplicate.id, ref="dup-order", amount=10_000
            )
        await client.post(
            f"/api/v1/members/{duplicate.id}/plans",
            json={"plan_id": str(ladder.black_card.id)},
            headers={**shop.headers, "Idempotency-Key": "dup-card"},
        )
        merged = await client.post(
            f"/api/v1/members/{keep.id}/merge",
            json={"source_member_id": str(duplicate.id)},
            headers=shop.headers,
        )
        assert merged.status_code == 200, merged.text
        balance = (
            await client.get(f"/api/v1/members/{keep.id}/points", headers=shop.headers)
        ).json()
        level = await level_of(client, shop, keep.id)
    assert balance["balance"] == 300 + 5200 + 200  # the order earned double points at Gold
    assert balance["expiring"] == [
        {"expires_at": "2027-03-02T10:00:00Z", "points": 5500},  # each lot keeps its expiry
        {"expires_at": "2027-04-01T10:00:00Z", "points": 200},
    ]
    assert level["level"]["name"] == "Black"  # the plan moved with the person
    plans = (await client.get(f"/api/v1/members/{keep.id}/plans", headers=shop.headers)).json()
    assert [p["plan_name"] for p in plans["items"]] == ["Black card"]
    async with db.unit_of_work() as session:
        left = await session.scalar(
            select(PointsEntry.balance_after)
            .where(PointsEntry.member_id == duplicate.id)
            .order_by(PointsEntry.id.desc())
            .limit(1)
        )
    assert left == 0
    assert await count_rows(db, PointsEntry, PointsEntry.source == "merge") == 3  # 1 out, 2 in


async def test_a_level_without_a_rule_is_reached_by_hand_only(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    for name, rank in (("Member", 0), ("Staff friend", 5)):
        created = await client.post(
            "/api/v1/membership/levels", json={"name": name, "rank": rank}, headers=shop.headers
        )
        assert created.status_code == 201
    member = (await factory.member(shop)).member
    await earn(db, shop, member.id, 100_000, "lots")
    level = await level_of(client, shop, member.id)
    assert level["level"]["name"] == "Member"
    assert level["next_level_needs"] == "no rule: reached by hand only"


async def test_lowering_a_threshold_lifts_members_who_now_qualify(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    ladder = await scenario_7(db, shop)
    silver = (await factory.member(shop)).member
    base = (await factory.member(shop)).member
    await earn(db, shop, silver.id, 3500, "silver")
    await earn(db, shop, base.id, 200, "base")
    await sweep(db, "membership.apply_rule_changes")  # the pass the ladder's creation asked for
    changed = await client.patch(
        f"/api/v1/membership/levels/{ladder.gold.id}",
        json={"rule": earned(3000)},
        headers=shop.headers,
    )
    assert changed.status_code == 200
    assert (await level_of(client, shop, silver.id))["level"]["name"] == "Silver"  # not at once
    assert await sweep(db, "membership.apply_rule_changes") == 2
    assert await sweep(db, "membership.apply_rule_changes") == 0
    lifted = await level_of(client, shop, silver.id)
    assert lifted["level"]["name"] == "Gold"
    assert (await level_of(client, shop, base.id))["level"]["name"] == "Member"
    changes = (
        await client.get(f"/api/v1/members/{silver.id}/level-changes", headers=shop.headers)
    ).json()["items"]
    assert (changes[0]["reason"], changes[0]["detail"]) == (
        "qualified",
        "3,500 points earned in the last 12 months (needs 3,000)",
    )


async def test_renaming_onto_another_level_or_plan_is_a_conflict(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    ladder = await scenario_7(db, shop)
    level = await client.patch(
        f"/api/v1/membership/levels/{ladder.gold.id}", json={"rank": 1}, headers=shop.headers
    )
    assert level.status_code == 409
    other = await client.post(
        "/api/v1/membership/plans",
        json={
            "name": "Gift card",
            "level_id": str(ladder.gold.id),
            "price": 1,
            "duration_months": 1,
        },
        headers=shop.headers,
    )
    assert other.status_code == 201
    plan = await client.patch(
        f"/api/v1/membership/plans/{other.json()['id']}",
        json={"name": "Black card"},
        headers=shop.headers,
    )
    assert plan.status_code == 409
    gold = await client.get(f"/api/v1/membership/levels/{ladder.gold.id}", headers=shop.headers)
    assert gold.json()["rank"] == 2


async def test_a_typo_in_a_rule_metric_is_one_error_naming_the_metrics(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    response = await client.post(
        "/api/v1/membership/levels",
        json={
            "name": "X",
            "rank": 5,
            "rule": {"all": [earned(1), {"metric": "points_earnd", "at_least": 1}]},
        },
        headers=shop.headers,
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert [(e["loc"], e["message"]) for e in problem["errors"]] == [
        (
            ["body", "rule", "all", "all", 1],
            "Value error, unknown metric 'points_earnd'; the metrics are points_earned, "
            "amount_spent, order_count, paid_plan",
        )
    ]
    listed = await client.get("/api/v1/membership/levels", headers=shop.headers)
    assert listed.json()["items"] == []

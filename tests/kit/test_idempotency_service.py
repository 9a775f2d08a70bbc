"""The idempotency service without HTTP: a chat command delivered twice (the robot's case) runs
once and gets the stored reply again; another command under the key is refused; a run that
rolls back stores nothing; on PostgreSQL a duplicate racing the first run gets a 409."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select

from tests.factories import Factory, Shop, count_rows
from tribekit.idempotency.service import Outcome, run_once
from tribekit.kit.db import Database
from tribekit.kit.errors import IdempotencyInProgress, IdempotencyKeyReused
from tribekit.kit.idempotency import fingerprint
from tribekit.membership import service as membership
from tribekit.membership.ledger import InsufficientPoints, PointsLedger, Source
from tribekit.models.membership import PointsEntry
from tribekit.models.orders import IdempotencyRecord

SCOPE = "robot:telegram:4242"


async def _member_with_points(
    db: Database, factory: Factory, points: int
) -> tuple[Shop, uuid.UUID]:
    shop = await factory.shop()
    member = (await factory.member(shop)).member
    async with db.unit_of_work() as session:
        await membership.earn_points(
            session, shop.tenant, member.id, points, source=Source.MANUAL, key="seed"
        )
    return shop, member.id


async def _redeem(
    db: Database,
    shop: Shop,
    member_id: uuid.UUID,
    message_id: str,
    points: int,
    scope: str = SCOPE,
) -> tuple[str, bool]:
    """The robot's "redeem" command: spend points, reply with the balance left."""
    async with db.unit_of_work() as session:

        async def spend() -> str:
            posting = await PointsLedger(session, shop.tenant).spend(
                member_id, points, source=Source.REWARD, key=f"{scope}:{message_id}", ref="tea"
            )
            return f"{points} points spent; {posting.entry.balance_after} left"

        done = await run_once(
            session,
            merchant_id=shop.tenant.id,
            scope=scope,
            key=message_id,
            fingerprint=fingerprint("redeem", member=member_id, points=points),
            fn=spend,
            encode=lambda reply: Outcome({"reply": reply}),
        )
        return done.outcome.value["reply"], done.replayed


async def _spent(db: Database, member_id: uuid.UUID) -> int:
    async with db.unit_of_work() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
                PointsEntry.member_id == member_id, PointsEntry.kind == "spend"
            )
        )
    return int(total or 0)


async def test_a_command_delivered_twice_runs_once_and_replays_its_reply(
    db: Database, factory: Factory
) -> None:
    shop, member_id = await _member_with_points(db, factory, 500)
    first = await _redeem(db, shop, member_id, "msg-1", 120)
    again = await _redeem(db, shop, member_id, "msg-1", 120)
    assert first == ("120 points spent; 380 left", False)
    assert again == ("120 points spent; 380 left", True)
    assert await _spent(db, member_id) == -120
    with pytest.raises(IdempotencyKeyReused, match="'msg-1' was already used"):
        await _redeem(db, shop, member_id, "msg-1", 50)
    assert await _spent(db, member_id) == -120  # the refused command changed nothing
    # The same message id in another chat is another command.
    elsewhere = await _redeem(db, shop, member_id, "msg-1", 50, scope="robot:telegram:77")
    assert elsewhere == ("50 points spent; 330 left", False)
    assert await count_rows(db, IdempotencyRecord) == 2


async def test_a_run_that_rolls_back_stores_nothing_and_may_run_again(
    db: Database, factory: Factory
) -> None:
    shop, member_id = await _member_with_points(db, factory, 100)
    with pytest.raises(InsufficientPoints):
        await _redeem(db, shop, member_id, "msg-2", 300)
    assert await count_rows(db, IdempotencyRecord) == 0
    assert await _redeem(db, shop, member_id, "msg-2", 300 - 200) == (
        "100 points spent; 0 left",
        False,
    )


async def test_a_duplicate_racing_the_first_run_is_told_to_retry(
    db: Database, factory: Factory
) -> None:
    shop, member_id = await _member_with_points(db, factory, 500)
    started, finish = asyncio.Event(), asyncio.Event()

    async def slow_first() -> str:
        async with db.unit_of_work() as session:

            async def spend() -> str:
                await PointsLedger(session, shop.tenant).spend(
                    member_id, 10, source=Source.REWARD, key=f"{SCOPE}:msg-3"
                )
                started.set()
                await finish.wait()
                return "done"

            done = await run_once(
                session,
                merchant_id=shop.tenant.id,
                scope=SCOPE,
                key="msg-3",
                fingerprint=fingerprint("redeem", member=member_id, points=10),
                fn=spend,
                encode=lambda reply: Outcome({"reply": reply}),
            )
            return str(done.outcome.value["reply"])

    first = asyncio.create_task(slow_first())
    if db.dialect == "postgresql":
        await started.wait()
        with pytest.raises(IdempotencyInProgress, match="'msg-3' is being handled"):
            await _redeem(db, shop, member_id, "msg-3", 10)
        finish.set()
        assert await first == "done"
    else:
        finish.set()  # one writer at a time: the duplicate waits its turn and replays
        assert await first == "done"
    assert await _redeem(db, shop, member_id, "msg-3", 10) == ("done", True)
    assert await _spent(db, member_id) == -10

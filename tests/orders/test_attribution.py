"""Referral codes and campaign ids are refused until the domains that own them exist."""

from __future__ import annotations

import uuid

from httpx import AsyncClient

from tests.factories import Factory, count_rows
from tribekit.kit.db import Database
from tribekit.models.orders import Order

from .store import open_store, place


async def test_referral_code_and_campaign_id_are_refused_and_nothing_is_placed(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    for attribution, field, owner in (
        ({"referral_code": "ALICE"}, "referral_code", "referrals"),
        ({"campaign_id": str(uuid.uuid4())}, "campaign_id", "campaigns"),
    ):
        refused = await place(client, store, member.id, (store.mango, 1), attribution=attribution)
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["code"] == "validation_failed"
        assert [(e["loc"], e["message"]) for e in problem["errors"]] == [
            (
                ["body", "attribution", field],
                f"Value error, this Tribekit has no {owner} yet to check it against; leave it out",
            )
        ]
    assert await count_rows(db, Order) == 0
    plain = await place(
        client, store, member.id, (store.mango, 1), attribution={"referral_code": None}
    )
    assert plain.status_code == 201
    assert (plain.json()["referral_code"], plain.json()["campaign_id"]) == (None, None)

"""Erasure leaves nothing that identifies the person in any table; export holds every table."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from httpx import AsyncClient
from sqlalchemy import JSON, String, select

import tribekit.models  # noqa: F401  # every table in Base.metadata
from tests.concurrency import fire
from tests.factories import Factory
from tests.orders.store import Store, key, open_store
from tribekit.kit.db import Base, Database
from tribekit.models.membership import MembershipAccount
from tribekit.models.orders import Order

NAME = "Zhang Xiaoming"
PHONE = "13912345678"
EMAIL = "xiaoming.zhang@example.org"
STREET = "88 Plum Blossom Road"
FLAT = "Flat 1702"
POSTAL = "200031"
FRIEND = "Wang Meili"
USERNAME = "xmzhang88"
# Every spelling the test writes, lower-cased; phones are also looked for with separators removed.
NEEDLES = [
    NAME.lower(),
    "xiaoming",
    PHONE,
    EMAIL,
    STREET.lower(),
    FLAT.lower(),
    POSTAL,
    FRIEND.lower(),
    USERNAME,
]


async def _setup(client: AsyncClient, store: Store) -> tuple[str, str, str]:
    """A member with a profile, an address, an identity, a community, an order delivered to a
    friend, paid, partly refunded, points adjusted by hand, and a paid plan; and another member
    with an order. Returns (member id, order id, other order id)."""
    headers = store.shop.headers
    member = await client.post(
        "/api/v1/members",
        json={
            "display_name": NAME,
            "phone": PHONE,
            "email": EMAIL,
            "birthday": "1991-03-04",
            "notes": f"prefers calls on {PHONE}",
            "addresses": [
                {
                    "recipient": NAME,
                    "line1": STREET,
                    "line2": FLAT,
                    "city": "Shanghai",
                    "postal_code": POSTAL,
                    "country": "CN",
                    "phone": PHONE,
                }
            ],
            "identities": [{"channel": "telegram", "external_id": "5550001", "username": USERNAME}],
        },
        headers={**headers, "Idempotency-Key": key()},
    )
    assert member.status_code == 201, member.text
    member_id = member.json()["id"]
    group = await client.post(
        "/api/v1/communities", json={"name": "Plum fans", "channel": "telegram"}, headers=headers
    )
    joined = await client.post(
        f"/api/v1/communities/{group.json()['id']}/members",
        json={"member_id": member_id},
        headers=headers,
    )
    assert joined.status_code in (200, 201), joined.text
    order = await client.post(
        "/api/v1/orders",
        json={
            "member_id": member_id,
            "lines": [{"product_id": str(store.mango.id), "quantity": 2}],
            "fulfilment": "delivery",
            "address": {
                "recipient": FRIEND,
                "phone": "139 1234 5678",
                "line1": STREET,
                "line2": FLAT,
                "city": "Shanghai",
                "postal_code": POSTAL,
                "country": "CN",
            },
            "note": f"call 139-1234-5678 or mail {EMAIL.upper()}, ask for Xiaoming",
        },
        headers=store.headers(),
    )
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    paid = await client.post(
        f"/api/v1/orders/{order_id}/payments",
        json={"provider": "manual", "reference": f"transfer from {NAME}"},
        headers=store.headers(),
    )
    assert paid.status_code == 201, paid.text
    line_id = order.json()["lines"][0]["id"]
    refunded = await client.post(
        f"/api/v1/orders/{order_id}/refunds",
        json={
            "reason": f"Xiaoming returned one; call +86 {PHONE}",
            "lines": [{"line_id": line_id, "quantity": 1}],
        },
        headers=store.headers(),
    )
    assert refunded.status_code == 201, refunded.text
    adjusted = await client.post(
        f"/api/v1/members/{member_id}/points/adjustments",
        json={"points": 30, "reason": f"goodwill for {NAME}"},
        headers=store.headers(),
    )
    assert adjusted.status_code == 201, adjusted.text
    plan = await client.post(
        f"/api/v1/members/{member_id}/plans",
        json={"plan_id": str(store.ladder.black_card.id), "note": f"cash from {NAME} at {STREET}"},
        headers=store.headers(),
    )
    assert plan.status_code == 201, plan.text

    other = await client.post(
        "/api/v1/members", json={"display_name": "Keep Me", "phone": "13700137000"}, headers=headers
    )
    other_order = await client.post(
        "/api/v1/orders",
        json={
            "member_id": other.json()["id"],
            "lines": [{"product_id": str(store.mango.id), "quantity": 1}],
            "note": "leave at the door of Keep Me",
        },
        headers=store.headers(),
    )
    assert other_order.status_code == 201, other_order.text
    return member_id, order_id, other_order.json()["id"]


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [json.dumps(value, ensure_ascii=False)]


async def _dump(db: Database) -> list[tuple[str, str, str]]:
    """(table, column, text) for every text or JSON value of every table."""
    found = []
    async with db.unit_of_work() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | JSON)]
            if not columns:
                continue
            for row in (await session.execute(select(*columns))).all():
                for column, value in zip(columns, row, strict=True):
                    found += [(table.name, column.name, text) for text in _texts(value)]
    return found


def _leaks(dump: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    leaks = []
    for table, column, text in dump:
        lower = text.lower()
        squeezed = re.sub(r"[\s\-().]", "", lower)
        if any(n in lower for n in NEEDLES) or PHONE in squeezed:
            leaks.append((table, column, text))
    return leaks


async def test_erasure_leaves_none_of_the_member_in_any_table(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    store = await open_store(db, factory)
    member_id, order_id, other_order_id = await _setup(client, store)
    before = _leaks(await _dump(db))
    # The set-up really spread the person over many tables.
    assert {table for table, _, _ in before} >= {
        "members",
        "member_addresses",
        "member_identities",
        "member_events",
        "orders",
        "payments",
        "refunds",
        "points_entries",
        "idempotency_records",
    }
    async with db.unit_of_work() as session:
        account_before = await session.get(MembershipAccount, uuid.UUID(member_id))
        assert account_before is not None
        balance_before = account_before.balance

    erased = await client.delete(f"/api/v1/members/{member_id}", headers=store.shop.headers)
    assert erased.status_code == 204

    assert _leaks(await _dump(db)) == []
    async with db.unit_of_work() as session:
        order = await session.get(Order, uuid.UUID(order_id))
        other = await session.get(Order, uuid.UUID(other_order_id))
        account = await session.get(MembershipAccount, uuid.UUID(member_id))
    assert order is not None
    assert other is not None
    assert account is not None
    assert order.address == {
        "recipient": "[erased]",
        "phone": None,
        "line1": "[erased]",
        "line2": None,
        "city": "Shanghai",
        "region": None,
        "postal_code": None,
        "country": "CN",
    }
    assert order.address_key is None
    assert order.note == "call [erased] or mail [erased], ask for [erased]"
    assert (order.total, order.refunded_amount) == (2000, 1000)  # the money history stays
    assert account.balance == balance_before  # the ledger stays whole under the pseudonym
    assert other.note == "leave at the door of Keep Me"  # other members are not touched


async def test_export_holds_every_table_about_the_member(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    store = await open_store(db, factory)
    member_id, order_id, other_order_id = await _setup(client, store)
    response = await client.get(f"/api/v1/members/{member_id}/export", headers=store.shop.headers)
    assert response.status_code == 200, response.text
    export = response.json()
    assert set(export) == {
        "exported_at",
        "merchant",
        "member",
        "events",
        "membership",
        "communities",
        "orders",
        "tables",
    }
    assert export["membership"]["level"] == "Black"
    assert export["membership"]["points_balance"] == 40  # 20 earned, 10 reversed, 30 by hand
    assert [p["plan"] for p in export["membership"]["plans"]] == ["Black card"]
    assert [(c["name"], c["channel"]) for c in export["communities"]] == [("Plum fans", "telegram")]
    assert [o["id"] for o in export["orders"]] == [order_id]  # not the other member's
    order = export["orders"][0]
    assert order["note"] == f"call 139-1234-5678 or mail {EMAIL.upper()}, ask for Xiaoming"
    assert [(line["quantity"], line["refunded_quantity"]) for line in order["order_lines"]] == [
        (2, 1)
    ]
    assert [p["reference"] for p in order["payments"]] == [f"transfer from {NAME}"]
    assert [r["amount"] for r in order["refunds"]] == [1000]
    assert [e["kind"] for e in order["order_events"]] == ["placed", "paid", "refunded"]
    tables = export["tables"]
    assert {
        "members" not in tables,
        "member_addresses" in tables,
        "member_identities" in tables,
        "community_members" in tables,
        "membership_accounts" in tables,
        "points_entries" in tables,
        "level_changes" in tables,
        "plan_subscriptions" in tables,
        "plan_purchases" in tables,
        "member_events" in tables,
    } == {True}
    assert [a["line1"] for a in tables["member_addresses"]] == [STREET]
    assert [i["username"] for i in tables["member_identities"]] == [USERNAME]
    assert tables["membership_accounts"][0]["balance"] == 40
    assert sorted(e["points"] for e in tables["points_entries"]) == [-10, 20, 30]
    assert [c["reason"] for c in tables["level_changes"]] == ["plan_granted"]
    assert all("request_hash" not in row for rows in tables.values() for row in rows)
    assert other_order_id not in json.dumps(export)


async def test_erasure_racing_refunds_and_payments_of_the_member_orders_never_fails(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    store = await open_store(db, factory)
    member_id, order_id, _ = await _setup(client, store)
    second = await client.post(
        "/api/v1/orders",
        json={
            "member_id": member_id,
            "lines": [{"product_id": str(store.cherries.id), "quantity": 1}],
        },
        headers=store.headers(),
    )
    assert second.status_code == 201, second.text

    async def act(i: int) -> int:
        if i == 0:
            response = await client.delete(
                f"/api/v1/members/{member_id}", headers=store.shop.headers
            )
        elif i == 1:
            response = await client.post(
                f"/api/v1/orders/{order_id}/refunds",
                json={"reason": f"rest of it for {NAME}"},
                headers=store.headers(),
            )
        else:
            response = await client.post(
                f"/api/v1/orders/{second.json()['id']}/payments",
                json={"provider": "manual", "reference": f"cash from {NAME}"},
                headers=store.headers(),
            )
        return response.status_code

    statuses = await fire(3, act)
    # The refund and the payment commit before or after the erasure, never fail because of it.
    assert statuses == [204, 201, 201]
    async with db.unit_of_work() as session:
        order = await session.get(Order, uuid.UUID(order_id))
    assert order is not None
    assert order.note == "call [erased] or mail [erased], ask for [erased]"
    assert order.address is not None
    assert order.address["recipient"] == "[erased]"
    # Only what the racing calls themselves wrote (a reason, a reference, their stored answers)
    # can still name the person: text a caller sends after an erasure is theirs to send.
    leaks = _leaks(await _dump(db))
    assert {table for table, _, _ in leaks} <= {"refunds", "payments", "idempotency_records"}

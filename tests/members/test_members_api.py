"""Members through the HTTP API: create, read, change, list, erase, export, timeline, identities,
merge, and what happens when many requests race for the same phone or identity."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import select

from tests.concurrency import fire
from tests.factories import Factory, Shop, count_rows
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models import (
    CommunityMember,
    Member,
    MemberAddress,
    MemberEvent,
    MemberIdentity,
    MemberTag,
    StaffUser,
)

API = "/api/v1/members"
PHONE_PROBLEM = (
    "'{raw}' is not a valid phone number in CN; write it with its country code, "
    "like +86 138 0013 8000"
)
HOME = {"label": "home", "recipient": "Lin Wei", "line1": "1 Fruit Road", "city": "Shanghai"}
OFFICE = {"label": "office", "recipient": "Lin Wei", "line1": "9 Tower St", "city": "Hangzhou"}


# ---------------------------------------------------------------------------------------- helpers


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _address(fields: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The API's view of an address sent as ``fields`` (all optional fields present)."""
    full: dict[str, Any] = {
        "label": None,
        "recipient": None,
        "phone": None,
        "line1": None,
        "line2": None,
        "city": None,
        "region": None,
        "postal_code": None,
        "country": "CN",
        "is_default": False,
    }
    full.update(fields)
    full.update(changes)
    return full


def _without_ids(addresses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in a.items() if k != "id"} for a in addresses]


async def _create(client: AsyncClient, shop: Shop, **body: Any) -> dict[str, Any]:
    body.setdefault("display_name", "Lin Wei")
    response = await client.post(API, json=body, headers=shop.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _get(client: AsyncClient, shop: Shop, member_id: str) -> dict[str, Any]:
    response = await client.get(f"{API}/{member_id}", headers=shop.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def _listed(client: AsyncClient, shop: Shop, **params: Any) -> list[str]:
    response = await client.get(API, params={"limit": 200, **params}, headers=shop.headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def _ids(client: AsyncClient, shop: Shop, **params: Any) -> set[str]:
    return set(await _listed(client, shop, **params))


async def _events(client: AsyncClient, shop: Shop, member_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"{API}/{member_id}/events?limit=200", headers=shop.headers)
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _kinds(client: AsyncClient, shop: Shop, member_id: str) -> list[str]:
    return [e["kind"] for e in await _events(client, shop, member_id)]


async def _actor(db: Database, shop: Shop) -> str:
    async with db.unit_of_work() as session:
        user_id = await session.scalar(
            select(StaffUser.id).where(StaffUser.email == shop.owner_email)
        )
    return f"staff:{user_id}"


async def _next_millisecond() -> None:
    """Ids are UUIDv7 (millisecond resolution): make sure the next row is visibly newer."""
    await asyncio.sleep(0.003)


async def _community(client: AsyncClient, shop: Shop, external_id: str) -> str:
    response = await client.post(
        "/api/v1/communities",
        json={"name": f"Group {external_id}", "channel": "telegram", "external_id": external_id},
        headers=shop.headers,
    )
    assert response.status_code == 201, response.text
    community_id: str = response.json()["id"]
    return community_id


async def _join(client: AsyncClient, shop: Shop, community_id: str, member_id: str) -> None:
    response = await client.post(
        f"/api/v1/communities/{community_id}/members",
        json={"member_id": member_id},
        headers=shop.headers,
    )
    assert response.status_code == 200, response.text


def _problem_locs(response: Response) -> list[list[str | int]]:
    return [e["loc"] for e in response.json()["errors"]]


# ----------------------------------------------------------------------------------------- create


async def test_create_normalises_phone_email_and_tags_and_records_consent(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    now = clock.now().replace(microsecond=0) - timedelta(minutes=5)
    with clock.frozen_at(now):
        body = await _create(
            client,
            shop,
            display_name="Lin Wei",
            phone="138 0013 8000",
            email="Lin.Wei@Example.COM",
            birthday="1990-05-17",
            tags=["VIP", "vip ", " Office", "office"],
            source="store_qr",
            source_ref="counter",
            marketing_consent=True,
            consent_source="join page",
            notes="likes durian",
        )
    assert uuid.UUID(body["id"]).version == 7
    assert {k: v for k, v in body.items() if not k.endswith("_at") and k != "id"} == {
        "display_name": "Lin Wei",
        "phone": "+8613800138000",
        "email": "lin.wei@example.com",
        "birthday": "1990-05-17",
        "tags": ["office", "vip"],
        "source": "store_qr",
        "source_ref": "counter",
        "marketing_consent": True,
        "consent_source": "join page",
        "blocked": False,
        "notes": "likes durian",
        "addresses": [],
        "identities": [],
        "community_ids": [],
    }
    for name in ("consent_at", "joined_at", "created_at", "updated_at"):
        assert _at(body[name]) == now, name

    stored = await _get(client, shop, body["id"])
    assert stored["phone"] == "+8613800138000"
    assert stored["tags"] == ["office", "vip"]
    assert _at(stored["consent_at"]) == now
    assert stored["consent_source"] == "join page"

    events = await _events(client, shop, body["id"])
    actor = await _actor(db, shop)
    assert sorted((e["kind"], e["actor"], _at(e["at"])) for e in events) == [
        ("consent_given", actor, now),
        ("created", actor, now),
    ]
    assert {e["kind"]: e["data"] for e in events} == {
        "created": {"source": "store_qr", "source_ref": "counter"},
        "consent_given": {"consent_source": "join page"},
    }
    assert await count_rows(db, MemberTag, MemberTag.member_id == uuid.UUID(body["id"])) == 2


async def test_create_response_is_what_a_get_returns(client: AsyncClient, factory: Factory) -> None:
    """The member returned by POST is the same document GET returns afterwards."""
    shop = await factory.shop()
    created = await _create(
        client,
        shop,
        display_name="Lin Wei",
        phone="13800138000",
        joined_at="2024-01-10T08:00:00+08:00",
        marketing_consent=True,
        tags=["b", "a"],
    )
    assert _at(created["joined_at"]) == datetime(2024, 1, 10, 0, 0, tzinfo=UTC)
    assert await _get(client, shop, created["id"]) == created


async def test_consent_without_a_source_says_api_and_no_consent_has_no_fields(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    consenting = await _create(client, shop, display_name="Yes", marketing_consent=True)
    assert consenting["consent_source"] == "api"
    assert consenting["consent_at"] is not None

    silent = await _create(client, shop, display_name="No", consent_source="join page")
    assert (silent["marketing_consent"], silent["consent_at"], silent["consent_source"]) == (
        False,
        None,
        None,
    )
    assert await _kinds(client, shop, silent["id"]) == ["created"]


async def test_an_invalid_phone_is_422_on_the_phone_field_and_creates_nothing(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    response = await client.post(
        API, json={"display_name": "Lin", "phone": "12345"}, headers=shop.headers
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["errors"] == [
        {"loc": ["body", "phone"], "message": PHONE_PROBLEM.format(raw="12345"), "type": "phone"}
    ]

    letters = await client.post(
        API, json={"display_name": "Lin", "phone": "call me"}, headers=shop.headers
    )
    assert letters.status_code == 422
    assert letters.json()["errors"] == [
        {"loc": ["body", "phone"], "message": "'call me' is not a phone number", "type": "phone"}
    ]

    address_phone = await client.post(
        API,
        json={
            "display_name": "Lin",
            "addresses": [HOME | {"country": "CN"}, OFFICE | {"country": "CN", "phone": "999"}],
        },
        headers=shop.headers,
    )
    assert address_phone.status_code == 422
    assert _problem_locs(address_phone) == [["body", "addresses", 1, "phone"]]
    assert await _listed(client, shop) == []


async def test_identities_and_addresses_are_stored_and_the_first_address_is_the_default(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    created = await _create(
        client,
        shop,
        identities=[{"channel": "telegram", "external_id": "731928374", "username": "linwei"}],
        addresses=[{**HOME, "phone": "139 0013 9000", "country": "cn"}, OFFICE | {"country": "CN"}],
    )
    assert [
        {k: v for k, v in i.items() if k not in ("id", "created_at")} for i in created["identities"]
    ] == [{"channel": "telegram", "external_id": "731928374", "username": "linwei"}]
    expected = [
        _address(HOME, phone="+8613900139000", is_default=True),
        _address(OFFICE),
    ]
    assert _without_ids(created["addresses"]) == expected

    stored = await _get(client, shop, created["id"])
    # (The order of rows written in one request is checked on its own, below.)
    by_label = sorted(_without_ids(stored["addresses"]), key=lambda a: str(a["label"]))
    assert by_label == expected
    assert stored["identities"] == created["identities"]


async def test_an_explicit_default_address_stays_the_only_default(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    created = await _create(
        client,
        shop,
        addresses=[HOME | {"country": "CN"}, OFFICE | {"country": "CN", "is_default": True}],
    )
    assert [(a["label"], a["is_default"]) for a in created["addresses"]] == [
        ("home", False),
        ("office", True),
    ]


async def test_addresses_come_back_in_the_order_they_were_given(
    client: AsyncClient, factory: Factory
) -> None:
    """Addresses written in one request keep their order on every later read."""
    shop = await factory.shop()
    labels = [f"address {i}" for i in range(8)]
    created = await _create(
        client,
        shop,
        addresses=[{**HOME, "label": label, "country": "CN"} for label in labels],
    )
    assert [a["label"] for a in created["addresses"]] == labels
    stored = await _get(client, shop, created["id"])
    assert [a["label"] for a in stored["addresses"]] == labels


async def test_two_default_addresses_are_422_and_create_nothing(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    response = await client.post(
        API,
        json={
            "display_name": "Lin",
            "addresses": [
                {**HOME, "country": "CN", "is_default": True},
                {**OFFICE, "country": "CN", "is_default": True},
            ],
        },
        headers=shop.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"loc": ["body", "addresses"], "message": "more than one is_default", "type": "default"}
    ]
    assert await _listed(client, shop) == []
    assert await count_rows(db, MemberAddress) == 0


async def test_the_same_identity_twice_in_one_request_is_422(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    twice = {"channel": "telegram", "external_id": "42"}
    response = await client.post(
        API, json={"display_name": "Lin", "identities": [twice, twice]}, headers=shop.headers
    )
    assert response.status_code == 422
    assert _problem_locs(response) == [["body", "identities"]]
    assert await count_rows(db, Member) == 0


# -------------------------------------------------------------------------------------------- get


async def test_get_an_unknown_member_is_404(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    missing = uuid.uuid4()
    response = await client.get(f"{API}/{missing}", headers=shop.headers)
    assert response.status_code == 404
    assert response.json()["detail"] == f"no member with id {missing} at this merchant"


async def test_another_merchants_member_is_404(client: AsyncClient, factory: Factory) -> None:
    mine, theirs = await factory.shop(), await factory.shop()
    member = await _create(client, theirs, phone="13800138000")
    assert (await client.get(f"{API}/{member['id']}", headers=mine.headers)).status_code == 404
    patch = await client.patch(
        f"{API}/{member['id']}", json={"display_name": "Mine now"}, headers=mine.headers
    )
    assert patch.status_code == 404
    assert (await client.delete(f"{API}/{member['id']}", headers=mine.headers)).status_code == 404
    assert await _get(client, theirs, member["id"]) == member
    # Phones are unique per merchant, not platform-wide.
    assert (await _create(client, mine, phone="13800138000"))["phone"] == "+8613800138000"


# ------------------------------------------------------------------------------------------ patch


async def test_patch_changes_only_the_fields_sent(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    created = await _create(
        client,
        shop,
        display_name="Lin Wei",
        phone="13800138000",
        email="lin@example.com",
        birthday="1990-05-17",
        tags=["vip"],
        source_ref="counter",
        notes="old",
        addresses=[HOME | {"country": "CN"}],
        identities=[{"channel": "matrix", "external_id": "@lin:example.org"}],
    )
    await _next_millisecond()
    response = await client.patch(
        f"{API}/{created['id']}",
        json={"notes": "new", "email": "LIN.W@Example.com", "phone": "+86 139-0013-9000"},
        headers=shop.headers,
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    unchanged = {"notes", "email", "phone", "updated_at"}
    assert {k: v for k, v in changed.items() if k not in unchanged} == {
        k: v for k, v in created.items() if k not in unchanged
    }
    assert (changed["notes"], changed["email"], changed["phone"]) == (
        "new",
        "lin.w@example.com",
        "+8613900139000",
    )
    assert _at(changed["updated_at"]) > _at(created["updated_at"])
    assert await _get(client, shop, created["id"]) == changed

    events = await _events(client, shop, created["id"])
    assert events[0]["kind"] == "updated"
    assert sorted(events[0]["data"]["fields"]) == ["email", "notes", "phone"]

    # Sending the values a member already has changes nothing and records nothing.
    same = await client.patch(
        f"{API}/{created['id']}", json={"notes": "new", "blocked": False}, headers=shop.headers
    )
    assert same.status_code == 200
    assert same.json()["notes"] == "new"
    assert await count_rows(db, MemberEvent, MemberEvent.kind == "updated") == 1

    # The phone can be removed (null is allowed for optional fields).
    cleared = await client.patch(
        f"{API}/{created['id']}", json={"phone": None, "notes": None}, headers=shop.headers
    )
    assert (cleared.json()["phone"], cleared.json()["notes"]) == (None, None)
    assert cleared.json()["email"] == "lin.w@example.com"


async def test_patch_replaces_tags_and_addresses(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    created = await _create(
        client, shop, tags=["vip", "office"], addresses=[HOME | {"country": "CN"}]
    )
    response = await client.patch(
        f"{API}/{created['id']}",
        json={"tags": ["Durian", "durian", "new"], "addresses": [OFFICE | {"country": "CN"}]},
        headers=shop.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == ["durian", "new"]
    assert _without_ids(response.json()["addresses"]) == [_address(OFFICE, is_default=True)]
    stored = await _get(client, shop, created["id"])
    assert stored["tags"] == ["durian", "new"]
    assert _without_ids(stored["addresses"]) == [_address(OFFICE, is_default=True)]

    emptied = await client.patch(
        f"{API}/{created['id']}", json={"tags": [], "addresses": []}, headers=shop.headers
    )
    assert (emptied.json()["tags"], emptied.json()["addresses"]) == ([], [])
    assert (await _get(client, shop, created["id"]))["tags"] == []
    assert await _ids(client, shop, tag="vip") == set()


async def test_patch_null_for_a_required_field_is_422_and_changes_nothing(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    created = await _create(client, shop, display_name="Lin Wei", tags=["vip"])
    for field in ("display_name", "blocked", "marketing_consent", "tags", "addresses"):
        response = await client.patch(
            f"{API}/{created['id']}",
            json={field: None, "notes": "must not be written"},
            headers=shop.headers,
        )
        assert response.status_code == 422, field
        assert response.json()["errors"] == [
            {"loc": ["body", field], "message": "null is not allowed here", "type": "null"}
        ]
    assert await _get(client, shop, created["id"]) == created
    assert await count_rows(db, MemberEvent, MemberEvent.kind == "updated") == 0


async def test_patch_to_another_members_phone_is_409_and_changes_nothing(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    first = await _create(client, shop, display_name="First", phone="13800138000")
    second = await _create(client, shop, display_name="Second", phone="13900139000")
    response = await client.patch(
        f"{API}/{second['id']}",
        json={"phone": "138 0013 8000", "display_name": "Renamed"},
        headers=shop.headers,
    )
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "another member already has the phone number +8613800138000; merge the two members instead"
    )
    assert await _get(client, shop, second["id"]) == second
    assert await _get(client, shop, first["id"]) == first


async def test_withdrawing_consent_writes_a_consent_withdrawn_event(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    given_at = clock.now().replace(microsecond=0) - timedelta(days=3)
    with clock.frozen_at(given_at):
        created = await _create(client, shop, marketing_consent=True, consent_source="join page")
    withdrawn_at = given_at + timedelta(days=2)
    await _next_millisecond()
    with clock.frozen_at(withdrawn_at):
        response = await client.patch(
            f"{API}/{created['id']}",
            json={"marketing_consent": False, "consent_source": "unsubscribe link"},
            headers=shop.headers,
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["marketing_consent"] is False
    assert _at(body["consent_at"]) == withdrawn_at
    assert body["consent_source"] == "unsubscribe link"

    events = await _events(client, shop, created["id"])
    assert [(e["kind"], e["data"], _at(e["at"])) for e in events[:1]] == [
        ("consent_withdrawn", {"consent_source": "unsubscribe link"}, withdrawn_at)
    ]
    assert sorted(e["kind"] for e in events) == ["consent_given", "consent_withdrawn", "created"]
    assert events[0]["actor"] == await _actor(db, shop)

    # Withdrawing again is no change and records nothing.
    again = await client.patch(
        f"{API}/{created['id']}", json={"marketing_consent": False}, headers=shop.headers
    )
    assert again.status_code == 200
    assert len(await _events(client, shop, created["id"])) == 3


# ----------------------------------------------------------------------------------- uniqueness


async def test_a_duplicate_phone_is_409_and_creates_nothing(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    first = await _create(client, shop, display_name="First", phone="13800138000")
    before = await _listed(client, shop)
    response = await client.post(
        API,
        json={
            "display_name": "Second",
            "phone": "+86 138-0013-8000",
            "tags": ["x"],
            "identities": [{"channel": "telegram", "external_id": "1"}],
        },
        headers=shop.headers,
    )
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert response.json()["detail"] == (
        "another member already has the phone number +8613800138000; merge the two members instead"
    )
    assert await _listed(client, shop) == before == [first["id"]]
    assert await count_rows(db, Member) == 1
    assert await count_rows(db, MemberTag) == 0
    assert await count_rows(db, MemberIdentity) == 0
    assert await count_rows(db, MemberEvent) == 1


async def test_an_identity_of_another_member_is_409_and_the_new_member_is_not_created(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    owner = await _create(
        client,
        shop,
        display_name="Owner of the id",
        identities=[{"channel": "telegram", "external_id": "731928374"}],
    )
    members_before = await count_rows(db, Member)
    response = await client.post(
        API,
        json={
            "display_name": "Newcomer",
            "phone": "13900139000",
            "tags": ["new"],
            "addresses": [HOME | {"country": "CN"}],
            "identities": [
                {"channel": "matrix", "external_id": "@new:example.org"},
                {"channel": "telegram", "external_id": "731928374"},
            ],
        },
        headers=shop.headers,
    )
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "the telegram identity '731928374' belongs to another member"
    )
    assert await count_rows(db, Member) == members_before == 1
    assert await _listed(client, shop) == [owner["id"]]
    assert await count_rows(db, MemberIdentity) == 1
    assert await count_rows(db, MemberTag) == 0
    assert await count_rows(db, MemberAddress) == 0
    assert await count_rows(db, MemberEvent) == 1
    # The phone of the refused request is still free.
    assert (await _create(client, shop, phone="13900139000"))["phone"] == "+8613900139000"


async def test_twenty_concurrent_creates_with_one_phone_make_one_member(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()

    async def create(i: int) -> int:
        response = await client.post(
            API,
            json={"display_name": f"Racer {i}", "phone": "138 0013 8000", "tags": [f"t{i}"]},
            headers=shop.headers,
        )
        return response.status_code

    statuses = await fire(20, create)
    assert sorted(statuses) == [201] + [409] * 19
    assert len(await _listed(client, shop)) == 1
    assert await count_rows(db, Member) == 1
    assert await count_rows(db, MemberTag) == 1
    assert await count_rows(db, MemberEvent) == 1


async def test_twenty_concurrent_links_of_one_identity_make_one_link(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    members = [str((await factory.member(shop)).member.id) for _ in range(20)]

    async def link(i: int) -> int:
        response = await client.post(
            f"{API}/{members[i]}/identities",
            json={"channel": "telegram", "external_id": "555000"},
            headers=shop.headers,
        )
        return response.status_code

    statuses = await fire(20, link)
    assert sorted(statuses) == [201] + [409] * 19
    winner = members[statuses.index(201)]
    assert await count_rows(db, MemberIdentity) == 1
    assert await count_rows(db, MemberIdentity, MemberIdentity.member_id == uuid.UUID(winner)) == 1
    assert await count_rows(db, MemberEvent, MemberEvent.kind == "identity_added") == 1


# ------------------------------------------------------------------------------------------- list


async def test_list_filters_select_exactly_the_matching_members(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    other = await factory.shop()
    alice = await _create(
        client,
        shop,
        display_name="Alice Wang",
        phone="13800138000",
        tags=["vip"],
        source="store_qr",
        source_ref="counter",
        joined_at="2024-01-10T00:00:00Z",
    )
    bob = await _create(
        client,
        shop,
        display_name="Bob Li",
        phone="13900139001",
        tags=["VIP", "office"],
        source="event",
        source_ref="expo-2024",
        joined_at="2024-02-10T00:00:00Z",
        blocked=True,
    )
    carol = await _create(
        client,
        shop,
        display_name="Carol 100% Alice",
        source="manual",
        source_ref="counter",
        joined_at="2024-03-10T00:00:00Z",
    )
    dan = await _create(
        client,
        shop,
        display_name="Dan_Smith",
        phone="+1 415 555 2671",
        source="referral",
        joined_at="2024-04-10T08:00:00+08:00",
    )
    await _create(client, other, display_name="Alice Elsewhere", phone="13800138000", tags=["vip"])
    a, b, c, d = alice["id"], bob["id"], carol["id"], dan["id"]
    group = await _community(client, shop, "-100200")
    await _join(client, shop, group, a)
    await _join(client, shop, group, c)

    assert await _listed(client, shop) == [d, c, b, a]
    assert await _ids(client, shop, tag="vip") == {a, b}
    assert await _ids(client, shop, tag="VIP") == {a, b}
    assert await _ids(client, shop, tag="office") == {b}
    assert await _ids(client, shop, tag="nobody") == set()
    assert await _ids(client, shop, source="store_qr") == {a}
    assert await _ids(client, shop, source="event") == {b}
    assert await _ids(client, shop, source="import") == set()
    assert await _ids(client, shop, source_ref="counter") == {a, c}
    assert await _ids(client, shop, source="manual", source_ref="counter") == {c}
    assert await _ids(client, shop, community_id=group) == {a, c}
    assert await _ids(client, shop, community_id=str(uuid.uuid4())) == set()
    assert await _ids(client, shop, joined_from="2024-02-10T00:00:00Z") == {b, c, d}
    assert await _ids(client, shop, joined_to="2024-03-10T00:00:00Z") == {a, b}
    assert await _ids(
        client, shop, joined_from="2024-02-10T00:00:00Z", joined_to="2024-03-10T00:00:00Z"
    ) == {b}
    # Dan joined at 2024-04-10 00:00 UTC; the bounds compare instants, not wall-clock text.
    assert await _ids(client, shop, joined_from="2024-04-10T07:59:59+08:00") == {d}
    assert await _ids(client, shop, joined_from="2024-04-10T08:00:01+08:00") == set()
    assert await _ids(client, shop, blocked="true") == {b}
    assert await _ids(client, shop, blocked="false") == {a, c, d}
    assert await _ids(client, shop, tag="vip", blocked="false") == {a}
    assert await _ids(client, shop, q="alice") == {a, c}
    assert await _ids(client, shop, q="ALICE wang") == {a}
    assert await _ids(client, shop, q="100%") == {c}
    assert await _ids(client, shop, q="n_s") == {d}
    assert await _ids(client, shop, q="138 0013") == {a}
    assert await _ids(client, shop, q="0013") == {a, b}
    assert await _ids(client, shop, q="4155552671") == {d}
    assert await _ids(client, shop, q="zzz") == set()

    bad_source = await client.get(API, params={"source": "flyer"}, headers=shop.headers)
    assert bad_source.status_code == 422
    assert _problem_locs(bad_source) == [["query", "source"]]
    naive = await client.get(
        API, params={"joined_from": "2024-01-01T00:00:00"}, headers=shop.headers
    )
    assert naive.status_code == 422
    assert _problem_locs(naive) == [["query", "joined_from"]]


async def test_cursor_pagination_walks_every_member_once_newest_first(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    created: list[str] = []
    for _ in range(7):
        created.append(str((await factory.member(shop)).member.id))
        await _next_millisecond()
    newest_first = list(reversed(created))

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(API, params=params, headers=shop.headers)
        assert response.status_code == 200
        pages.append([m["id"] for m in response.json()["items"]])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for page in pages for i in page] == newest_first

    exact = await client.get(API, params={"limit": 7}, headers=shop.headers)
    assert exact.json()["next_cursor"] is None
    assert [m["id"] for m in exact.json()["items"]] == newest_first


async def test_a_bad_cursor_is_422(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    await factory.member(shop)
    for bad in ("not-a-cursor!", "AAAA"):
        response = await client.get(API, params={"cursor": bad}, headers=shop.headers)
        assert response.status_code == 422, bad
        body = response.json()
        assert body["code"] == "validation_failed"
        assert body["errors"] == [
            {
                "loc": ["query", "cursor"],
                "message": "not a cursor returned by this API",
                "type": "invalid",
            }
        ]


# ------------------------------------------------------------------------------ erase and export


async def test_erase_wipes_personal_data_and_keeps_a_pseudonymous_row(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    keep = await _create(client, shop, display_name="Keep Me", phone="13900139000")
    gone = await _create(
        client,
        shop,
        display_name="Lin Wei",
        phone="13800138000",
        email="lin@example.com",
        birthday="1990-05-17",
        source_ref="counter",
        notes="likes durian",
        marketing_consent=True,
        tags=["vip"],
        addresses=[HOME | {"country": "CN"}],
        identities=[{"channel": "telegram", "external_id": "731928374"}],
    )
    member_id = gone["id"]
    response = await client.delete(f"{API}/{member_id}", headers=shop.headers)
    assert response.status_code == 204
    assert response.content == b""

    assert (await client.get(f"{API}/{member_id}", headers=shop.headers)).status_code == 404
    assert await _listed(client, shop) == [keep["id"]]
    assert await _ids(client, shop, q="lin") == set()
    assert (await client.get(f"{API}/{member_id}/export", headers=shop.headers)).status_code == 404
    assert (await client.get(f"{API}/{member_id}/events", headers=shop.headers)).status_code == 404
    assert (await client.delete(f"{API}/{member_id}", headers=shop.headers)).status_code == 404

    async with db.unit_of_work() as session:
        row = await session.scalar(select(Member).where(Member.id == uuid.UUID(member_id)))
        kinds = (
            await session.scalars(
                select(MemberEvent.kind).where(MemberEvent.member_id == uuid.UUID(member_id))
            )
        ).all()
    assert row is not None
    assert {
        "display_name": row.display_name,
        "phone": row.phone,
        "email": row.email,
        "birthday": row.birthday,
        "source_ref": row.source_ref,
        "notes": row.notes,
        "marketing_consent": row.marketing_consent,
        "consent_at": row.consent_at,
        "consent_source": row.consent_source,
    } == {
        "display_name": "(erased member)",
        "phone": None,
        "email": None,
        "birthday": None,
        "source_ref": "counter",  # which QR code brought them: not personal, kept for analytics
        "notes": None,
        "marketing_consent": False,
        "consent_at": None,
        "consent_source": None,
    }
    assert row.erased_at is not None
    assert sorted(kinds) == ["consent_given", "created", "erased"]
    for model in (MemberTag, MemberAddress, MemberIdentity):
        assert await count_rows(db, model, model.member_id == uuid.UUID(member_id)) == 0

    # The erased member's phone and identity are free for a new member.
    again = await _create(
        client,
        shop,
        phone="138 0013 8000",
        identities=[{"channel": "telegram", "external_id": "731928374"}],
    )
    assert again["phone"] == "+8613800138000"


async def test_export_holds_the_member_and_the_whole_timeline(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    created = await _create(client, shop, phone="13800138000", tags=["vip"], marketing_consent=True)
    await _next_millisecond()
    await client.patch(f"{API}/{created['id']}", json={"notes": "hi"}, headers=shop.headers)
    current = await _get(client, shop, created["id"])

    now = clock.now().replace(microsecond=0)
    with clock.frozen_at(now):
        response = await client.get(f"{API}/{created['id']}/export", headers=shop.headers)
    assert response.status_code == 200
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
    assert _at(export["exported_at"]) == now
    assert export["merchant"] == shop.tenant.slug
    assert export["member"] == current
    actor = await _actor(db, shop)
    assert sorted((e["kind"], e["actor"]) for e in export["events"]) == [
        ("consent_given", actor),
        ("created", actor),
        ("updated", actor),
    ]
    assert export["events"][-1]["data"] == {"fields": ["notes"]}
    timeline = await _events(client, shop, created["id"])
    assert sorted(e["id"] for e in export["events"]) == sorted(e["id"] for e in timeline)

    missing = await client.get(f"{API}/{uuid.uuid4()}/export", headers=shop.headers)
    assert missing.status_code == 404


# --------------------------------------------------------------------------------------- timeline


async def test_the_timeline_is_newest_first_and_paginated(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    member = await _create(client, shop, display_name="Lin")
    url = f"{API}/{member['id']}"
    await _next_millisecond()
    await client.patch(url, json={"display_name": "Lin Wei"}, headers=shop.headers)
    await _next_millisecond()
    await client.patch(url, json={"marketing_consent": True}, headers=shop.headers)
    await _next_millisecond()
    await client.post(
        f"{url}/identities", json={"channel": "wecom", "external_id": "w1"}, headers=shop.headers
    )

    first = await client.get(f"{url}/events", params={"limit": 2}, headers=shop.headers)
    assert first.status_code == 200
    cursor = first.json()["next_cursor"]
    assert cursor is not None
    second = await client.get(
        f"{url}/events", params={"limit": 2, "cursor": cursor}, headers=shop.headers
    )
    assert second.json()["next_cursor"] is None
    events = first.json()["items"] + second.json()["items"]
    assert [(e["kind"], e["data"]) for e in events] == [
        ("identity_added", {"channel": "wecom"}),
        ("consent_given", {"consent_source": "api"}),
        ("updated", {"fields": ["display_name"]}),
        ("created", {"source": "manual", "source_ref": None}),
    ]
    assert {e["actor"] for e in events} == {await _actor(db, shop)}
    assert len({e["id"] for e in events}) == 4

    unknown = await client.get(f"{API}/{uuid.uuid4()}/events", headers=shop.headers)
    assert unknown.status_code == 404


# ------------------------------------------------------------------------------------- identities


async def test_identities_are_added_and_removed(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    member = await _create(client, shop)
    url = f"{API}/{member['id']}/identities"
    added = await client.post(
        url,
        json={"channel": "telegram", "external_id": "731928374", "username": "linwei"},
        headers=shop.headers,
    )
    assert added.status_code == 201, added.text
    identity = added.json()
    assert {k: v for k, v in identity.items() if k not in ("id", "created_at")} == {
        "channel": "telegram",
        "external_id": "731928374",
        "username": "linwei",
    }
    assert (await _get(client, shop, member["id"]))["identities"] == [identity]

    # The same external id on another channel is a different identity.
    matrix = await client.post(
        url, json={"channel": "matrix", "external_id": "731928374"}, headers=shop.headers
    )
    assert matrix.status_code == 201

    removed = await client.delete(f"{url}/{identity['id']}", headers=shop.headers)
    assert removed.status_code == 204
    remaining = (await _get(client, shop, member["id"]))["identities"]
    assert [(i["channel"], i["external_id"]) for i in remaining] == [("matrix", "731928374")]
    again = await client.delete(f"{url}/{identity['id']}", headers=shop.headers)
    assert again.status_code == 404
    assert again.json()["detail"] == (
        f"member {member['id']} has no identity with id {identity['id']}"
    )
    kinds = sorted(await _kinds(client, shop, member["id"]))
    assert kinds == ["created", "identity_added", "identity_added", "identity_removed"]

    unknown_member = await client.post(
        f"{API}/{uuid.uuid4()}/identities",
        json={"channel": "web", "external_id": "x"},
        headers=shop.headers,
    )
    assert unknown_member.status_code == 404
    assert await count_rows(db, MemberIdentity) == 1


async def test_an_identity_is_removed_only_through_its_own_member(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    owner = await _create(client, shop, identities=[{"channel": "telegram", "external_id": "1"}])
    stranger = await _create(client, shop, display_name="Stranger")
    identity_id = owner["identities"][0]["id"]
    response = await client.delete(
        f"{API}/{stranger['id']}/identities/{identity_id}", headers=shop.headers
    )
    assert response.status_code == 404
    assert (await _get(client, shop, owner["id"]))["identities"] == owner["identities"]
    assert await count_rows(db, MemberEvent, MemberEvent.kind == "identity_removed") == 0


async def test_linking_an_identity_owned_by_another_member_is_409_and_changes_nothing(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    owner = await _create(
        client, shop, identities=[{"channel": "telegram", "external_id": "731928374"}]
    )
    other = await _create(client, shop, display_name="Other")
    response = await client.post(
        f"{API}/{other['id']}/identities",
        json={"channel": "telegram", "external_id": "731928374"},
        headers=shop.headers,
    )
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "the telegram identity '731928374' belongs to another member"
    )
    assert (await _get(client, shop, other["id"]))["identities"] == []
    assert (await _get(client, shop, owner["id"]))["identities"] == owner["identities"]
    assert await _kinds(client, shop, other["id"]) == ["created"]


# ------------------------------------------------------------------------------------------ merge


async def test_merge_moves_everything_to_the_target_and_the_source_disappears(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    target = await _create(
        client,
        shop,
        display_name="Lin Wei",
        tags=["vip"],
        joined_at="2024-03-01T00:00:00Z",
        addresses=[HOME | {"country": "CN"}],
        identities=[{"channel": "telegram", "external_id": "731928374"}],
    )
    await _next_millisecond()
    source = await _create(
        client,
        shop,
        display_name="Wei Lin (duplicate)",
        phone="13800138000",
        email="lin@example.com",
        notes="from the store",
        tags=["vip", "office"],
        joined_at="2024-01-01T00:00:00Z",
        addresses=[OFFICE | {"country": "CN"}],
        identities=[{"channel": "matrix", "external_id": "@lin:example.org"}],
    )
    shared, only_source = (
        await _community(client, shop, "-1001"),
        await _community(client, shop, "-1002"),
    )
    await _join(client, shop, shared, target["id"])
    await _join(client, shop, shared, source["id"])
    await _join(client, shop, only_source, source["id"])
    await _next_millisecond()

    response = await client.post(
        f"{API}/{target['id']}/merge",
        json={"source_member_id": source["id"]},
        headers=shop.headers,
    )
    assert response.status_code == 200, response.text
    merged = response.json()
    assert merged["id"] == target["id"]
    assert merged["display_name"] == "Lin Wei"
    assert merged["phone"] == "+8613800138000"
    assert merged["email"] == "lin@example.com"
    assert merged["notes"] == "from the store"
    assert _at(merged["joined_at"]) == datetime(2024, 1, 1, tzinfo=UTC)
    assert merged["tags"] == ["office", "vip"]
    assert sorted((i["channel"], i["external_id"]) for i in merged["identities"]) == [
        ("matrix", "@lin:example.org"),
        ("telegram", "731928374"),
    ]
    assert sorted(merged["community_ids"]) == sorted([shared, only_source])
    assert sorted(a["label"] for a in merged["addresses"]) == ["home", "office"]
    assert await _get(client, shop, target["id"]) == merged

    assert (await client.get(f"{API}/{source['id']}", headers=shop.headers)).status_code == 404
    assert await _listed(client, shop) == [target["id"]]
    kinds = sorted(await _kinds(client, shop, target["id"]))
    assert kinds == ["created", "created", "merged"]
    events = await _events(client, shop, target["id"])
    assert events[0]["kind"] == "merged"
    assert events[0]["data"] == {"merged_member_id": source["id"]}
    for community in (shared, only_source):
        got = await client.get(f"/api/v1/communities/{community}", headers=shop.headers)
        assert got.json()["member_count"] == 1
    assert await _ids(client, shop, community_id=only_source) == {target["id"]}
    assert await count_rows(db, MemberTag) == 2
    assert await count_rows(db, CommunityMember) == 2

    # The phone moved with the member: nobody else can take it.
    taken = await client.post(
        API, json={"display_name": "X", "phone": "13800138000"}, headers=shop.headers
    )
    assert taken.status_code == 409
    # Merging the (now gone) source again is a 404.
    again = await client.post(
        f"{API}/{target['id']}/merge",
        json={"source_member_id": source["id"]},
        headers=shop.headers,
    )
    assert again.status_code == 404


async def test_merge_leaves_the_target_with_one_default_address(
    client: AsyncClient, factory: Factory
) -> None:
    """Both members have a default address; after the merge the target's stays the only one."""
    shop = await factory.shop()
    target = await _create(client, shop, display_name="T", addresses=[HOME | {"country": "CN"}])
    source = await _create(client, shop, display_name="S", addresses=[OFFICE | {"country": "CN"}])
    response = await client.post(
        f"{API}/{target['id']}/merge",
        json={"source_member_id": source["id"]},
        headers=shop.headers,
    )
    assert response.status_code == 200
    assert sorted((a["label"], a["is_default"]) for a in response.json()["addresses"]) == [
        ("home", True),
        ("office", False),
    ]


async def test_merge_keeps_the_targets_own_phone(client: AsyncClient, factory: Factory) -> None:
    shop = await factory.shop()
    target = await _create(client, shop, display_name="T", phone="13800138000")
    source = await _create(client, shop, display_name="S", phone="13900139000")
    response = await client.post(
        f"{API}/{target['id']}/merge",
        json={"source_member_id": source["id"]},
        headers=shop.headers,
    )
    assert response.status_code == 200
    assert response.json()["phone"] == "+8613800138000"
    # The source's phone is free again.
    assert (await _create(client, shop, phone="13900139000"))["phone"] == "+8613900139000"


async def test_merging_a_member_into_itself_is_422_and_changes_nothing(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    member = await _create(client, shop, phone="13800138000")
    response = await client.post(
        f"{API}/{member['id']}/merge",
        json={"source_member_id": member["id"]},
        headers=shop.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"loc": ["body", "source_member_id"], "message": "same as the target", "type": "same"}
    ]
    assert await _get(client, shop, member["id"]) == member
    assert await _kinds(client, shop, member["id"]) == ["created"]


async def test_merging_an_unknown_member_is_404_and_changes_nothing(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()
    other = await factory.shop()
    member = await _create(client, shop, phone="13800138000")
    stranger = await _create(client, other, phone="13900139000")
    for source_id in (str(uuid.uuid4()), stranger["id"]):
        response = await client.post(
            f"{API}/{member['id']}/merge",
            json={"source_member_id": source_id},
            headers=shop.headers,
        )
        assert response.status_code == 404
        assert response.json()["detail"] == f"no member with id {source_id} at this merchant"
    unknown_target = uuid.uuid4()
    response = await client.post(
        f"{API}/{unknown_target}/merge",
        json={"source_member_id": member["id"]},
        headers=shop.headers,
    )
    assert response.status_code == 404
    assert await _get(client, shop, member["id"]) == member
    assert await _get(client, other, stranger["id"]) == stranger
    assert await _kinds(client, shop, member["id"]) == ["created"]

"""Campaign schedules through the API: made with a rule, a template and texts, read with their
coming occurrences, changed with the version read, paused, resumed and removed; what cannot
make a campaign is refused with a message naming the field, and nothing is written."""

# ruff: noqa: RUF001  # Chinese texts use full-width punctuation on purpose
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from httpx import AsyncClient

from tests.factories import Factory, count_rows
from tribekit.campaigns.group_buys.spec import Tier
from tribekit.campaigns.schedules import service, templates
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.models.campaigns import CampaignSchedule
from tribekit.models.enums import Role

from .world import API, flash_template, gift_pack_template, products, schedule

MONDAY = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


async def test_a_schedule_is_made_and_shows_its_coming_occurrences(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    mango, lychee = await products(factory, shop, "Mango box", "Lychee box")
    with clock.frozen_at(MONDAY):
        made = await schedule(
            client,
            shop,
            "Mon-Thu 20:00 for 2 h",
            flash_template(mango, lychee, price=1990),
            announcements={"start": {"en": "{product} at {price}!"}},
        )
        assert made["kind"] == "flash_sale"
        assert made["words"] == {
            "en": "every Monday to Thursday at 20:00, for 2 h",
            "zh-CN": "每周一至周四 20:00，持续2小时",
        }
        assert (made["cron"], made["duration_seconds"], made["timezone"]) == (
            "0 20 * * 1-4",
            7200,
            "Asia/Shanghai",
        )
        assert (made["version"], made["rotation_index"], made["active"]) == (1, 0, True)
        assert made["announcements"] == {"start": {"en": "{product} at {price}!"}}
        assert [
            (c["local_start"], c["starts_at"], c["ends_at"], c["status"], c["product_id"])
            for c in made["coming"]
        ] == [
            (
                "2026-12-07T20:00",
                "2026-12-07T12:00:00Z",
                "2026-12-07T14:00:00Z",
                "planned",
                str(mango),
            ),
            (
                "2026-12-08T20:00",
                "2026-12-08T12:00:00Z",
                "2026-12-08T14:00:00Z",
                "planned",
                str(lychee),
            ),
            (
                "2026-12-09T20:00",
                "2026-12-09T12:00:00Z",
                "2026-12-09T14:00:00Z",
                "planned",
                str(mango),
            ),
            (
                "2026-12-10T20:00",
                "2026-12-10T12:00:00Z",
                "2026-12-10T14:00:00Z",
                "planned",
                str(lychee),
            ),
            (
                "2026-12-14T20:00",
                "2026-12-14T12:00:00Z",
                "2026-12-14T14:00:00Z",
                "planned",
                str(mango),
            ),
        ]
        got = await client.get(f"{API}/{made['id']}", headers=shop.headers)
        assert got.status_code == 200
        assert got.headers["ETag"] == '"1"'
        assert got.json() == made
        listed = await client.get(API, params={"kind": "flash_sale"}, headers=shop.headers)
        assert [s["id"] for s in listed.json()["items"]] == [made["id"]]
        none = await client.get(API, params={"kind": "group_buy"}, headers=shop.headers)
        assert none.json()["items"] == []


async def test_what_cannot_make_a_campaign_is_refused_and_nothing_is_written(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop, other = await factory.shop(), await factory.shop()
    (mango,) = await products(factory, shop, "Mango box")
    (theirs,) = await products(factory, other, "Their box")

    async def refused(
        rule: str, template: dict[str, object], **fields: object
    ) -> tuple[int, str, str]:
        data = {"name": "Sale", "rule": rule, "template": template, **fields}
        answer = await client.post(API, json=data, headers=shop.headers)
        body = answer.json()
        return answer.status_code, body["code"], body["detail"]

    status, code, detail = await refused("Mon-Thu 20:00 for 30 h", flash_template(mango))
    assert (status, code) == (422, "schedule_rule_invalid")
    assert "it understood every Monday to Thursday at 20:00, for 30 h" in detail
    assert await refused("Mon 20:00 for 2 h", flash_template(theirs)) == (
        404,
        "not_found",
        f"no product with id {theirs} at this merchant",
    )
    assert await refused(
        "Mon 20:00 for 2 h", flash_template(mango, price=100, discount_bps=10)
    ) == (
        422,
        "campaign_template_invalid",
        "template.price: give either a price (minor units) or a discount_bps, not both",
    )
    assert await refused(
        "Mon 20:00 for 2 h", flash_template(mango, quantity=5, per_member_limit=6)
    ) == (
        422,
        "campaign_template_invalid",
        "template.per_member_limit: 1 to the quantity (5)",
    )
    rising = gift_pack_template(mango)
    rising["tiers"] = [{"size": 2, "unit_price": 9000}, {"size": 3, "unit_price": 9500}]
    assert await refused("Fri 20:00-23:00", rising) == (
        422,
        "campaign_template_invalid",
        "template.tiers.1.unit_price: a larger team never pays more per portion",
    )
    shrinking = gift_pack_template(mango)
    shrinking["tiers"] = [{"size": 3, "unit_price": 9000}, {"size": 2, "unit_price": 8000}]
    assert (await refused("Fri 20:00-23:00", shrinking))[2] == (
        "template.tiers.1.size: sizes increase from one tier to the next"
    )
    assert (await refused("Fri 20:00-23:00", gift_pack_template(mango, max_size=4)))[2] == (
        "template.max_size: from the largest tier's size (5) to 1000"
    )
    status, code, detail = await refused(
        "Mon 20:00 for 2 h",
        flash_template(mango),
        announcements={"start": {"en": "{product} for {cost}"}},
    )
    assert (status, code) == (422, "announcements_invalid")
    assert detail.startswith("announcements.start.en: {cost} is not a value of a flash_sale; use ")
    status, code, detail = await refused(
        "Mon 20:00 for 2 h", flash_template(mango), announcements={"result": {"en": "Done"}}
    )
    assert (code, detail) == (
        "announcements_invalid",
        "announcements.result: a flash_sale is announced before, start, sold_out",
    )
    assert (
        await refused("Mon 20:00 for 2 h", flash_template(mango), community_ids=[str(uuid.uuid4())])
    )[0] == 404
    promotion = {"kind": "promotion_day", "reward_multiplier_bps": 10_000}
    assert (await refused("1st of the month", promotion))[2] == (
        "template.reward_multiplier_bps: 10001 to 100000 basis points (20000 doubles the rewards)"
    )
    assert await count_rows(db, CampaignSchedule) == 0


async def test_changes_need_the_version_and_pause_resume_delete(
    client: AsyncClient, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    (pack,) = await products(factory, shop, "Gift pack")
    with clock.frozen_at(MONDAY) as now:
        made = await schedule(
            client, shop, "Fri 20:00-23:00", gift_pack_template(pack), name="Gift-pack day"
        )
        url = f"{API}/{made['id']}"
        unversioned = await client.patch(url, json={"name": "X"}, headers=shop.headers)
        assert (unversioned.status_code, unversioned.json()["code"]) == (428, "version_required")
        changed = await client.patch(
            url,
            json={"rule": "Fri 19:00-23:00", "announce_before_seconds": 1800},
            headers={**shop.headers, "If-Match": '"1"'},
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["version"], changed.json()["duration_seconds"]) == (2, 4 * 3600)
        assert changed.headers["ETag"] == '"2"'
        stale = await client.patch(
            url, json={"name": "Late"}, headers={**shop.headers, "If-Match": '"1"'}
        )
        assert (stale.status_code, stale.json()["code"]) == (409, "schedule_changed")
        bad = await client.patch(
            url, json={"rule": "someday"}, headers={**shop.headers, "If-Match": '"2"'}
        )
        assert (bad.status_code, bad.json()["code"]) == (422, "schedule_rule_invalid")
        null = await client.patch(
            url, json={"rule": None}, headers={**shop.headers, "If-Match": '"2"'}
        )
        assert null.status_code == 422

        paused = await client.post(f"{url}/pause", headers=shop.headers)
        assert (paused.json()["active"], paused.json()["version"], paused.json()["coming"]) == (
            False,
            3,
            [],
        )
        again = await client.post(f"{url}/pause", headers=shop.headers)
        assert again.json()["version"] == 3  # nothing changed
        now.at = datetime(2026, 12, 20, tzinfo=UTC)
        resumed = await client.post(f"{url}/resume", headers=shop.headers)
        body = resumed.json()
        assert (body["active"], body["version"], body["planned_until"]) == (
            True,
            4,
            "2026-12-20T00:00:00Z",
        )
        assert body["coming"][0]["local_start"] == "2026-12-25T19:00"

        analyst = await factory.staff_token(shop, Role.ANALYST)
        denied = await client.delete(url, headers={"Authorization": f"Bearer {analyst}"})
        assert denied.status_code == 403
        assert await count_rows(db, CampaignSchedule) == 1
        gone = await client.delete(url, headers=shop.headers)
        assert gone.status_code == 204
        assert (await client.get(url, headers=shop.headers)).status_code == 404
        assert await count_rows(db, CampaignSchedule) == 0


async def test_a_schedule_made_in_code_as_the_demo_makes_it(factory: Factory, db: Database) -> None:
    shop = await factory.shop()
    (pack,) = await products(factory, shop, "Gift pack")
    spec = service.ScheduleSpec(
        name="Gift-pack day",
        rule="周五 20:00-23:00",
        template=templates.GroupBuyTemplate(
            product_id=pack, tiers=(Tier(2, 9000), Tier(3, 8500), Tier(5, 7500)), grouping="address"
        ),
        announcements={"result": {"zh-CN": "{name} 结果：{results}"}},
    )
    with clock.frozen_at(MONDAY):
        async with db.unit_of_work() as session:
            row = await service.create(session, shop.tenant, spec, created_by="demo")
            (view,) = await service.views(session, shop.tenant, [row])
    assert (row.kind, row.cron, row.duration_seconds, row.created_by) == (
        "group_buy",
        "0 20 * * 5",
        3 * 3600,
        "demo",
    )
    assert row.template["tiers"] == [
        {"size": 2, "unit_price": 9000},
        {"size": 3, "unit_price": 8500},
        {"size": 5, "unit_price": 7500},
    ]
    assert [(c.local, c.product_id) for c in view.coming[:2]] == [
        (datetime(2026, 12, 11, 20, 0), pack),
        (datetime(2026, 12, 18, 20, 0), pack),
    ]

"""What each occurrence of a campaign schedule makes: a flash sale of the next product of a
rotation, a group buy of a product or gift pack, or a promotion day for fission.

A template is kept as JSON on ``campaign_schedules.template``; ``check`` validates one against
the merchant's catalog when a schedule is made or changed, and the worker turns it into the
campaign's spec (``flash_spec``, ``group_buy_spec``) for each occurrence.

**Prices.** A flash sale's price is given (``price``, minor units) or taken off the product's
price at each occurrence (``discount_bps``: 2,000 = 20 % off, the discount rounded half up to
a whole minor unit), so a change of the product's price reaches the coming occurrences.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.campaigns.flash.spec import FlashSaleSpec
from tribekit.campaigns.group_buys.spec import GroupBuySpec, Tier
from tribekit.kit.errors import FieldProblem, NotFound, ValidationFailed
from tribekit.models.catalog import Product
from tribekit.models.enums import ProductKind
from tribekit.models.membership import Level
from tribekit.tenancy.principal import Tenant

Kind = Literal["flash_sale", "group_buy", "promotion_day"]
KINDS: tuple[Kind, ...] = ("flash_sale", "group_buy", "promotion_day")
ROTATION_MAX = 50
TIERS_MAX = 10
SIZE_MAX = 1000
#: A promotion day multiplies fission rewards by more than 1 and at most 10.
MULTIPLIER_RANGE = (10_001, 100_000)
#: What each kind of campaign sells (as flash sales and group buys check it themselves).
_FLASH_SELLS = (ProductKind.GOODS,)
_GROUP_BUY_SELLS = (ProductKind.GOODS, ProductKind.BUNDLE)


class TemplateInvalid(ValidationFailed):
    code = "campaign_template_invalid"
    title = "The schedule's template cannot make a campaign"


def _refuse(path: Sequence[str | int], message: str) -> TemplateInvalid:
    where = ".".join(str(p) for p in path)
    return TemplateInvalid(
        f"template.{where}: {message}",
        errors=[FieldProblem(("body", "template", *path), message, TemplateInvalid.code)],
    )


@dataclass(frozen=True)
class FlashTemplate:
    product_ids: tuple[uuid.UUID, ...]  # the rotation: each occurrence takes the next
    quantity: int
    price: int | None = None
    discount_bps: int | None = None
    per_member_limit: int = 2
    reservation_ttl_seconds: int = 600
    level_ids: tuple[uuid.UUID, ...] = ()
    kind: Literal["flash_sale"] = "flash_sale"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "product_ids": [str(p) for p in self.product_ids],
            "quantity": self.quantity,
            "price": self.price,
            "discount_bps": self.discount_bps,
            "per_member_limit": self.per_member_limit,
            "reservation_ttl_seconds": self.reservation_ttl_seconds,
            "level_ids": [str(i) for i in self.level_ids],
        }

    def product_at(self, rotation_index: int) -> uuid.UUID:
        return self.product_ids[rotation_index % len(self.product_ids)]

    def price_of(self, product: Product) -> int:
        if self.price is not None:
            return self.price
        assert self.discount_bps is not None
        off = (product.price * self.discount_bps + 5_000) // 10_000  # half up: prices are >= 0
        return product.price - off


@dataclass(frozen=True)
class GroupBuyTemplate:
    product_id: uuid.UUID
    tiers: tuple[Tier, ...]
    max_size: int | None = None
    per_member_limit: int = 1
    grouping: Literal["team", "address"] = "team"
    join_price: Literal["reached", "lowest"] = "reached"
    kind: Literal["group_buy"] = "group_buy"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "product_id": str(self.product_id),
            "tiers": [{"size": t.size, "unit_price": t.unit_price} for t in self.tiers],
            "max_size": self.max_size,
            "per_member_limit": self.per_member_limit,
            "grouping": self.grouping,
            "join_price": self.join_price,
        }


@dataclass(frozen=True)
class PromotionTemplate:
    reward_multiplier_bps: int = 20_000
    kind: Literal["promotion_day"] = "promotion_day"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "reward_multiplier_bps": self.reward_multiplier_bps}


Template = FlashTemplate | GroupBuyTemplate | PromotionTemplate


def from_json(data: Mapping[str, Any]) -> Template:
    kind = data.get("kind")
    if kind == "flash_sale":
        return FlashTemplate(
            product_ids=tuple(uuid.UUID(p) for p in data["product_ids"]),
            quantity=int(data["quantity"]),
            price=data.get("price"),
            discount_bps=data.get("discount_bps"),
            per_member_limit=int(data.get("per_member_limit", 2)),
            reservation_ttl_seconds=int(data.get("reservation_ttl_seconds", 600)),
            level_ids=tuple(uuid.UUID(i) for i in data.get("level_ids") or ()),
        )
    if kind == "group_buy":
        return GroupBuyTemplate(
            product_id=uuid.UUID(data["product_id"]),
            tiers=tuple(Tier(int(t["size"]), int(t["unit_price"])) for t in data["tiers"]),
            max_size=data.get("max_size"),
            per_member_limit=int(data.get("per_member_limit", 1)),
            grouping=data.get("grouping", "team"),
            join_price=data.get("join_price", "reached"),
        )
    if kind == "promotion_day":
        return PromotionTemplate(int(data.get("reward_multiplier_bps", 20_000)))
    raise ValueError(f"unknown template kind {kind!r}")


# -- validating ---------------------------------------------------------------------------------


async def _products(
    session: AsyncSession, tenant: Tenant, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Product]:
    stmt = select(Product).where(Product.merchant_id == tenant.id, Product.id.in_(set(ids)))
    return {p.id: p for p in (await session.scalars(stmt)).all()}


def _sellable(
    product: Product | None,
    product_id: uuid.UUID,
    path: list[str | int],
    kinds: tuple[ProductKind, ...],
) -> Product:
    if product is None:
        raise NotFound(f"no product with id {product_id} at this merchant")
    if product.kind not in kinds:
        sells = " or ".join("a gift pack" if k == ProductKind.BUNDLE else k.value for k in kinds)
        raise _refuse(path, f"product {product_id} is a {product.kind}: this sells {sells}")
    if not product.active:
        raise _refuse(path, f"product {product_id} is not on sale (inactive)")
    return product


async def _check_flash(session: AsyncSession, tenant: Tenant, t: FlashTemplate) -> None:
    if not 1 <= len(t.product_ids) <= ROTATION_MAX:
        raise _refuse(["product_ids"], f"give 1 to {ROTATION_MAX} products to rotate")
    if (t.price is None) == (t.discount_bps is None):
        raise _refuse(["price"], "give either a price (minor units) or a discount_bps, not both")
    if t.price is not None and t.price < 0:
        raise _refuse(["price"], "a price is 0 or more (minor units)")
    if t.discount_bps is not None and not 1 <= t.discount_bps <= 9_999:
        raise _refuse(["discount_bps"], "a discount is 1 to 9999 basis points (100 = 1 %)")
    if t.quantity < 1:
        raise _refuse(["quantity"], "a flash sale sells at least 1 unit")
    if not 1 <= t.per_member_limit <= t.quantity:
        raise _refuse(["per_member_limit"], f"1 to the quantity ({t.quantity})")
    if not 60 <= t.reservation_ttl_seconds <= 86_400:
        raise _refuse(["reservation_ttl_seconds"], "60 to 86400 seconds")
    found = await _products(session, tenant, t.product_ids)
    for n, product_id in enumerate(t.product_ids):
        _sellable(found.get(product_id), product_id, ["product_ids", n], _FLASH_SELLS)
    if t.level_ids:
        stmt = select(Level.id).where(Level.merchant_id == tenant.id, Level.id.in_(t.level_ids))
        levels = set((await session.scalars(stmt)).all())
        missing = next((i for i in t.level_ids if i not in levels), None)
        if missing is not None:
            raise NotFound(f"no level with id {missing} at this merchant")


def check_tiers(tiers: Sequence[Tier], max_size: int | None) -> None:
    """Sizes from 1 up, strictly increasing; prices 0 or more, never rising with the size;
    the maximum at least the largest tier's size."""
    if not 1 <= len(tiers) <= TIERS_MAX:
        raise _refuse(["tiers"], f"give 1 to {TIERS_MAX} tiers (size and unit price)")
    for n, tier in enumerate(tiers):
        if not 1 <= tier.size <= SIZE_MAX:
            raise _refuse(["tiers", n, "size"], f"a size is 1 to {SIZE_MAX}")
        if tier.unit_price < 0:
            raise _refuse(["tiers", n, "unit_price"], "a price is 0 or more (minor units)")
        if n and tier.size <= tiers[n - 1].size:
            raise _refuse(["tiers", n, "size"], "sizes increase from one tier to the next")
        if n and tier.unit_price > tiers[n - 1].unit_price:
            raise _refuse(["tiers", n, "unit_price"], "a larger team never pays more per portion")
    if max_size is not None and not tiers[-1].size <= max_size <= SIZE_MAX:
        raise _refuse(
            ["max_size"], f"from the largest tier's size ({tiers[-1].size}) to {SIZE_MAX}"
        )


async def _check_group_buy(session: AsyncSession, tenant: Tenant, t: GroupBuyTemplate) -> None:
    check_tiers(t.tiers, t.max_size)
    if not 1 <= t.per_member_limit <= (t.max_size or t.tiers[-1].size):
        raise _refuse(["per_member_limit"], "1 to a team's maximum size")
    if t.grouping not in ("team", "address"):
        raise _refuse(["grouping"], "'team' or 'address'")
    if t.join_price not in ("reached", "lowest"):
        raise _refuse(["join_price"], "'reached' or 'lowest'")
    found = await _products(session, tenant, [t.product_id])
    _sellable(found.get(t.product_id), t.product_id, ["product_id"], _GROUP_BUY_SELLS)


async def check(session: AsyncSession, tenant: Tenant, template: Template) -> None:
    """A 422 naming the field for a template that cannot make a campaign; a product or level
    of another merchant is a 404 like a missing one."""
    if isinstance(template, FlashTemplate):
        await _check_flash(session, tenant, template)
    elif isinstance(template, GroupBuyTemplate):
        await _check_group_buy(session, tenant, template)
    else:
        low, high = MULTIPLIER_RANGE
        if not low <= template.reward_multiplier_bps <= high:
            raise _refuse(
                ["reward_multiplier_bps"],
                f"{low} to {high} basis points (20000 doubles the rewards)",
            )


# -- the campaign of one occurrence ---------------------------------------------------------------


@dataclass(frozen=True)
class Occasion:
    """One occurrence of a schedule: when, where, what is said."""

    name: str
    starts_at: datetime
    ends_at: datetime
    community_ids: tuple[uuid.UUID, ...]
    announcements: dict[str, Any] = field(default_factory=dict)
    announce_before_seconds: int = 600


def flash_spec(t: FlashTemplate, product: Product, occasion: Occasion) -> FlashSaleSpec:
    return FlashSaleSpec(
        product_id=product.id,
        price=t.price_of(product),
        quantity=t.quantity,
        starts_at=occasion.starts_at,
        ends_at=occasion.ends_at,
        per_member_limit=t.per_member_limit,
        reservation_ttl_seconds=t.reservation_ttl_seconds,
        name=occasion.name,
        community_ids=occasion.community_ids,
        level_ids=t.level_ids,
        announcements=occasion.announcements,
        announce_before_seconds=occasion.announce_before_seconds,
    )


def group_buy_spec(t: GroupBuyTemplate, occasion: Occasion) -> GroupBuySpec:
    return GroupBuySpec(
        product_id=t.product_id,
        tiers=t.tiers,
        starts_at=occasion.starts_at,
        deadline=occasion.ends_at,
        max_size=t.max_size,
        per_member_limit=t.per_member_limit,
        grouping=t.grouping,
        join_price=t.join_price,
        name=occasion.name,
        community_ids=occasion.community_ids,
        announcements=occasion.announcements,
        announce_before_seconds=occasion.announce_before_seconds,
    )

"""Checkout: price a cart (a quote, no side effects) and place an order.

Placing is one transaction: price on the server, take stock with conditional updates (products
in id order, several lines of one product counted together), hold the points redeemed as a spend
entry, redeem coupons, write the order. Any refusal rolls everything back. Locks follow
``kit.locks``: products, then the member's account, then coupons (the new order is nobody
else's to wait for).
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit import pricing
from tribekit.campaigns.bundles import stock as bundle_stock
from tribekit.campaigns.coupons import service as coupon_book
from tribekit.catalog.repository import Products
from tribekit.catalog.service import NotEnoughStock
from tribekit.communities.repository import Communities
from tribekit.kit import clock, locks
from tribekit.kit.errors import NotFound, PermissionDenied, ValidationFailed, field_error
from tribekit.kit.ids import new_id
from tribekit.kit.money import Money
from tribekit.membership.ledger import PointsLedger, Source
from tribekit.models.catalog import Product
from tribekit.models.enums import Fulfilment, OrderStatus, ProductKind
from tribekit.models.membership import Level, MembershipSettings
from tribekit.models.orders import CheckoutSettings, Order, OrderLine, PickupPoint
from tribekit.orders import events, numbers
from tribekit.orders.repository import PickupPoints, buyer, pricing_settings
from tribekit.orders.schemas import CartIn, OrderIn
from tribekit.tenancy.principal import Tenant

from .lifecycle import OrderDetail

#: What one order may come to before discounts: purchases counted toward levels and the points
#: they earn are 32-bit figures, so a larger order would fail at payment instead of here.
MAX_ORDER_AMOUNT = 2_000_000_000


#: The product's kind as the pricing engine names it (the engine imports nothing of ours).
LINE_KINDS: dict[ProductKind, pricing.LineKind] = {
    ProductKind.GOODS: "goods",
    ProductKind.EVENT: "event",
    ProductKind.PLAN: "plan",
    ProductKind.BUNDLE: "goods",  # a gift pack is priced like goods; its stock is its parts'
}


class NotOnSale(ValidationFailed):
    code = "not_on_sale"
    title = "A product in the cart cannot be bought now"


@dataclass(frozen=True)
class CampaignPrice:
    """The price a campaign sets for one product of the cart (a group buy's tier price): the
    line's unit price whatever else is offered, explained by the engine as a campaign price;
    the order is attributed to ``campaign_id``."""

    campaign_id: uuid.UUID
    product_id: uuid.UUID
    unit_price: int
    name: str


@dataclass(frozen=True)
class PricedCart:
    quote: pricing.Quote
    products: dict[uuid.UUID, Product]
    level: Level | None
    settings: CheckoutSettings
    pickup_point: PickupPoint | None
    coupons: list[coupon_book.Usable]
    packs: bundle_stock.Packs  # the components of the gift packs in the cart


def order_number(order_id: uuid.UUID, tenant: Tenant) -> str:
    """The number of an order placed now (``orders/numbers.py``)."""
    return numbers.order_number(order_id, tenant.timezone, clock.now())


def _check_product(product: Product | None, product_id: uuid.UUID, index: int) -> Product:
    loc = f"lines.{index}.product_id"
    if product is None:
        raise NotFound(f"{loc}: no product with id {product_id} at this merchant")
    if not product.active:
        raise NotOnSale(f"{loc}: {product.name!r} is not on sale")
    if product.kind == ProductKind.EVENT:
        now = clock.now()
        closes = product.signup_deadline or product.starts_at
        if closes is not None and closes <= now:
            raise NotOnSale(f"{loc}: sign-up for {product.name!r} has closed")
    return product


async def _pickup_point(session: AsyncSession, tenant: Tenant, cart: CartIn) -> PickupPoint | None:
    if cart.fulfilment != "leader_pickup" or cart.pickup_point_id is None:
        return None
    point = await PickupPoints(session, tenant.id).get(cart.pickup_point_id)
    if point is None or not point.active:
        raise field_error("pickup_point_id", "no active pickup point with this id", "not_found")
    return point


def _rules(
    tenant: Tenant,
    settings: CheckoutSettings,
    membership: MembershipSettings,
    *,
    delivery: bool,
) -> pricing.PricingRules:
    return pricing.PricingRules(
        currency=tenant.currency,
        rounding=settings.rounding,
        coupon_on_campaign_price=settings.coupon_on_campaign_price,
        coupon_on_level_price=settings.coupon_on_level_price,
        coupons_combine=settings.coupons_combine,
        points_per_currency_unit_redeemed=settings.points_per_currency_unit_redeemed,
        points_cap_bps=settings.points_cap_bps,
        total_floor=settings.total_floor,
        points_per_unit_earned=membership.points_per_unit,
        points_rounding=membership.points_rounding,
        shipping_fee=settings.shipping_fee if delivery else 0,
    )


async def price_cart(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    cart: CartIn,
    *,
    campaign: CampaignPrice | None = None,
) -> PricedCart:
    """Everything placing an order needs, priced by the engine; no side effects. ``campaign``:
    the price a campaign sets for one of the products."""
    found_buyer = await buyer(session, tenant.id, member_id)
    if found_buyer is None:
        raise NotFound(f"no member with id {member_id} at this merchant")
    if found_buyer.member.blocked:
        raise PermissionDenied("this member is blocked and cannot order")
    found = await Products(session, tenant.id).by_ids([line.product_id for line in cart.lines])
    products = {
        line.product_id: _check_product(found.get(line.product_id), line.product_id, index)
        for index, line in enumerate(cart.lines)
    }
    level, balance = found_buyer.level, found_buyer.points_balance
    level_prices = (
        await Products(session, tenant.id).level_prices(list(products), level.id) if level else {}
    )
    settings, membership = await pricing_settings(session, tenant.id)
    pickup_point = await _pickup_point(session, tenant, cart)
    packs = await bundle_stock.packs(
        session, tenant.id, [p.id for p in products.values() if p.kind == ProductKind.BUNDLE]
    )
    usable = await coupon_book.resolve(session, tenant, member_id, cart.coupon_codes, level=level)
    lines = [
        pricing.LineInput(
            key=str(index + 1),
            product_id=product.id,
            name=product.name,
            kind=LINE_KINDS[product.kind],
            quantity=line.quantity,
            regular_price=product.price,
            level_price=level_prices.get(product.id),
            ladder=tuple(pricing.Tier(t["min_quantity"], t["unit_price"]) for t in product.ladder),
            unit_cost=packs.unit_cost(product),
            **_campaign_offer(campaign, product),
        )
        for index, line in enumerate(cart.lines)
        for product in (products[line.product_id],)
    ]
    member_input = pricing.MemberInput(
        level_name=level.name if level else None,
        discount_bps=level.discount_bps if level else 0,
        event_discount_bps=level.event_discount_bps if level else 0,
        points_multiplier_bps=level.points_multiplier_bps if level else 10_000,
        points_balance=balance,
        free_shipping=bool(level and level.free_shipping),
    )
    rules = _rules(tenant, settings, membership, delivery=cart.fulfilment == "delivery")
    try:
        quote = pricing.quote(
            lines,
            member_input,
            rules,
            coupons=coupon_book.engine_inputs(usable),
            points_to_redeem=cart.points_to_redeem,
        )
    except pricing.PricingError as exc:
        raise ValidationFailed(str(exc)) from exc
    quote = coupon_book.with_refused(quote, usable)  # codes that cannot be used: not applied
    if quote.undiscounted_subtotal > MAX_ORDER_AMOUNT:
        most = Money(MAX_ORDER_AMOUNT, tenant.currency)
        raise field_error("lines", f"an order may come to at most {most}; split it in several")
    return PricedCart(quote, products, level, settings, pickup_point, usable, packs)


def _campaign_offer(campaign: CampaignPrice | None, product: Product) -> dict[str, Any]:
    if campaign is None or campaign.product_id != product.id:
        return {}
    return {
        "campaign_price": campaign.unit_price,
        "campaign_name": campaign.name,
        "campaign_fixed": True,
    }


async def _take_stock(
    session: AsyncSession, tenant: Tenant, priced: PricedCart, cart: CartIn
) -> None:
    ordered: Counter[uuid.UUID] = Counter()
    for line in cart.lines:
        ordered[line.product_id] += line.quantity
    # A gift pack takes its own stock (when counted) and every component's, in this one
    # transaction: a component short refuses the whole order.
    wanted = priced.packs.with_components(ordered)
    products = Products(session, tenant.id)
    for product_id in sorted(wanted):  # id order: two orders never wait on each other in a cycle
        if not await products.take_stock(product_id, wanted[product_id]):
            product = priced.products.get(product_id) or await products.get_or_404(product_id)
            await session.refresh(product, ["stock"])
            what = "seats" if product.kind == "event" else "units"
            raise NotEnoughStock(
                f"only {product.stock} {what} of {product.name!r} left; {wanted[product_id]} asked"
                + priced.packs.needed_for(product_id, ordered, priced.products),
                product_id=str(product_id),
                stock=product.stock,
            )
    # Every pack's row is locked now, and a change of its components locks it too: what was
    # read when pricing must still be its components, or the order starts again.
    await bundle_stock.check_unchanged(session, tenant.id, priced.packs)


def address_key(cart: CartIn) -> str | None:
    """Orders to the same address share this key (group buys: 'same address')."""
    if cart.address is None:
        return None
    parts = [cart.address.country, cart.address.city, cart.address.line1, cart.address.line2 or ""]
    normal = "|".join(" ".join(part.lower().split()) for part in parts)
    return hashlib.sha256(normal.encode()).hexdigest()[:32]


async def place_order(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    data: OrderIn,
    *,
    actor: str,
    campaign: CampaignPrice | None = None,
) -> OrderDetail:
    """``campaign``: the price a campaign (a group buy) sets for one product, and the campaign
    the order is attributed to."""
    priced = await price_cart(session, tenant, member_id, data, campaign=campaign)
    coupon_book.check_all_usable(priced.coupons)
    quote = priced.quote
    attribution = data.attribution
    if attribution.community_id is not None:
        await Communities(session, tenant.id).get_or_404(attribution.community_id)
    await _take_stock(session, tenant, priced, data)
    order_id = new_id()
    now = clock.now()
    order = Order(
        id=order_id,
        merchant_id=tenant.id,
        number=order_number(order_id, tenant),
        member_id=member_id,
        status=OrderStatus.PLACED,
        currency=tenant.currency,
        undiscounted_subtotal=quote.undiscounted_subtotal,
        subtotal=quote.subtotal,
        coupon_discount=quote.coupon_discount,
        coupon_codes=[c.code for c in quote.coupons if c.applied],
        points_redeemed=quote.points_redeemed,
        points_discount=quote.points_discount,
        shipping=quote.shipping,
        total=quote.total,
        refunded_amount=0,
        points_to_earn=quote.points_to_earn,
        why=list(quote.why),
        channel=attribution.channel.value,
        community_id=attribution.community_id,
        campaign_id=campaign.campaign_id if campaign is not None else attribution.campaign_id,
        referral_code=attribution.referral_code,
        fulfilment=Fulfilment(data.fulfilment),
        pickup_point_id=priced.pickup_point.id if priced.pickup_point else None,
        address=data.address.model_dump() if data.address else None,
        address_key=address_key(data),
        note=data.note,
        placed_by=actor,
        placed_at=now,
        expires_at=now + timedelta(minutes=priced.settings.unpaid_ttl_minutes),
    )
    session.add(order)
    locks.created(session, locks.Rank.ORDER, order_id)  # nobody else sees it before commit
    lines = [
        OrderLine(
            merchant_id=tenant.id,
            order_id=order_id,
            line_no=index + 1,
            product_id=line.product_id,
            name=line.name,
            kind=ProductKind(line.kind),
            quantity=line.quantity,
            regular_unit_price=line.regular_unit_price,
            unit_price=line.unit_price,
            price_source=line.source,
            base_total=line.base_total,
            coupon_discount=line.coupon_discount,
            points_discount=line.points_discount,
            total=line.total,
            refunded_quantity=0,
            refunded_amount=0,
            unit_cost=line.unit_cost,
        )
        for index, line in enumerate(quote.lines)
    ]
    session.add_all(lines)
    await session.flush()
    if quote.points_redeemed:
        hold = await PointsLedger(session, tenant).spend(
            member_id,
            quote.points_redeemed,
            source=Source.CHECKOUT,
            key=f"order:{order_id}:points",
            ref=f"order:{order_id}",
            reason=f"paid part of order {order.number}",
            actor=actor,
        )
        order.points_hold_entry_id = hold.entry.id
    await coupon_book.redeem(session, tenant, order, priced.coupons, quote)
    await events.emit(
        session,
        tenant,
        order.id,
        events.OrderPlaced(member_id=member_id, total=order.total),
        actor=actor,
    )
    await session.flush()
    return OrderDetail(order, lines, [])

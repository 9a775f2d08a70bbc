"""The merchant's membership configuration: points rules and review policy, levels and their
rules, level prices, paid plans."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.catalog import service as catalog
from tribekit.catalog.repository import Products
from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import NotFound, field_error
from tribekit.models.catalog import Product
from tribekit.models.enums import ProductKind
from tribekit.models.membership import Level, LevelPrice, MembershipPlan, MembershipSettings
from tribekit.pricing import margin
from tribekit.tenancy.principal import Tenant

from .repository import Levels, Plans, forget_ladder, saved_settings, settings_of
from .rules import MAX_RULE_DEPTH, PlanCondition, Rule, conditions, depth, dump_rule
from .schemas import LevelCreate, LevelUpdate, MembershipSettingsUpdate, PlanCreate, PlanUpdate


async def update_membership_settings(
    session: AsyncSession, tenant: Tenant, data: MembershipSettingsUpdate
) -> MembershipSettings:
    current = await saved_settings(session, tenant.id)
    for name, value in data.model_dump(exclude_unset=True).items():
        if value is None:
            raise field_error(name, "may not be null; leave it out to keep the current value")
        setattr(current, name, value)
    await session.flush()
    return current


async def _schedule_upgrade_pass(session: AsyncSession, tenant: Tenant) -> None:
    """Rules changed: the worker will walk every account and lift those who now qualify higher
    (nobody goes down before their period ends)."""
    settings = await saved_settings(session, tenant.id)
    settings.upgrade_pass_at, settings.upgrade_pass_after = clock.now(), None


async def _check_rule(session: AsyncSession, tenant: Tenant, rule: Rule | None) -> None:
    if rule is None:
        return
    if depth(rule) > MAX_RULE_DEPTH:
        raise field_error("rule", f"nests deeper than {MAX_RULE_DEPTH} levels; simplify it")
    plan_ids = {c.plan_id for c in conditions(rule) if isinstance(c, PlanCondition) and c.plan_id}
    plans = Plans(session, tenant.id)
    for plan_id in plan_ids:
        if await plans.get(plan_id) is None:
            raise field_error("rule", f"names plan {plan_id}, which this merchant does not have")


async def create_level(session: AsyncSession, tenant: Tenant, data: LevelCreate) -> Level:
    forget_ladder(session)
    await _check_rule(session, tenant, data.rule)
    fields = data.model_dump(exclude={"rule"})
    level = Level(merchant_id=tenant.id, rule=dump_rule(data.rule), **fields)
    await add_unique(
        session, f"a level named {data.name!r} or with rank {data.rank} already exists", level
    )
    await _schedule_upgrade_pass(session, tenant)
    return level


async def update_level(
    session: AsyncSession, tenant: Tenant, level_id: uuid.UUID, data: LevelUpdate
) -> Level:
    """Changes apply from the members' next activity or review; nobody moves at once."""
    forget_ladder(session)
    level = await Levels(session, tenant.id).get_or_404(level_id)
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None and name not in ("rule", "birthday_coupon"):
            raise field_error(name, "may not be null; leave it out to keep the current value")
    if "rule" in changes:
        await _check_rule(session, tenant, data.rule)
        changes["rule"] = dump_rule(data.rule)
    for name, value in changes.items():
        setattr(level, name, value)
    await add_unique(session, "another level already has this name or rank; choose another")
    if "rule" in changes or "rank" in changes:
        await _schedule_upgrade_pass(session, tenant)
    return level


async def list_level_prices(
    session: AsyncSession, tenant: Tenant, level_id: uuid.UUID
) -> list[LevelPrice]:
    await Levels(session, tenant.id).get_or_404(level_id)
    stmt = (
        select(LevelPrice)
        .where(LevelPrice.merchant_id == tenant.id, LevelPrice.level_id == level_id)
        .order_by(LevelPrice.product_id)
    )
    return list((await session.scalars(stmt)).all())


async def set_level_price(
    session: AsyncSession, tenant: Tenant, level_id: uuid.UUID, product_id: uuid.UUID, price: int
) -> LevelPrice:
    await Levels(session, tenant.id).get_or_404(level_id)
    product = await Products(session, tenant.id).get_or_404(product_id)
    if product.kind == ProductKind.PLAN:
        raise field_error("product_id", f"{product.name!r} is a paid plan: it has one price")
    row = await session.get(LevelPrice, (level_id, product_id))
    if row is None:
        row = LevelPrice(merchant_id=tenant.id, level_id=level_id, product_id=product_id)
        row.price = price
        await add_unique(session, "this level price was set concurrently; retry", row)
    else:
        row.price = price
        await session.flush()
    return row


async def level_price_warnings(
    session: AsyncSession, tenant: Tenant, rows: list[LevelPrice]
) -> dict[uuid.UUID, list[str]]:
    """Per product, a warning when its level price is below its cost price (allowed: flagged)."""
    ids = sorted({row.product_id for row in rows})
    costs = dict(
        (
            await session.execute(
                select(Product.id, Product.cost_price).where(
                    Product.merchant_id == tenant.id, Product.id.in_(ids)
                )
            )
        ).all()
    )
    return {
        row.product_id: margin.price_warnings(
            row.price, costs.get(row.product_id), "level price", tenant.currency
        )
        for row in rows
    }


async def delete_level_price(
    session: AsyncSession, tenant: Tenant, level_id: uuid.UUID, product_id: uuid.UUID
) -> None:
    await Levels(session, tenant.id).get_or_404(level_id)
    result = await session.execute(
        delete(LevelPrice).where(
            LevelPrice.merchant_id == tenant.id,
            LevelPrice.level_id == level_id,
            LevelPrice.product_id == product_id,
        )
    )
    if getattr(result, "rowcount", 0) == 0:
        raise NotFound(f"level {level_id} has no price for product {product_id}")


async def create_plan(session: AsyncSession, tenant: Tenant, data: PlanCreate) -> MembershipPlan:
    if await Levels(session, tenant.id).get(data.level_id) is None:
        raise field_error("level_id", "no such level at this merchant")
    plan = MembershipPlan(merchant_id=tenant.id, **data.model_dump())
    await add_unique(session, f"a plan named {data.name!r} already exists", plan)
    await catalog.sell_plan(session, tenant, plan)  # members buy it through checkout
    return plan


async def update_plan(
    session: AsyncSession, tenant: Tenant, plan_id: uuid.UUID, data: PlanUpdate
) -> MembershipPlan:
    """Price and duration changes apply to later purchases; running periods keep theirs."""
    plan = await Plans(session, tenant.id).get_or_404(plan_id)
    for name, value in data.model_dump(exclude_unset=True).items():
        if value is None:
            raise field_error(name, "may not be null; leave it out to keep the current value")
        setattr(plan, name, value)
    await add_unique(session, "another plan already has this name; choose another")
    await catalog.sell_plan(session, tenant, plan)
    return plan


async def membership_settings(session: AsyncSession, tenant: Tenant) -> MembershipSettings:
    return await settings_of(session, tenant.id)


async def list_levels(session: AsyncSession, tenant: Tenant) -> list[Level]:
    return await Levels(session, tenant.id).ranked()


async def get_level(session: AsyncSession, tenant: Tenant, level_id: uuid.UUID) -> Level:
    return await Levels(session, tenant.id).get_or_404(level_id)


async def list_plans(session: AsyncSession, tenant: Tenant) -> list[MembershipPlan]:
    plans = Plans(session, tenant.id)
    stmt = plans.select().order_by(MembershipPlan.created_at)
    return list((await session.scalars(stmt)).all())

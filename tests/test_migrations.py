"""The migrations build exactly the schema the models describe, and go down and up again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, select

from tribekit import migrations
from tribekit.kit.db import Base, Database
from tribekit.models.catalog import Product
from tribekit.models.membership import Level, MembershipPlan
from tribekit.models.tenancy import Merchant

from .conftest import DATABASES, _fresh_postgres, _worker


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


@pytest.mark.parametrize("backend", DATABASES)
async def test_migrations_match_models_and_round_trip(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    else:
        url = await _fresh_postgres(f"tribekit_migrations_{_worker()}")
    db = Database(url)
    try:
        await migrations.upgrade(db)
        assert await migrations.current_revision(db) == migrations.head_revision()
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
        await migrations.downgrade(db, "base")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_tables) == {"alembic_version"}
        await migrations.upgrade(db)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_tables) == {*Base.metadata.tables, "alembic_version"}
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", DATABASES)
async def test_plans_made_before_plans_were_sold_at_checkout_get_their_product(
    backend: str, tmp_path: Path
) -> None:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'plans.db'}"
    else:
        url = await _fresh_postgres(f"tribekit_migrations_plans_{_worker()}")
    db = Database(url)
    try:
        await migrations.upgrade(db, "0007_member_features")
        async with db.unit_of_work() as session:  # the tables these models use are unchanged
            merchant = Merchant(
                slug="old-shop",
                name="Old",
                timezone="UTC",
                currency="CNY",
                country="CN",
                locale="en",
            )
            session.add(merchant)
            await session.flush()
            level = Level(merchant_id=merchant.id, name="Black", rank=3)
            session.add(level)
            await session.flush()
            plan = MembershipPlan(
                merchant_id=merchant.id,
                name="Black card",
                level_id=level.id,
                price=19900,
                duration_months=12,
                active=False,
            )
            session.add(plan)
        await migrations.upgrade(db)
        async with db.unit_of_work(read_only=True) as session:
            rows = (await session.execute(select(Product))).scalars().all()
        assert [(p.kind, p.plan_id, p.name, p.price, p.active, p.stock) for p in rows] == [
            ("plan", plan.id, "Black card", 19900, False, None)
        ]
    finally:
        await db.dispose()

"""Typed factories that build test data through the real services."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from tribekit.catalog import service as catalog
from tribekit.catalog.schemas import ProductCreate
from tribekit.kit.db import Base, Database
from tribekit.members import service as members
from tribekit.members.repository import MemberView
from tribekit.members.schemas import MemberCreate
from tribekit.models.catalog import Product
from tribekit.models.enums import Role
from tribekit.tenancy import auth, service
from tribekit.tenancy.principal import Tenant
from tribekit.tenancy.schemas import MerchantCreate, OwnerCreate

PASSWORD = "correct horse battery"
_seq = itertools.count(1)


@dataclass(frozen=True)
class Shop:
    tenant: Tenant
    owner_email: str
    owner_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.owner_token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def count_rows(db: Database, model: type[Base], *where: Any) -> int:
    """How many rows of ``model`` (matching ``where``) the database holds."""
    async with db.unit_of_work() as session:
        stmt = select(func.count()).select_from(model)
        for condition in where:
            stmt = stmt.where(condition)
        return int(await session.scalar(stmt) or 0)


class Factory:
    def __init__(self, db: Database, secret_key: str) -> None:
        self.db = db
        self.secret_key = secret_key

    async def shop(self, slug: str | None = None, *, country: str = "CN") -> Shop:
        n = next(_seq)
        slug = slug or f"shop-{n}"
        email = f"owner{n}@{slug}.example"
        async with self.db.unit_of_work() as session:
            merchant, owner = await service.create_merchant(
                session,
                MerchantCreate(
                    slug=slug,
                    name=slug.title(),
                    timezone="Asia/Shanghai",
                    currency="CNY",
                    country=country,
                    locale="en",
                    owner=OwnerCreate(email=email, name="Owner", password=PASSWORD),
                ),
            )
            _, secret = await auth.issue_token(
                session,
                self.secret_key,
                user_id=owner.user_id,
                merchant_id=merchant.id,
                name="owner",
            )
        return Shop(Tenant.of(merchant), email, secret)

    async def staff_token(self, shop: Shop, role: Role) -> str:
        """A new staff user with ``role`` at ``shop``, and an API token for them."""
        from tribekit.tenancy.schemas import StaffCreate

        n = next(_seq)
        async with self.db.unit_of_work() as session:
            owner = await self.principal(session, shop)
            entry = await service.add_staff(
                session,
                owner,
                StaffCreate(
                    email=f"{role}{n}@staff.example",
                    name=f"{role} {n}",
                    role=role,
                    password=PASSWORD,
                ),
            )
            _, secret = await auth.issue_token(
                session,
                self.secret_key,
                user_id=entry.user_id,
                merchant_id=shop.tenant.id,
                name=role,
            )
        return secret

    async def principal(self, session: Any, shop: Shop) -> Any:
        return await auth.authenticate_token(session, self.secret_key, shop.owner_token)

    async def platform_token(self) -> str:
        n = next(_seq)
        async with self.db.unit_of_work() as session:
            user = await service.ensure_platform_admin(
                session, f"root{n}@platform.example", "Root", PASSWORD
            )
            _, secret = await auth.issue_token(
                session, self.secret_key, user_id=user.id, merchant_id=None, name="platform"
            )
        return secret

    async def member(self, shop: Shop, **fields: Any) -> MemberView:
        fields.setdefault("display_name", f"Member {next(_seq)}")
        async with self.db.unit_of_work() as session:
            return await members.create_member(session, shop.tenant, "test", MemberCreate(**fields))

    async def product(self, shop: Shop, **fields: Any) -> Product:
        """A product on sale at ``shop`` (10.00, stock untracked unless given)."""
        fields.setdefault("name", f"Product {next(_seq)}")
        fields.setdefault("price", 1000)
        async with self.db.unit_of_work() as session:
            return await catalog.create_product(session, shop.tenant, ProductCreate(**fields))

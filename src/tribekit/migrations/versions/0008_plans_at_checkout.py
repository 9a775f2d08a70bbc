"""Paid plans sold through checkout: the product that sells a plan (``products.plan_id``,
kind ``plan``), and how many periods a purchase bought and had refunded
(``plan_purchases.periods``, ``refunded_periods``). Every existing plan gets its product.

Revision ID: 0008_plans_at_checkout
Revises: 0007_member_features
Create Date: 2026-12-02 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tribekit.kit import clock
from tribekit.kit.ids import new_id

revision: str = "0008_plans_at_checkout"
down_revision: str | None = "0007_member_features"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan_id", sa.Uuid()))
        batch_op.create_foreign_key(
            batch_op.f("fk_products_plan_id_membership_plans"),
            "membership_plans",
            ["plan_id"],
            ["id"],
        )
        batch_op.create_index(batch_op.f("ix_products_plan_id"), ["plan_id"], unique=True)
    with op.batch_alter_table("plan_purchases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("periods", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(
            sa.Column("refunded_periods", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_plan_purchases_refund_within_periods"),
            "refunded_periods >= 0 AND refunded_periods <= periods",
        )
    plans = sa.table(
        "membership_plans",
        sa.column("id", sa.Uuid()),
        sa.column("merchant_id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("price", sa.Integer()),
        sa.column("active", sa.Boolean()),
    )
    products = sa.table(
        "products",
        sa.column("id", sa.Uuid()),
        sa.column("merchant_id", sa.Uuid()),
        sa.column("plan_id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("kind", sa.String()),
        sa.column("role", sa.String()),
        sa.column("price", sa.Integer()),
        sa.column("active", sa.Boolean()),
        sa.column("tags", sa.JSON()),
        sa.column("images", sa.JSON()),
        sa.column("ladder", sa.JSON()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    now = clock.now()
    rows = [
        {
            "id": new_id(),
            "merchant_id": plan.merchant_id,
            "plan_id": plan.id,
            "name": plan.name,
            "kind": "plan",
            "role": "regular",
            "price": plan.price,
            "active": plan.active,
            "tags": [],
            "images": [],
            "ladder": [],
            "created_at": now,
            "updated_at": now,
        }
        for plan in bind.execute(sa.select(plans)).all()
    ]
    if rows:
        op.bulk_insert(products, rows)


def downgrade() -> None:
    op.execute("DELETE FROM products WHERE kind = 'plan'")
    with op.batch_alter_table("plan_purchases", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("ck_plan_purchases_refund_within_periods"), type_="check"
        )
        batch_op.drop_column("refunded_periods")
        batch_op.drop_column("periods")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_products_plan_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_products_plan_id_membership_plans"), type_="foreignkey"
        )
        batch_op.drop_column("plan_id")

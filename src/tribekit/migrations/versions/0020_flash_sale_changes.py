"""Schema changes of flash sales, beyond 0017: a member's take of a sale carries the sale's
per-member limit (``flash_takes.cap``) and the database refuses a take above it, so the SQL
engine's one statement per attempt can never let a member past the limit, however many of
their attempts race (the statement that would go past it fails whole).

Revision ID: 0020_flash_sale_changes
Revises: 0019_group_buy_changes
Create Date: 2026-12-02 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_flash_sale_changes"
down_revision: str | None = "0019_group_buy_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("flash_takes") as batch_op:
        batch_op.add_column(sa.Column("cap", sa.Integer(), nullable=False, server_default="1"))
        batch_op.create_check_constraint(op.f("ck_flash_takes_within_cap"), "taken <= cap")


def downgrade() -> None:
    with op.batch_alter_table("flash_takes") as batch_op:
        batch_op.drop_constraint(op.f("ck_flash_takes_within_cap"), type_="check")
        batch_op.drop_column("cap")

"""Schema changes of coupons, beyond 0017: when the birthday sweep next grants a coupon.

Revision ID: 0018_coupon_changes
Revises: 0017_campaigns
Create Date: 2026-12-02 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_coupon_changes"
down_revision: str | None = "0017_campaigns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("grants_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_coupons_grants_due_at"), ["grants_due_at"])


def downgrade() -> None:
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupons_grants_due_at"))
        batch_op.drop_column("grants_due_at")

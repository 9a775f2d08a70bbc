"""What members and operators found missing: stock tracking that starts and stops through the
API (``products.stock_tracked_since``), margin of orders (``order_lines.unit_cost``, the cost
price when ordered).

Revision ID: 0007_member_features
Revises: 0006_event_stream
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_member_features"
down_revision: str | None = "0006_event_stream"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stock_tracked_since", sa.DateTime(timezone=True)))
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit_cost", sa.BigInteger()))


def downgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_column("unit_cost")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("stock_tracked_since")

"""Commit-ordered order event stream (event versions and positions, consumer positions), the
ledger kernel, plans sold as order lines.

Revision ID: 0006_event_stream
Revises: 0005_refund_requests
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_event_stream"
down_revision: str | None = "0005_refund_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("version", sa.SmallInteger(), nullable=False, server_default="1")
        )
        # NULL until the sequencer gives the committed event its place in the stream; events
        # written before this revision are sequenced by the first run, in id order.
        batch_op.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_order_events_position"), ["position"], unique=True)

    op.create_table(
        "event_consumers",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_consumers")),
    )


def downgrade() -> None:
    op.drop_table("event_consumers")
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_events_position"))
        batch_op.drop_column("position")
        batch_op.drop_column("version")

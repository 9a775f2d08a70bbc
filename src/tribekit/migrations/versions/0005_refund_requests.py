"""Durable refund requests performed at the provider after commit.

A refund's provider part becomes a request on the refund row: its status, attempts, when the
worker tries next, and the last error. Refunds made before this revision were given back at the
provider inside their transaction: those with money and a payment are marked succeeded.

Revision ID: 0005_refund_requests
Revises: 0004_staff_invitations
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_refund_requests"
down_revision: str | None = "0004_staff_invitations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "provider_status", sa.String(length=12), nullable=False, server_default="not_needed"
            )
        )
        batch_op.add_column(
            sa.Column("provider_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("provider_next_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("provider_error", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("provider_settled_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_refunds_provider_next_at"), ["provider_next_at"])
    op.execute(
        "UPDATE refunds SET provider_status = 'succeeded', provider_settled_at = created_at"
        " WHERE payment_id IS NOT NULL AND amount > 0"
    )


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refunds_provider_next_at"))
        batch_op.drop_column("provider_settled_at")
        batch_op.drop_column("provider_error")
        batch_op.drop_column("provider_next_at")
        batch_op.drop_column("provider_attempts")
        batch_op.drop_column("provider_status")

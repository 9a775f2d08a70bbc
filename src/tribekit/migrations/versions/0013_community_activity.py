"""Community activity per day: the day's messages, joins, leaves and moderation actions of each
community, and one row per member who posted that day (the day's active members).

Revision ID: 0013_community_activity
Revises: 0012_web_community
Create Date: 2026-12-02 02:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_community_activity"
down_revision: str | None = "0012_web_community"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "community_days",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("joins", sa.Integer(), nullable=False),
        sa.Column("leaves", sa.Integer(), nullable=False),
        sa.Column("moderation_actions", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_community_days_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_community_days_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "day", name=op.f("pk_community_days")),
    )
    with op.batch_alter_table("community_days", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_days_merchant_id_day"), ["merchant_id", "day"], unique=False
        )

    op.create_table(
        "community_member_days",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_community_member_days_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_community_member_days_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_community_member_days_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "community_id", "day", "member_id", name=op.f("pk_community_member_days")
        ),
    )
    with op.batch_alter_table("community_member_days", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_member_days_member_id_day"), ["member_id", "day"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("community_member_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_member_days_member_id_day"))

    op.drop_table("community_member_days")
    with op.batch_alter_table("community_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_days_merchant_id_day"))

    op.drop_table("community_days")

"""Moderation review: a moderation entry names the ban it made (undo lifts exactly that one)
and staff's verdict on it; a ban may end by itself (``until``).

Revision ID: 0014_moderation_review
Revises: 0013_community_activity
Create Date: 2026-12-02 04:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_moderation_review"
down_revision: str | None = "0013_community_activity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("moderation_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ban_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("review", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reviewed_by", sa.String(length=100), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_moderation_entries_ban_id_bans"),
            "bans",
            ["ban_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            batch_op.f("ix_moderation_entries_merchant_id_community_id_at"),
            ["merchant_id", "community_id", "at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("moderation_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_moderation_entries_merchant_id_community_id_at"))
        batch_op.drop_constraint(
            batch_op.f("fk_moderation_entries_ban_id_bans"), type_="foreignkey"
        )
        batch_op.drop_column("reviewed_by")
        batch_op.drop_column("reviewed_at")
        batch_op.drop_column("review")
        batch_op.drop_column("ban_id")
    with op.batch_alter_table("bans", schema=None) as batch_op:
        batch_op.drop_column("until")

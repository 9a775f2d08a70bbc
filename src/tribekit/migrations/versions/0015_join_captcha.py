"""The robot's memory of recent posts and the join captcha: a member's post keeps the moderation
engine's fingerprint of its text on its event row (the flood and duplicate rules read the
member's posts back within their windows, by member and time).

Revision ID: 0015_join_captcha
Revises: 0014_moderation_review
Create Date: 2026-12-02 04:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_join_captcha"
down_revision: str | None = "0014_moderation_review"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("robot_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.LargeBinary(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_robot_events_merchant_id_member_id_at"),
            ["merchant_id", "member_id", "at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("robot_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_robot_events_merchant_id_member_id_at"))
        batch_op.drop_column("fingerprint")

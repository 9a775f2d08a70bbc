"""The robot's memory of recent posts and the join captcha: a member's post keeps the moderation
engine's fingerprint of its text on its event row (the flood and duplicate rules read the
member's posts back within their windows, by member and time); a member's join captcha in a
group, pending until pressed or due (then the worker removes them); the platform's admins of
each group, as the worker last read them.

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

    op.create_table(
        "join_captchas",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("robot_account_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_join_captchas_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_join_captchas_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_join_captchas_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["robot_account_id"],
            ["robot_accounts.id"],
            name=op.f("fk_join_captchas_robot_account_id_robot_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_join_captchas")),
        sa.UniqueConstraint(
            "community_id", "member_id", name=op.f("uq_join_captchas_community_id_member_id")
        ),
    )
    with op.batch_alter_table("join_captchas", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_join_captchas_status_due_at"), ["status", "due_at"], unique=False
        )

    op.create_table(
        "robot_chat_admins",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("person_ids", sa.JSON(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_robot_chat_admins_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_robot_chat_admins_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_robot_chat_admins")),
    )
    with op.batch_alter_table("robot_chat_admins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_robot_chat_admins_due_at"), ["due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("robot_chat_admins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_robot_chat_admins_due_at"))
    op.drop_table("robot_chat_admins")
    with op.batch_alter_table("join_captchas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_join_captchas_status_due_at"))
    op.drop_table("join_captchas")
    with op.batch_alter_table("robot_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_robot_events_merchant_id_member_id_at"))
        batch_op.drop_column("fingerprint")

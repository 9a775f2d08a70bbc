"""Moderation: policies (the merchant's and per-community overrides), the merchant's one ban
list (at most one ban in force per member), strikes, the moderation log, keyword auto-replies.

Revision ID: 0011_moderation
Revises: 0010_communities_and_robot
Create Date: 2026-12-02 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_moderation"
down_revision: str | None = "0010_communities_and_robot"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bans",
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("banned_by", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=100), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_bans_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_bans_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bans")),
    )
    with op.batch_alter_table("bans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bans_merchant_id_at"), ["merchant_id", "at"], unique=False
        )
        batch_op.create_index(
            "ix_bans_one_in_force",
            ["merchant_id", "member_id"],
            unique=True,
            sqlite_where=sa.text("lifted_at IS NULL"),
            postgresql_where=sa.text("lifted_at IS NULL"),
        )

    op.create_table(
        "auto_replies",
        sa.Column("community_id", sa.Uuid(), nullable=True),
        sa.Column("match", sa.String(length=8), nullable=False),
        sa.Column("pattern", sa.String(length=300), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_auto_replies_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_auto_replies_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auto_replies")),
    )
    with op.batch_alter_table("auto_replies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_auto_replies_merchant_id_community_id"),
            ["merchant_id", "community_id"],
            unique=False,
        )

    op.create_table(
        "moderation_policies",
        sa.Column("community_id", sa.Uuid(), nullable=True),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_moderation_policies_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_moderation_policies_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_policies")),
    )
    with op.batch_alter_table("moderation_policies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_moderation_policies_merchant_id_community_id"),
            ["merchant_id", "community_id"],
            unique=True,
        )
        batch_op.create_index(
            "ix_moderation_policies_merchant_wide",
            ["merchant_id"],
            unique=True,
            sqlite_where=sa.text("community_id IS NULL"),
            postgresql_where=sa.text("community_id IS NULL"),
        )

    op.create_table(
        "moderation_entries",
        sa.Column("community_id", sa.Uuid(), nullable=True),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("rule", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("excerpt", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.String(length=100), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_moderation_entries_community_id_communities"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["robot_events.id"],
            name=op.f("fk_moderation_entries_event_id_robot_events"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_moderation_entries_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_moderation_entries_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_entries")),
    )
    with op.batch_alter_table("moderation_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_moderation_entries_merchant_id_at"), ["merchant_id", "at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_moderation_entries_merchant_id_member_id"),
            ["merchant_id", "member_id"],
            unique=False,
        )

    op.create_table(
        "strikes",
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=True),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_strikes_community_id_communities"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["moderation_entries.id"],
            name=op.f("fk_strikes_entry_id_moderation_entries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_strikes_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_strikes_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strikes")),
    )
    with op.batch_alter_table("strikes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_strikes_merchant_id_member_id_at"),
            ["merchant_id", "member_id", "at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("strikes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_strikes_merchant_id_member_id_at"))

    op.drop_table("strikes")
    with op.batch_alter_table("moderation_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_moderation_entries_merchant_id_member_id"))
        batch_op.drop_index(batch_op.f("ix_moderation_entries_merchant_id_at"))

    op.drop_table("moderation_entries")
    with op.batch_alter_table("moderation_policies", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_moderation_policies_merchant_wide",
            sqlite_where=sa.text("community_id IS NULL"),
            postgresql_where=sa.text("community_id IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_moderation_policies_merchant_id_community_id"))

    op.drop_table("moderation_policies")
    with op.batch_alter_table("auto_replies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auto_replies_merchant_id_community_id"))

    op.drop_table("auto_replies")
    with op.batch_alter_table("bans", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_bans_one_in_force",
            sqlite_where=sa.text("lifted_at IS NULL"),
            postgresql_where=sa.text("lifted_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_bans_merchant_id_at"))

    op.drop_table("bans")

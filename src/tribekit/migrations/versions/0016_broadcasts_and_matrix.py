"""Broadcasts and scheduled posts (a broadcast, its deliveries one per group or member, the
recurring schedules that make them), the send pacing shared by every process (``rate_slots``),
whether a community accepts marketing, and a Matrix robot's homeserver and sync position.

Revision ID: 0016_broadcasts_and_matrix
Revises: 0015_join_captcha
Create Date: 2026-12-02 15:33:07.222781
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_broadcasts_and_matrix"
down_revision: str | None = "0015_join_captcha"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_slots",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("free_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_slots")),
    )
    op.create_table(
        "post_schedules",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("cron", sa.String(length=100), nullable=True),
        sa.Column("after_join_seconds", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Uuid(), nullable=True),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("marketing", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_post_schedules_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_post_schedules_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_schedules")),
    )
    with op.batch_alter_table("post_schedules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_post_schedules_active_due_at"), ["active", "due_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_post_schedules_merchant_id_created_at"),
            ["merchant_id", "created_at"],
            unique=False,
        )

    op.create_table(
        "broadcasts",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("community_ids", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("level_ids", sa.JSON(), nullable=False),
        sa.Column("member_ids", sa.JSON(), nullable=False),
        sa.Column("marketing", sa.Boolean(), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=True),
        sa.Column("occurrence_key", sa.String(length=120), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expanded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_broadcasts_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["post_schedules.id"],
            name=op.f("fk_broadcasts_schedule_id_post_schedules"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
        sa.UniqueConstraint(
            "schedule_id", "occurrence_key", name=op.f("uq_broadcasts_schedule_id_occurrence_key")
        ),
    )
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_broadcasts_merchant_id_send_at"),
            ["merchant_id", "send_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_broadcasts_status_send_at"), ["status", "send_at"], unique=False
        )

    op.create_table(
        "broadcast_deliveries",
        sa.Column("broadcast_id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=True),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("robot_account_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=255), nullable=True),
        sa.Column("person_id", sa.String(length=255), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_broadcast_deliveries_broadcast_id_broadcasts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_broadcast_deliveries_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_broadcast_deliveries_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_broadcast_deliveries_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["robot_account_id"],
            ["robot_accounts.id"],
            name=op.f("fk_broadcast_deliveries_robot_account_id_robot_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_deliveries")),
        sa.UniqueConstraint(
            "broadcast_id",
            "community_id",
            name=op.f("uq_broadcast_deliveries_broadcast_id_community_id"),
        ),
        sa.UniqueConstraint(
            "broadcast_id", "member_id", name=op.f("uq_broadcast_deliveries_broadcast_id_member_id")
        ),
    )
    with op.batch_alter_table("broadcast_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_broadcast_deliveries_broadcast_id_status"),
            ["broadcast_id", "status"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_broadcast_deliveries_status_due_at"), ["status", "due_at"], unique=False
        )

    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("accepts_marketing", sa.Boolean(), nullable=False, server_default=sa.true())
        )

    with op.batch_alter_table("robot_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("homeserver", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("sync_token", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("robot_accounts", schema=None) as batch_op:
        batch_op.drop_column("sync_token")
        batch_op.drop_column("homeserver")

    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.drop_column("accepts_marketing")

    with op.batch_alter_table("broadcast_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_broadcast_deliveries_status_due_at"))
        batch_op.drop_index(batch_op.f("ix_broadcast_deliveries_broadcast_id_status"))

    op.drop_table("broadcast_deliveries")
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_broadcasts_status_send_at"))
        batch_op.drop_index(batch_op.f("ix_broadcasts_merchant_id_send_at"))

    op.drop_table("broadcasts")
    with op.batch_alter_table("post_schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_schedules_merchant_id_created_at"))
        batch_op.drop_index(batch_op.f("ix_post_schedules_active_due_at"))

    op.drop_table("post_schedules")
    op.drop_table("rate_slots")

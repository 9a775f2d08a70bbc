"""Communities become real and the robot's core tables: a community's status (existing ones are
active: staff registered them), the robot that found it, its timezone, language, welcome and
rules texts and a live member count (counted now from its members); members who left, their
join source and activity; community leaders; robot accounts, the events they received (once per
platform event id) and the durable actions they owe (once per decision).

Revision ID: 0010_communities_and_robot
Revises: 0009_one_open_invitation
Create Date: 2026-12-02 02:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_communities_and_robot"
down_revision: str | None = "0009_one_open_invitation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "robot_accounts",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("token", sa.String(length=200), nullable=True),
        sa.Column("webhook_secret", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_robot_accounts_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_robot_accounts")),
        sa.UniqueConstraint(
            "channel", "external_id", name=op.f("uq_robot_accounts_channel_external_id")
        ),
    )
    with op.batch_alter_table("robot_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_robot_accounts_merchant_id_id"), ["merchant_id", "id"], unique=False
        )

    op.create_table(
        "community_leaders",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("staff_user_id", sa.Uuid(), nullable=True),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "(staff_user_id IS NULL) <> (member_id IS NULL)",
            name=op.f("ck_community_leaders_one_kind_of_leader"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_community_leaders_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_community_leaders_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_community_leaders_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_users.id"],
            name=op.f("fk_community_leaders_staff_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_leaders")),
        sa.UniqueConstraint(
            "community_id", "member_id", name=op.f("uq_community_leaders_community_id_member_id")
        ),
        sa.UniqueConstraint(
            "community_id",
            "staff_user_id",
            name=op.f("uq_community_leaders_community_id_staff_user_id"),
        ),
    )
    with op.batch_alter_table("community_leaders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_leaders_staff_user_id"), ["staff_user_id"], unique=False
        )

    op.create_table(
        "robot_actions",
        sa.Column("robot_account_id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=True),
        sa.Column("decision", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_robot_actions_community_id_communities"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_robot_actions_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["robot_account_id"],
            ["robot_accounts.id"],
            name=op.f("fk_robot_actions_robot_account_id_robot_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_robot_actions")),
        sa.UniqueConstraint(
            "merchant_id", "decision", name=op.f("uq_robot_actions_merchant_id_decision")
        ),
    )
    with op.batch_alter_table("robot_actions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_robot_actions_merchant_id_community_id_created_at"),
            ["merchant_id", "community_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_robot_actions_status_due_at"), ["status", "due_at"], unique=False
        )

    op.create_table(
        "robot_events",
        sa.Column("robot_account_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=True),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_robot_events_community_id_communities"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_robot_events_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_robot_events_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["robot_account_id"],
            ["robot_accounts.id"],
            name=op.f("fk_robot_events_robot_account_id_robot_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_robot_events")),
        sa.UniqueConstraint(
            "robot_account_id", "event_id", name=op.f("uq_robot_events_robot_account_id_event_id")
        ),
    )
    with op.batch_alter_table("robot_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_robot_events_merchant_id_community_id_at"),
            ["merchant_id", "community_id", "at"],
            unique=False,
        )

    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=8), nullable=False, server_default="active")
        )
        batch_op.add_column(sa.Column("robot_account_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("language", sa.String(length=8), nullable=False, server_default="en")
        )
        batch_op.add_column(sa.Column("welcome_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("rules_text", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("member_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_communities_member_count_not_negative"), "member_count >= 0"
        )
        batch_op.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_communities_robot_account_id_robot_accounts"),
            "robot_accounts",
            ["robot_account_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("community_members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("left_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("join_source", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("messages", sa.Integer(), nullable=False, server_default="0"))

    op.execute(
        "UPDATE communities SET member_count = (SELECT count(*) FROM community_members"
        " WHERE community_members.community_id = communities.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("community_members", schema=None) as batch_op:
        batch_op.drop_column("messages")
        batch_op.drop_column("last_active_at")
        batch_op.drop_column("join_source")
        batch_op.drop_column("left_at")

    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_communities_robot_account_id_robot_accounts"), type_="foreignkey"
        )
        batch_op.drop_column("archived_at")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_constraint(
            batch_op.f("ck_communities_member_count_not_negative"), type_="check"
        )
        batch_op.drop_column("member_count")
        batch_op.drop_column("rules_text")
        batch_op.drop_column("welcome_text")
        batch_op.drop_column("language")
        batch_op.drop_column("timezone")
        batch_op.drop_column("robot_account_id")
        batch_op.drop_column("status")

    with op.batch_alter_table("robot_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_robot_events_merchant_id_community_id_at"))

    op.drop_table("robot_events")
    with op.batch_alter_table("robot_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_robot_actions_status_due_at"))
        batch_op.drop_index(batch_op.f("ix_robot_actions_merchant_id_community_id_created_at"))

    op.drop_table("robot_actions")
    with op.batch_alter_table("community_leaders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_leaders_staff_user_id"))

    op.drop_table("community_leaders")
    with op.batch_alter_table("robot_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_robot_accounts_merchant_id_id"))

    op.drop_table("robot_accounts")

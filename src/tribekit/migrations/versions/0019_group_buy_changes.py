"""Schema changes of group buys and gift packs, beyond 0017: a team is found by its share code
alone (the public progress page), so ``group_buy_teams.code`` gets an index of its own (the
unique ``(merchant_id, code)`` one leads with the merchant).

Revision ID: 0019_group_buy_changes
Revises: 0018_coupon_changes
Create Date: 2026-12-02 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019_group_buy_changes"
down_revision: str | None = "0018_coupon_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("group_buy_teams", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_buy_teams_code"), ["code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("group_buy_teams", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_buy_teams_code"))

"""At most one open staff invitation per email and merchant (a partial unique index), so that
two invitations sent at once cannot both stay open. Older duplicates are revoked first, the
newest one of each email kept.

Revision ID: 0009_one_open_invitation
Revises: 0008_plans_at_checkout
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_one_open_invitation"
down_revision: str | None = "0008_plans_at_checkout"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "accepted_at IS NULL AND revoked_at IS NULL"


def upgrade() -> None:
    op.execute(
        "UPDATE staff_invitations SET revoked_at = created_at"
        " WHERE accepted_at IS NULL AND revoked_at IS NULL"
        " AND EXISTS (SELECT 1 FROM staff_invitations AS newer"
        " WHERE newer.merchant_id = staff_invitations.merchant_id"
        " AND newer.email = staff_invitations.email"
        " AND newer.accepted_at IS NULL AND newer.revoked_at IS NULL"
        " AND newer.created_at > staff_invitations.created_at)"
    )
    op.create_index(
        "ix_staff_invitations_one_open",
        "staff_invitations",
        ["merchant_id", "email"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("ix_staff_invitations_one_open", table_name="staff_invitations")

"""Staff invitations (a staff user joins another merchant only by accepting one).

Revision ID: 0004_staff_invitations
Revises: 0003_commerce
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004_staff_invitations"
down_revision: str | None = "0003_commerce"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

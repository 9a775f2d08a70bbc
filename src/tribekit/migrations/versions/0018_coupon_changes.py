"""Schema changes of coupons, beyond 0017 (none yet).

Revision ID: 0018_coupon_changes
Revises: 0017_campaigns
Create Date: 2026-12-02 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0018_coupon_changes"
down_revision: str | None = "0017_campaigns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

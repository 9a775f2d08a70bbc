"""Schema changes of campaign schedules, beyond 0017 (none yet).

Revision ID: 0021_campaign_schedule_changes
Revises: 0020_flash_sale_changes
Create Date: 2026-12-02 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0021_campaign_schedule_changes"
down_revision: str | None = "0020_flash_sale_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

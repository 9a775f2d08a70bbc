"""Schema changes of campaign schedules, beyond 0017: ``planned_until``, how far each
schedule's occurrences are made.

Revision ID: 0021_campaign_schedule_changes
Revises: 0020_flash_sale_changes
Create Date: 2026-12-02 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_campaign_schedule_changes"
down_revision: str | None = "0020_flash_sale_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_schedules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("planned_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaign_schedules", schema=None) as batch_op:
        batch_op.drop_column("planned_until")

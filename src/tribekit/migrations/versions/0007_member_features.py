"""What members and operators found missing: stock tracking, erasure and export support.

Revision ID: 0007_member_features
Revises: 0006_event_stream
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0007_member_features"
down_revision: str | None = "0006_event_stream"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""Commit-ordered order event stream, consumer positions, the ledger kernel, plans sold as order lines.

Revision ID: 0006_event_stream
Revises: 0005_refund_requests
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0006_event_stream"
down_revision: str | None = "0005_refund_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

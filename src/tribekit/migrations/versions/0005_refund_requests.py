"""Durable refund requests performed at the provider after commit.

Revision ID: 0005_refund_requests
Revises: 0004_staff_invitations
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005_refund_requests"
down_revision: str | None = "0004_staff_invitations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""The built-in web community (channel ``web``): its messages, and what the robot decided about
its members there.

* ``WebMessage``: one message in one web community, by a member, a staff user or the robot.
  The text is stored as typed; it is escaped where it is shown. ``seq`` is the message's place
  in its group (history pages go by it); ``rev`` moves to a new number of the group's counter
  on every change (posted, removed), so the live stream reads "every change after ``rev`` N".
* ``WebCounter``: the group's counter, which ``seq`` and ``rev`` are drawn from. Taking the next
  number locks the row until commit, so numbers become visible in the order they were taken and
  a reader that has seen N never misses a change numbered below it.
* ``WebMemberState``: the web community's own ban, mute and removal of one member, set by the
  robot's actions on the web channel (the merchant's ban list says why).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tribekit.kit import clock
from tribekit.kit.db import Base, StrEnumText, TenantMixin, TenantRow


class AuthorKind(StrEnum):
    MEMBER = "member"
    STAFF = "staff"
    ROBOT = "robot"


class WebCounter(TenantMixin, Base):
    __tablename__ = "web_counters"

    community_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    last: Mapped[int] = mapped_column(BigInteger, default=0)


class WebMessage(TenantRow):
    __tablename__ = "web_messages"
    __table_args__ = (
        UniqueConstraint("community_id", "seq"),
        Index(None, "community_id", "rev"),
        Index(None, "member_id"),
    )

    community_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(BigInteger)
    rev: Mapped[int] = mapped_column(BigInteger)
    author_kind: Mapped[AuthorKind] = mapped_column(StrEnumText(AuthorKind, 8))
    #: The author when a member ("member_id": the privacy export and erasure find it).
    member_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    staff_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    author_name: Mapped[str] = mapped_column(String(200))  # as shown when it was posted
    text: Mapped[str] = mapped_column(Text)
    reply_to_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("web_messages.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    deleted_at: Mapped[datetime | None]
    deleted_by: Mapped[str | None] = mapped_column(String(100))


class WebMemberState(TenantMixin, Base):
    __tablename__ = "web_member_states"

    community_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    banned_at: Mapped[datetime | None]
    banned_until: Mapped[datetime | None]  # None with ``banned_at``: for good
    muted_at: Mapped[datetime | None]
    muted_until: Mapped[datetime | None]  # None with ``muted_at``: for good
    removed_at: Mapped[datetime | None]  # kicked: back through a new member link
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

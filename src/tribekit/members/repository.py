"""Queries for members and what hangs off them. Every query is scoped to one merchant."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Integer,
    Select,
    String,
    bindparam,
    cast,
    delete,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from tribekit.communities.repository import Communities, member_in_any
from tribekit.kit import clock
from tribekit.kit.repository import TenantRepository
from tribekit.models.communities import Community, CommunityMember
from tribekit.models.members import Member, MemberAddress, MemberEvent, MemberIdentity, MemberTag


@dataclass
class MemberView:
    """A member with everything the API shows about them."""

    member: Member
    tags: list[str] = field(default_factory=list)
    addresses: list[MemberAddress] = field(default_factory=list)
    identities: list[MemberIdentity] = field(default_factory=list)
    community_ids: list[uuid.UUID] = field(default_factory=list)


@dataclass(frozen=True)
class MemberFilters:
    tag: str | None = None
    source: str | None = None
    source_ref: str | None = None
    community_id: uuid.UUID | None = None
    joined_from: datetime | None = None
    joined_to: datetime | None = None
    search: str | None = None
    blocked: bool | None = None
    #: A leader's reach: only members who are or were in one of these communities.
    within: frozenset[uuid.UUID] | None = None


# The one-member read (``Members.read``) is two statements, both built once at import: the
# member row, then everything hanging off it as one UNION ALL. Composing a statement costs more
# Python than running a cached one, and Core rows skip the ORM's identity map and object setup.
_member = Member.__table__.c
_READ_MEMBER = select(
    *(
        _member[name]
        for name in (
            "id",
            "display_name",
            "phone",
            "email",
            "birthday",
            "source",
            "source_ref",
            "marketing_consent",
            "consent_at",
            "consent_source",
            "joined_at",
            "blocked",
            "notes",
            "created_at",
            "updated_at",
        )
    )
).where(
    _member.merchant_id == bindparam("merchant_id"),
    _member.id == bindparam("id"),
    _member.erased_at.is_(None),
    _member.merged_into_id.is_(None),
)

_tag, _address = MemberTag.__table__.c, MemberAddress.__table__.c
_identity, _community = MemberIdentity.__table__.c, CommunityMember.__table__.c
_AT_TYPE: TypeEngine[Any] = _identity.created_at.type
_UUID_TYPE: TypeEngine[Any] = _address.id.type
#: Text columns of the UNION: s0 sorts tags; s1..s9 carry an address or an identity.
_TEXTS = 10


def _branch(
    kind: int,
    *,
    sort_at: ColumnElement[Any] | None = None,
    row_id: ColumnElement[Any] | None = None,
    texts: Sequence[ColumnElement[Any] | None] = (),
    flag: ColumnElement[Any] | None = None,
    at: ColumnElement[Any] | None = None,
) -> list[ColumnElement[Any]]:
    """One SELECT list of the children UNION; every column is typed, even when NULL, so that
    PostgreSQL can match the branches and the results are converted back (UUID, aware times)."""

    def typed(column: ColumnElement[Any] | None, type_: TypeEngine[Any]) -> ColumnElement[Any]:
        return cast(null(), type_) if column is None else column

    padded = [*texts, *([None] * (_TEXTS - len(texts)))]
    return [
        literal_column(str(kind), Integer).label("k"),
        typed(sort_at, _AT_TYPE).label("sort_at"),
        typed(row_id, _UUID_TYPE).label("row_id"),
        *(typed(text, String()).label(f"s{i}") for i, text in enumerate(padded)),
        typed(flag, Boolean()).label("flag"),
        typed(at, _AT_TYPE).label("at"),
    ]


_TAGS, _ADDRESSES, _IDENTITIES, _COMMUNITIES = range(4)
_ADDRESS_TEXTS = (
    "label",
    "recipient",
    "phone",
    "line1",
    "line2",
    "city",
    "region",
    "postal_code",
    "country",
)
_IDENTITY_TEXTS = ("channel", "external_id", "username")
_children = union_all(
    select(*_branch(_TAGS, texts=[_tag.tag])).where(
        _tag.merchant_id == bindparam("merchant_id"), _tag.member_id == bindparam("id")
    ),
    select(
        *_branch(
            _ADDRESSES,
            row_id=_address.id,
            texts=[None, *(_address[name] for name in _ADDRESS_TEXTS)],
            flag=_address.is_default,
        )
    ).where(
        _address.merchant_id == bindparam("merchant_id"), _address.member_id == bindparam("id")
    ),
    select(
        *_branch(
            _IDENTITIES,
            row_id=_identity.id,
            texts=[None, *(_identity[name] for name in _IDENTITY_TEXTS)],
            at=_identity.created_at,
        )
    ).where(
        _identity.merchant_id == bindparam("merchant_id"),
        _identity.member_id == bindparam("id"),
    ),
    select(
        *_branch(_COMMUNITIES, sort_at=_community.joined_at, row_id=_community.community_id)
    ).where(
        _community.merchant_id == bindparam("merchant_id"),
        _community.member_id == bindparam("id"),
        _community.left_at.is_(None),
    ),
).subquery("children")
# Tags by tag, addresses and identities by id, communities by when the member joined: the
# order ``Members.views`` gives.
_READ_CHILDREN = select(_children).order_by(
    _children.c.k, _children.c.sort_at, _children.c.s0, _children.c.row_id
)


# A leader reading one member: is, or was, the member in one of the leader's communities? Built
# once, like the read itself; the community ids expand at execution.
_IN_REACH = (
    select(_community.member_id)
    .where(
        _community.merchant_id == bindparam("merchant_id"),
        _community.member_id == bindparam("id"),
        _community.community_id.in_(bindparam("within", expanding=True)),
    )
    .limit(1)
)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Members(TenantRepository[Member]):
    model = Member
    noun = "member"

    def current(self) -> Select[Any]:
        """Members that exist for the merchant: neither erased nor merged into another."""
        return self.select().where(Member.erased_at.is_(None), Member.merged_into_id.is_(None))

    async def get_current(self, member_id: uuid.UUID, *, for_update: bool = False) -> Member | None:
        stmt = self.current().where(Member.id == member_id)
        member: Member | None = await self.session.scalar(
            stmt.with_for_update() if for_update else stmt
        )
        return member

    def filtered(self, filters: MemberFilters) -> Select[Any]:
        stmt = self.current()
        if filters.tag:
            stmt = stmt.where(
                Member.id.in_(
                    select(MemberTag.member_id).where(
                        MemberTag.merchant_id == self.merchant_id,
                        MemberTag.tag == filters.tag.lower(),
                    )
                )
            )
        if filters.community_id:
            stmt = stmt.where(
                Member.id.in_(
                    select(CommunityMember.member_id).where(
                        CommunityMember.merchant_id == self.merchant_id,
                        CommunityMember.community_id == filters.community_id,
                        CommunityMember.left_at.is_(None),
                    )
                )
            )
        if filters.within is not None:
            stmt = stmt.where(member_in_any(self.merchant_id, Member.id, filters.within))
        if filters.source:
            stmt = stmt.where(Member.source == filters.source)
        if filters.source_ref:
            stmt = stmt.where(Member.source_ref == filters.source_ref)
        if filters.joined_from:
            stmt = stmt.where(Member.joined_at >= filters.joined_from)
        if filters.joined_to:
            stmt = stmt.where(Member.joined_at < filters.joined_to)
        if filters.blocked is not None:
            stmt = stmt.where(Member.blocked.is_(filters.blocked))
        if filters.search:
            text = filters.search.strip().lower()
            conditions = [
                func.lower(Member.display_name).like(f"%{_like_escape(text)}%", escape="\\")
            ]
            digits = "".join(ch for ch in text if ch.isdigit())
            if len(digits) >= 3:
                conditions.append(Member.phone.like(f"%{digits}%"))
            stmt = stmt.where(or_(*conditions))
        return stmt

    async def read(self, member_id: uuid.UUID) -> dict[str, Any] | None:
        """One current member as the API shows it (``MemberOut``'s fields), in two cached Core
        statements; None when there is no such member at this merchant."""
        params = {"merchant_id": self.merchant_id, "id": member_id}
        conn = await self.session.connection()
        row = (await conn.execute(_READ_MEMBER, params)).first()
        if row is None:
            return None
        tags: list[str] = []
        addresses: list[dict[str, Any]] = []
        identities: list[dict[str, Any]] = []
        community_ids: list[uuid.UUID] = []
        for child in await conn.execute(_READ_CHILDREN, params):
            texts = child[3 : 3 + _TEXTS]
            if child.k == _TAGS:
                tags.append(child.s0)
            elif child.k == _ADDRESSES:
                addresses.append(
                    {"id": child.row_id, **dict(zip(_ADDRESS_TEXTS, texts[1:], strict=False))}
                    | {"is_default": child.flag}
                )
            elif child.k == _IDENTITIES:
                identities.append(
                    {"id": child.row_id, **dict(zip(_IDENTITY_TEXTS, texts[1:], strict=False))}
                    | {"created_at": child.at}
                )
            else:
                community_ids.append(child.row_id)
        return {
            **row._mapping,
            "tags": tags,
            "addresses": addresses,
            "identities": identities,
            "community_ids": community_ids,
        }

    async def views(self, members: Sequence[Member]) -> list[MemberView]:
        """Load tags, addresses, identities and communities for many members in four queries."""
        ids = [m.id for m in members]
        views = {m.id: MemberView(m) for m in members}
        if not ids:
            return []
        tags = await self.session.execute(
            select(MemberTag.member_id, MemberTag.tag)
            .where(MemberTag.member_id.in_(ids))
            .order_by(MemberTag.tag)
        )
        for member_id, tag in tags:
            views[member_id].tags.append(tag)
        addresses = await self.session.scalars(
            select(MemberAddress).where(MemberAddress.member_id.in_(ids)).order_by(MemberAddress.id)
        )
        for address in addresses:
            views[address.member_id].addresses.append(address)
        identities = await self.session.scalars(
            select(MemberIdentity)
            .where(MemberIdentity.member_id.in_(ids))
            .order_by(MemberIdentity.id)
        )
        for identity in identities:
            views[identity.member_id].identities.append(identity)
        communities = await self.session.execute(
            select(CommunityMember.member_id, CommunityMember.community_id)
            .where(CommunityMember.member_id.in_(ids), CommunityMember.left_at.is_(None))
            .order_by(CommunityMember.joined_at)
        )
        for member_id, community_id in communities:
            views[member_id].community_ids.append(community_id)
        return [views[m.id] for m in members]

    def add_tags(self, member_id: uuid.UUID, tags: Iterable[str]) -> list[str]:
        unique = list(dict.fromkeys(tags))
        self.session.add_all(
            MemberTag(member_id=member_id, tag=tag, merchant_id=self.merchant_id) for tag in unique
        )
        return unique

    def add_addresses(self, member_id: uuid.UUID, addresses: Iterable[MemberAddress]) -> None:
        for address in addresses:
            address.member_id = member_id
            address.merchant_id = self.merchant_id
            self.session.add(address)

    async def replace_tags(self, member_id: uuid.UUID, tags: Iterable[str]) -> None:
        await self.session.execute(delete(MemberTag).where(MemberTag.member_id == member_id))
        self.add_tags(member_id, tags)

    async def replace_addresses(
        self, member_id: uuid.UUID, addresses: Iterable[MemberAddress]
    ) -> None:
        await self.session.execute(
            delete(MemberAddress).where(MemberAddress.member_id == member_id)
        )
        self.add_addresses(member_id, addresses)

    async def identity(self, member_id: uuid.UUID, identity_id: uuid.UUID) -> MemberIdentity | None:
        return await self.session.scalar(
            select(MemberIdentity).where(
                MemberIdentity.merchant_id == self.merchant_id,
                MemberIdentity.member_id == member_id,
                MemberIdentity.id == identity_id,
            )
        )

    def record(
        self, member_id: uuid.UUID, kind: str, actor: str | None, **data: Any
    ) -> MemberEvent:
        event = MemberEvent(
            merchant_id=self.merchant_id, member_id=member_id, kind=kind, actor=actor, data=data
        )
        self.session.add(event)
        return event

    def events(self, member_id: uuid.UUID) -> Select[MemberEvent]:
        return select(MemberEvent).where(
            MemberEvent.merchant_id == self.merchant_id, MemberEvent.member_id == member_id
        )

    async def all_events(self, member_id: uuid.UUID) -> list[MemberEvent]:
        stmt = self.events(member_id).order_by(MemberEvent.id)
        return list((await self.session.scalars(stmt)).all())

    async def in_reach(self, member_id: uuid.UUID, within: frozenset[uuid.UUID]) -> bool:
        """Whether the member is or was in one of ``within`` (a leader's communities)."""
        if not within:
            return False
        conn = await self.session.connection()
        params = {"merchant_id": self.merchant_id, "id": member_id, "within": sorted(within)}
        return (await conn.execute(_IN_REACH, params)).first() is not None

    async def communities_of(self, member_id: uuid.UUID) -> list[dict[str, Any]]:
        """The groups the member is or was in: id, name, channel, when they joined and left."""
        rows = await self.session.execute(
            select(
                Community.id,
                Community.name,
                Community.channel,
                CommunityMember.joined_at,
                CommunityMember.left_at,
            )
            .join(CommunityMember, CommunityMember.community_id == Community.id)
            .where(
                CommunityMember.merchant_id == self.merchant_id,
                CommunityMember.member_id == member_id,
            )
            .order_by(CommunityMember.joined_at)
        )
        return [
            {
                "id": str(i),
                "name": name,
                "channel": channel,
                "joined_at": at.isoformat(),
                "left_at": left.isoformat() if left else None,
            }
            for i, name, channel, at, left in rows.all()
        ]

    async def existing_phones(self) -> set[str]:
        stmt = select(Member.phone).where(
            Member.merchant_id == self.merchant_id, Member.phone.is_not(None)
        )
        return {phone for phone in (await self.session.scalars(stmt)).all() if phone}

    async def existing_identities(self) -> set[tuple[str, str]]:
        stmt = select(MemberIdentity.channel, MemberIdentity.external_id).where(
            MemberIdentity.merchant_id == self.merchant_id
        )
        return {
            (channel, external_id)
            for channel, external_id in (await self.session.execute(stmt)).all()
        }

    async def move_children(self, source_id: uuid.UUID, target_id: uuid.UUID) -> None:
        """Re-point the source member's identities, addresses and timeline at the target.

        The target keeps its own default address; the source's addresses arrive as others."""
        target_default = select(MemberAddress.id).where(
            MemberAddress.member_id == target_id, MemberAddress.is_default.is_(True)
        )
        if await self.session.scalar(target_default) is not None:
            await self.session.execute(
                update(MemberAddress)
                .where(MemberAddress.member_id == source_id)
                .values(is_default=False)
            )
        for model in (MemberIdentity, MemberAddress, MemberEvent):
            await self.session.execute(
                update(model)
                .where(model.merchant_id == self.merchant_id, model.member_id == source_id)
                .values(member_id=target_id)
            )
        existing = select(MemberTag.tag).where(MemberTag.member_id == target_id)
        await self.session.execute(
            update(MemberTag)
            .where(MemberTag.member_id == source_id, MemberTag.tag.not_in(existing))
            .values(member_id=target_id)
        )
        await self.session.execute(delete(MemberTag).where(MemberTag.member_id == source_id))
        # Memberships through the communities domain: the member counts stay exact.
        await Communities(self.session, self.merchant_id).merge_memberships(source_id, target_id)

    async def erase_children(self, member_id: uuid.UUID) -> None:
        """Delete what identifies the person or places them in a group; the timeline stays.
        They leave their groups first, so the groups' member counts fall."""
        await Communities(self.session, self.merchant_id).end_memberships(member_id, at=clock.now())
        for model in (MemberIdentity, MemberAddress, MemberTag, CommunityMember):
            await self.session.execute(delete(model).where(model.member_id == member_id))

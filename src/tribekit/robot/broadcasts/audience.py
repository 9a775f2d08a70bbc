"""A due broadcast's targets, written as delivery rows (one statement for all of them).

* a community target: an active group with its chat id and an active robot account of the
  merchant (a web community without either: its own id, and the merchant's web robot); a
  marketing broadcast writes a group that does not accept marketing as ``skipped``, and so
  is a group past its channel's monthly quota of mass messages (``monthly_mass_messages``);
* a member target (a direct message): a member (neither erased nor merged) with an identity
  on a channel that can message one person (``DirectChats``) and an active robot account of
  the merchant there. A marketing message is ``skipped`` for a member without recorded
  consent (never asked, or ``/stop``), a blocked member never gets a DM; an erased member is
  no target at all. The robot is the one of a group they are in on that channel, else the
  merchant's oldest there.

Each target reads its own language (the group's; a member: that of the group they joined
first, else "en"), or the first text given when the broadcast has none in it. Consent is
checked again right before each send (``deliveries.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, exists, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.ids import new_id
from tribekit.models.broadcasts import Broadcast, BroadcastDelivery
from tribekit.models.communities import Community, CommunityMember
from tribekit.models.enums import Channel as ChannelName
from tribekit.models.enums import CommunityStatus
from tribekit.models.members import Member, MemberIdentity, MemberTag
from tribekit.models.membership import MembershipAccount
from tribekit.models.robot import RobotAccount
from tribekit.models.tenancy import Merchant

from .content import Content
from .states import Audience, DeliveryStatus

DEFAULT_LANGUAGE = "en"
NO_MARKETING_GROUP = "the group does not accept marketing"
NO_CONSENT = "no recorded consent to marketing"
BLOCKED = "the member is blocked"
QUOTA_USED = "the group's mass messages for the month are used up"

_c = Community.__table__.c
_a = RobotAccount.__table__.c
_m = Member.__table__.c
_i = MemberIdentity.__table__.c
_cm = CommunityMember.__table__.c


@dataclass(frozen=True)
class Target:
    community_id: uuid.UUID | None
    member_id: uuid.UUID | None
    robot_account_id: uuid.UUID
    channel: str
    chat_id: str | None
    person_id: str | None
    language: str
    skipped: str | None  # why it is written skipped; None: pending


def _ids(values: Sequence[str]) -> list[uuid.UUID]:
    return [uuid.UUID(v) for v in values]


@dataclass(frozen=True)
class _Group:
    id: uuid.UUID
    channel: str
    chat_id: str
    language: str
    accepts_marketing: bool
    robot_account_id: uuid.UUID


async def _groups(
    session: AsyncSession, merchant_id: uuid.UUID, community_ids: Sequence[uuid.UUID] | None
) -> list[_Group]:
    """The merchant's active groups the robot can post in (``community_ids`` of them, when
    given). A web community's chat is its own id when it has no external one, and the merchant's
    web robot speaks where the group names none (as in the web community's pages)."""
    own = and_(_a.id == _c.robot_account_id, _a.merchant_id == merchant_id, _a.active.is_(True))
    stmt = (
        select(_c.id, _c.channel, _c.external_id, _c.language, _c.accepts_marketing, _a.id)
        .outerjoin(RobotAccount, own)
        .where(_c.merchant_id == merchant_id, _c.status == CommunityStatus.ACTIVE.value)
        .order_by(_c.id)
    )
    if community_ids is not None:
        stmt = stmt.where(_c.id.in_(list(community_ids)))
    web_robot: uuid.UUID | None = await session.scalar(
        select(_a.id)
        .where(
            _a.merchant_id == merchant_id,
            _a.channel == ChannelName.WEB.value,
            _a.active.is_(True),
        )
        .order_by(_a.created_at, _a.id)
        .limit(1)
    )
    found = []
    for community_id, channel, external_id, language, accepts, account_id in (
        await session.execute(stmt)
    ).all():
        web = channel == ChannelName.WEB
        chat = external_id or (str(community_id) if web else None)
        account = account_id or (web_robot if web else None)
        if chat is None or account is None:
            continue  # the robot is not (or no longer) in that group
        found.append(_Group(community_id, str(channel), chat, language, accepts, account))
    return found


async def _mass_messages_used(
    session: AsyncSession, broadcast: Broadcast, groups: Sequence[_Group]
) -> dict[uuid.UUID, int]:
    """How many broadcasts each group got (or is getting) this calendar month, in the
    merchant's timezone. The groups' rows are locked first, in id order, so that two
    broadcasts written at once count each other."""
    if not groups:
        return {}
    ids = sorted(g.id for g in groups)
    await session.execute(select(_c.id).where(_c.id.in_(ids)).order_by(_c.id).with_for_update())
    zone = await session.scalar(
        select(Merchant.timezone).where(Merchant.id == broadcast.merchant_id)
    )
    local = clock.now().astimezone(ZoneInfo(zone or "UTC"))
    month = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    d = BroadcastDelivery.__table__.c
    rows = await session.execute(
        select(d.community_id, func.count())
        .where(
            d.community_id.in_(ids),
            d.broadcast_id != broadcast.id,
            d.created_at >= month,
            d.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.SENT.value]),
        )
        .group_by(d.community_id)
    )
    return {community_id: int(n) for community_id, n in rows.all()}


async def community_targets(
    session: AsyncSession, broadcast: Broadcast, quotas: Mapping[str, int] | None = None
) -> list[Target]:
    """``quotas``: channel name -> mass messages a group may get per calendar month (the
    channel's ``monthly_mass_messages``); a group past it is skipped."""
    quotas = quotas or {}
    listed = _ids(broadcast.community_ids) if broadcast.audience == Audience.COMMUNITIES else None
    groups = await _groups(session, broadcast.merchant_id, listed)
    used = await _mass_messages_used(session, broadcast, [g for g in groups if g.channel in quotas])
    content = Content.from_json(broadcast.content)
    targets = []
    for group in groups:
        skipped = None
        if broadcast.marketing and not group.accepts_marketing:
            skipped = NO_MARKETING_GROUP
        elif group.channel in quotas and used.get(group.id, 0) >= quotas[group.channel]:
            skipped = f"{QUOTA_USED}: {quotas[group.channel]} this month on {group.channel}"
        targets.append(
            Target(
                community_id=group.id,
                member_id=None,
                robot_account_id=group.robot_account_id,
                channel=group.channel,
                chat_id=group.chat_id,
                person_id=None,
                language=content.for_language(group.language)[0],
                skipped=skipped,
            )
        )
    return targets


def _chosen_members(broadcast: Broadcast) -> Select[Any]:
    """The ids of the members the broadcast names or chooses (erased and merged ones left out)."""
    stmt = select(_m.id).where(
        _m.merchant_id == broadcast.merchant_id,
        _m.erased_at.is_(None),
        _m.merged_into_id.is_(None),
    )
    if broadcast.member_ids:
        return stmt.where(_m.id.in_(_ids(broadcast.member_ids)))
    present = and_(
        _cm.member_id == _m.id,
        _cm.merchant_id == broadcast.merchant_id,
        _cm.left_at.is_(None),
    )
    if broadcast.community_ids:
        present = and_(present, _cm.community_id.in_(_ids(broadcast.community_ids)))
    stmt = stmt.where(exists().where(present))
    if broadcast.tags:
        t = MemberTag.__table__.c
        stmt = stmt.where(exists().where(t.member_id == _m.id, t.tag.in_(list(broadcast.tags))))
    if broadcast.level_ids:
        ma = MembershipAccount.__table__.c
        stmt = stmt.where(
            exists().where(ma.member_id == _m.id, ma.level_id.in_(_ids(broadcast.level_ids)))
        )
    return stmt


async def member_targets(
    session: AsyncSession, broadcast: Broadcast, channels: Sequence[str]
) -> list[Target]:
    """``channels``: the channels that can message one person, in order of preference."""
    if not channels:
        return []
    merchant_id = broadcast.merchant_id
    chosen = _chosen_members(broadcast).scalar_subquery()
    accounts = (
        await session.execute(
            select(_a.id, _a.channel)
            .where(
                _a.merchant_id == merchant_id,
                _a.active.is_(True),
                _a.channel.in_(list(channels)),
            )
            .order_by(_a.created_at, _a.id)
        )
    ).all()
    oldest: dict[str, uuid.UUID] = {}
    for account_id, channel in accounts:
        oldest.setdefault(str(channel), account_id)
    active_accounts = {account_id for account_id, _ in accounts}
    # The groups each chosen member is in, first joined first: their language and robot.
    groups: dict[uuid.UUID, list[tuple[str, str, uuid.UUID | None]]] = {}
    for member_id, language, channel, account_id in (
        await session.execute(
            select(_cm.member_id, _c.language, _c.channel, _c.robot_account_id)
            .join(Community, _c.id == _cm.community_id)
            .where(
                _cm.merchant_id == merchant_id,
                _cm.left_at.is_(None),
                _cm.member_id.in_(chosen),
                _c.status == CommunityStatus.ACTIVE.value,
            )
            .order_by(_cm.member_id, _cm.joined_at, _c.id)
        )
    ).all():
        groups.setdefault(member_id, []).append((language, str(channel), account_id))
    identities = (
        await session.execute(
            select(_m.id, _m.marketing_consent, _m.blocked, _i.channel, _i.external_id)
            .join(MemberIdentity, and_(_i.member_id == _m.id, _i.merchant_id == merchant_id))
            .where(_m.id.in_(chosen), _i.channel.in_(list(channels)))
            .order_by(_m.id, _i.created_at)
        )
    ).all()
    content = Content.from_json(broadcast.content)
    rank = {name: n for n, name in enumerate(channels)}
    best: dict[uuid.UUID, tuple[int, Any]] = {}
    for row in identities:
        if row.channel not in oldest:
            continue  # no robot of the merchant on that channel
        place = rank[row.channel]
        if row.id not in best or place < best[row.id][0]:
            best[row.id] = (place, row)
    targets = []
    for member_id, (_, row) in best.items():
        joined = groups.get(member_id, [])
        language = joined[0][0] if joined else DEFAULT_LANGUAGE
        account_id = next(
            (
                a
                for _, ch, a in joined
                if a is not None and ch == row.channel and a in active_accounts
            ),
            oldest[row.channel],
        )
        skipped = None
        if row.blocked:
            skipped = BLOCKED
        elif broadcast.marketing and not row.marketing_consent:
            skipped = NO_CONSENT
        targets.append(
            Target(
                community_id=None,
                member_id=member_id,
                robot_account_id=account_id,
                channel=row.channel,
                chat_id=None,
                person_id=row.external_id,
                language=content.for_language(language)[0],
                skipped=skipped,
            )
        )
    return targets


async def write_deliveries(
    session: AsyncSession, broadcast: Broadcast, targets: Sequence[Target], now: datetime
) -> int:
    """Write one delivery per target, due now; how many are pending (not skipped)."""
    if not targets:
        return 0
    rows = [
        {
            "id": new_id(),
            "merchant_id": broadcast.merchant_id,
            "broadcast_id": broadcast.id,
            "community_id": t.community_id,
            "member_id": t.member_id,
            "robot_account_id": t.robot_account_id,
            "channel": t.channel,
            "chat_id": t.chat_id,
            "person_id": t.person_id,
            "language": t.language,
            "status": (DeliveryStatus.SKIPPED if t.skipped else DeliveryStatus.PENDING).value,
            "due_at": now,
            "attempts": 0,
            "last_error": t.skipped,
            "created_at": now,
        }
        for t in targets
    ]
    await session.execute(insert(BroadcastDelivery), rows)
    return sum(1 for t in targets if t.skipped is None)


async def count_groups(session: AsyncSession, merchant_id: uuid.UUID, *, marketing: bool) -> int:
    """How many groups a broadcast to every active group would post in (a marketing one: those
    that accept marketing)."""
    groups = await _groups(session, merchant_id, None)
    return sum(1 for g in groups if g.accepts_marketing or not marketing)

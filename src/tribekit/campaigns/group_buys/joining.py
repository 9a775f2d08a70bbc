"""Members in group buys: join a team (placing and paying an order at the team's price),
leave it before the deadline, and see a team's progress.

**Joining** is one transaction: the member's row is locked first (members are outside the
lock order; it serialises one member's joins, so the per-member limit holds), the team's seat
is taken by a conditional update (``size + portions <= max_size``, rank CAMPAIGN: a team never
passes its maximum, whatever the number of joiners at once), and the order is placed through
the orders domain at the group buy's price (a campaign price the engine explains; stock taken
as for any order, after the seat). Any refusal rolls everything back, the seat too.

**Leaving** locks the participant's order, then the team; a paid place is refunded in full
(through the ordinary refunds), an unpaid one's order is cancelled; the seat is freed. With
``join_price = reached`` a leave that would move the team to a tier dearer than a remaining
participant paid is refused (``leave_would_raise_price``, see ``tiers.py``): the money kept
must stay tier price x paid portions.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock, locks
from tribekit.kit.errors import NotFound, field_error
from tribekit.kit.ids import new_id
from tribekit.members.repository import Members
from tribekit.models.campaigns import GroupBuy, GroupBuyParticipant, GroupBuyTeam
from tribekit.models.members import Member
from tribekit.orders.payments import PaymentProvider
from tribekit.orders.repository import Orders
from tribekit.orders.schemas import Attribution, CartLine, OrderIn, RefundIn
from tribekit.orders.service import checkout, lifecycle, refunds
from tribekit.orders.service.lifecycle import OrderDetail
from tribekit.tenancy.principal import Tenant

from . import repository as repo
from . import tiers
from .errors import (
    AlreadyInTeam,
    GroupBuyNotOpen,
    LeaveWouldRaisePrice,
    LimitReached,
    TeamClosed,
    TeamFull,
)
from .repository import GroupBuys, Participants, Teams
from .schemas import JoinIn
from .spec import Tier

_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read out loud
CODE_LENGTH = 12  # 60 random bits: unguessable, and unique across merchants in practice


def new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))


def share_path(code: str) -> str:
    """The member page of a team, to share (the robot and the pages prefix the public URL)."""
    return f"/m/group-buys/teams/{code}"


@dataclass(frozen=True)
class Joined:
    participant: GroupBuyParticipant
    team: GroupBuyTeam
    order: OrderDetail  # pay it through the ordinary payments (POST /me/orders/{id}/payments)


def _open_or_refuse(group_buy: GroupBuy) -> None:
    now = clock.now()
    if group_buy.status != "open" or group_buy.deadline <= now:
        when = (
            f"it opens at {group_buy.starts_at:%Y-%m-%d %H:%M} UTC"
            if group_buy.status == "scheduled"
            else f"it is {group_buy.status if group_buy.deadline > now else 'past its deadline'}"
        )
        raise GroupBuyNotOpen(f"group buy {group_buy.name!r} cannot be joined: {when}")


async def _team_for(
    session: AsyncSession,
    tenant: Tenant,
    group_buy: GroupBuy,
    member_id: uuid.UUID,
    data: JoinIn,
    order_in: OrderIn,
) -> GroupBuyTeam:
    teams = Teams(session, tenant.id)
    if group_buy.grouping == "address":
        if data.address is None or data.fulfilment != "delivery":
            raise field_error(
                "address",
                "this group buy groups by delivery address: give fulfilment "
                "'delivery' and the address",
            )
        key = checkout.address_key(order_in)
        assert key is not None  # an address was given
        await teams.insert_for_address(
            {
                "id": new_id(),
                "group_buy_id": group_buy.id,
                "code": new_code(),
                "initiator_id": member_id,
                "address_key": key,
                "community_id": data.attribution.community_id,
                "size": 0,
                "max_size": group_buy.max_size,
                "status": "open",
                "created_at": clock.now(),
            }
        )
        team = await teams.by_address(group_buy.id, key)
        assert team is not None  # inserted now or by a neighbour
        return team
    if data.code is None:  # the initiator opens a team and shares its code
        team = GroupBuyTeam(
            id=new_id(),
            group_buy_id=group_buy.id,
            code=new_code(),
            initiator_id=member_id,
            community_id=data.attribution.community_id,
            size=0,
            max_size=group_buy.max_size,
            status="open",
        )
        teams.add(team)
        await session.flush()
        locks.created(session, locks.Rank.CAMPAIGN, team.id)  # nobody sees it before commit
        return team
    found = await teams.by_code(data.code.strip().upper())
    if found is None or found.group_buy_id != group_buy.id:
        raise NotFound(f"no team with code {data.code!r} in group buy {group_buy.name!r}")
    return found


async def join(
    session: AsyncSession,
    tenant: Tenant,
    member_id: uuid.UUID,
    group_buy_id: uuid.UUID,
    data: JoinIn,
    *,
    actor: str,
) -> Joined:
    """Join a team of the group buy (``data.code``: the team shared with the member; none: open
    a new team, or the team of the delivery address when the group buy groups by address)."""
    member = await Members(session, tenant.id).get_current(member_id, for_update=True)
    if member is None:
        raise NotFound(f"no member with id {member_id} at this merchant")
    group_buy = await GroupBuys(session, tenant.id).get_or_404(group_buy_id)
    _open_or_refuse(group_buy)
    places = Participants(session, tenant.id)
    current = await places.current(group_buy.id, member_id)
    if current is not None:  # one place per member; more portions are asked when joining
        raise AlreadyInTeam(
            f"this member is in a team of {group_buy.name!r} already; leave it first to join "
            "another",
            team_id=str(current.team_id),
        )
    held = await places.portions_of(group_buy.id, member_id)
    if held + data.portions > group_buy.per_member_limit:
        raise LimitReached(
            f"a member takes at most {group_buy.per_member_limit} portions of "
            f"{group_buy.name!r}; this member holds {held}",
            limit=group_buy.per_member_limit,
            held=held,
        )
    order_in = OrderIn(
        lines=[CartLine(product_id=group_buy.product_id, quantity=data.portions)],
        fulfilment=data.fulfilment,
        pickup_point_id=data.pickup_point_id,
        address=data.address,
        attribution=Attribution(
            channel=data.attribution.channel, community_id=data.attribution.community_id
        ),
        note=data.note,
    )
    team = await _team_for(session, tenant, group_buy, member_id, data, order_in)
    if await Teams(session, tenant.id).take_seats(team.id, data.portions) is None:
        await session.refresh(team, ["size", "status"])
        if team.status != "open":
            raise TeamClosed(f"team {team.code} is {team.status}; open a new team")
        raise TeamFull(
            f"team {team.code} has {team.max_size - team.size} of {team.max_size} seats left; "
            f"{data.portions} asked",
            seats_left=team.max_size - team.size,
        )
    group_tiers = tiers.tiers_of(group_buy.tiers)
    paid = await repo.paid_portions(session, team.id)
    price = tiers.join_price(group_tiers, group_buy.join_price, paid, data.portions)
    order = await checkout.place_order(
        session,
        tenant,
        member_id,
        order_in,
        actor=actor,
        campaign=checkout.CampaignPrice(
            campaign_id=group_buy.id,
            product_id=group_buy.product_id,
            unit_price=price,
            name=f"group buy {group_buy.name}",
        ),
    )
    participant = GroupBuyParticipant(
        id=new_id(),
        merchant_id=tenant.id,
        group_buy_id=group_buy.id,
        team_id=team.id,
        member_id=member_id,
        order_id=order.order.id,
        portions=data.portions,
        unit_price_paid=price,
        status="joined",
        joined_at=clock.now(),
    )
    session.add(participant)
    await session.flush()
    await session.refresh(team, ["size"])
    return Joined(participant, team, order)


async def leave(
    session: AsyncSession,
    tenant: Tenant,
    providers: Mapping[str, PaymentProvider],
    member_id: uuid.UUID,
    group_buy_id: uuid.UUID,
    *,
    actor: str,
) -> GroupBuyParticipant:
    """Leave the member's team before the deadline: refunded in full (or the unpaid order
    cancelled), the seat freed, the tier the team reaches recomputed from who is left."""
    group_buy = await GroupBuys(session, tenant.id).get_or_404(group_buy_id)
    found = await Participants(session, tenant.id).current(group_buy.id, member_id)
    if found is None:
        raise NotFound(f"this member is in no team of group buy {group_buy.name!r}")
    await Orders(session, tenant.id).get_or_404(found.order_id, for_update=True)
    locked = await Teams(session, tenant.id).lock_in_order([found.team_id])
    team = locked[found.team_id]
    everyone = await repo.active(session, team.id)
    participant = next((p for p in everyone if p.id == found.id), None)
    if participant is None:  # closed while this request waited for the order
        raise NotFound(f"this member is in no team of group buy {group_buy.name!r}")
    if team.status != "open":
        raise TeamClosed(f"team {team.code} is {team.status}: it can no longer be left")
    others = [p for p in everyone if p.id != participant.id]
    was_paid = participant.status == "paid"
    if was_paid:
        paid_after = sum(p.portions for p in others if p.status == "paid")
        prices = [p.unit_price_paid for p in others]
        group_tiers = tiers.tiers_of(group_buy.tiers)
        if not tiers.leave_allowed(group_tiers, group_buy.join_price, paid_after, prices):
            raise LeaveWouldRaisePrice(
                f"leaving would leave team {team.code} at "
                f"{tiers.price_at(group_tiers, paid_after)} per portion, more than "
                f"{min(prices)} that another member paid; the price a team's members paid never "
                "goes up, so this place can only be left once others join",
                price_after=tiers.price_at(group_tiers, paid_after),
            )
    participant.status = "left"
    participant.left_at = clock.now()
    await Teams(session, tenant.id).free_seats(team.id, participant.portions)
    if was_paid:
        await refunds.refund(
            session,
            tenant,
            providers,
            participant.order_id,
            RefundIn(restock=True, reason=f"left the group buy {group_buy.name}"),
            actor=actor,
            key=f"group-buy-leave:{participant.id}",
        )
    else:
        await lifecycle.cancel(
            session,
            tenant,
            participant.order_id,
            reason=f"left the group buy {group_buy.name}",
            actor=actor,
        )
    await session.flush()
    return participant


# ---- progress ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamProgress:
    """A team as its members and the share page see it: only real, paid participants."""

    group_buy: GroupBuy
    team: GroupBuyTeam
    members: tuple[str, ...]  # display names of the paid participants, in the order they joined
    paid_portions: int
    seats_taken: int  # paid and unpaid places
    current: Tier | None  # the tier the paid portions reach (None: below the minimum)
    unit_price: int  # what a portion costs at the current tier (the first tier's below it)
    next: Tier | None
    needed_for_next: int  # more paid portions to reach ``next`` (0 when there is none)
    seconds_left: int
    share_path: str


async def progress_of(
    session: AsyncSession, group_buy: GroupBuy, team: GroupBuyTeam
) -> TeamProgress:
    rows = await session.execute(
        select(Member.display_name, GroupBuyParticipant.portions, GroupBuyParticipant.status)
        .join(Member, Member.id == GroupBuyParticipant.member_id)
        .where(
            GroupBuyParticipant.team_id == team.id,
            GroupBuyParticipant.status.in_(("paid", "settled")),
        )
        .order_by(GroupBuyParticipant.joined_at, GroupBuyParticipant.id)
    )
    paid = rows.all()
    portions = sum(row.portions for row in paid)
    group_tiers = tiers.tiers_of(group_buy.tiers)
    following = tiers.next_tier(group_tiers, portions)
    left = (group_buy.deadline - clock.now()).total_seconds()
    return TeamProgress(
        group_buy=group_buy,
        team=team,
        members=tuple(row.display_name for row in paid),
        paid_portions=portions,
        seats_taken=team.size,
        current=tiers.reached(group_tiers, portions),
        unit_price=team.final_unit_price or tiers.price_at(group_tiers, portions),
        next=following if team.status == "open" else None,
        needed_for_next=following.size - portions if following and team.status == "open" else 0,
        seconds_left=max(0, int(left)) if group_buy.status == "open" else 0,
        share_path=share_path(team.code),
    )


async def progress(session: AsyncSession, tenant: Tenant, team_id: uuid.UUID) -> TeamProgress:
    """A team's progress (staff, or a member of the merchant)."""
    team = await Teams(session, tenant.id).get_or_404(team_id)
    group_buy = await GroupBuys(session, tenant.id).get_or_404(team.group_buy_id)
    return await progress_of(session, group_buy, team)


async def public_progress(session: AsyncSession, code: str) -> TeamProgress:
    """A team's progress by its share code, for anyone holding the link (the code is the
    secret: 60 random bits). Only display names of paid participants are shown."""
    team: GroupBuyTeam | None = await session.scalar(
        select(GroupBuyTeam).where(GroupBuyTeam.code == code.strip().upper()).limit(1)
    )
    if team is None:
        raise NotFound(f"no team with code {code!r}")
    group_buy = await session.get(GroupBuy, team.group_buy_id)
    assert group_buy is not None  # a team goes with its group buy
    return await progress_of(session, group_buy, team)


async def my_team(
    session: AsyncSession, tenant: Tenant, member_id: uuid.UUID, group_buy_id: uuid.UUID
) -> TeamProgress:
    """The progress of the member's current team in the group buy."""
    group_buy = await GroupBuys(session, tenant.id).get_or_404(group_buy_id)
    found = await Participants(session, tenant.id).current(group_buy.id, member_id)
    if found is None:
        raise NotFound(f"this member is in no team of group buy {group_buy.name!r}")
    team = await Teams(session, tenant.id).get_or_404(found.team_id)
    return await progress_of(session, group_buy, team)


async def list_open(
    session: AsyncSession,
    tenant: Tenant,
    *,
    community_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> list[GroupBuy]:
    """The group buys members can join now, soonest deadline first; with ``community_id``, those
    for that group (or for every group)."""
    now = at or clock.now()
    rows = await session.scalars(
        GroupBuys(session, tenant.id)
        .select()
        .where(GroupBuy.status == "open", GroupBuy.starts_at <= now, GroupBuy.deadline > now)
        .order_by(GroupBuy.deadline)
    )
    found = list(rows.all())
    if community_id is None:
        return found
    return [g for g in found if not g.community_ids or str(community_id) in g.community_ids]

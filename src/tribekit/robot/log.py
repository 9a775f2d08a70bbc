"""The moderation log: every decision of the robot and of staff (who, what, which rule, which
action, where), read by staff and by a leader for their own groups; undone, reviewed and added
to by staff.

* ``undo`` reverses what an entry did that can be reversed: the ban it made is lifted in every
  group, a mute is lifted, its strike is removed (escalation forgets it). A message deleted on
  the platform cannot come back; a kicked member may join again by themselves. Once only: the
  entry is marked undone by a conditional update.
* ``review`` records staff's verdict once; ``fine`` undoes the entry and allow-lists its domain
  or phrase in the merchant's policy, so the same message is not removed again.
* ``report`` is staff pointing at a message the robot missed: it is removed through a durable
  action, logged with the staff actor, optionally counted as a strike and its phrase
  blocklisted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import TypeAdapter
from sqlalchemy import Select, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.errors import Conflict, NotFound, field_error
from tribekit.kit.pagination import Page, paginate
from tribekit.models.communities import Community
from tribekit.models.enums import ActionKind, Channel, CommunityStatus
from tribekit.models.members import Member, MemberIdentity
from tribekit.models.moderation import Ban, ModerationEntry, Strike
from tribekit.models.robot import RobotEvent
from tribekit.tenancy.principal import Reach, Tenant

from . import accounts, actions, activity, bans, policies
from .channels import OutboundAction
from .moderation.engine import Rule
from .moderation.policy import AllowedDomain, Policy

Verdict = Literal["fine", "confirmed"]

#: Rules whose hit is a link: "fine" allow-lists its domain (the invite rule keeps the path,
#: e.g. t.me/greenwood_fruit, so other groups' links stay blocked).
_LINK_RULES = {"links": False, "invite_link": True, "probation": False}
_DOMAIN: TypeAdapter[str] = TypeAdapter(AllowedDomain)
#: The rule id staff's own strikes count under.
REPORT_RULE = "report"


class AlreadyUndone(Conflict):
    code = "already_undone"
    title = "The moderation entry is undone already"


class NotUndoable(Conflict):
    code = "not_undoable"
    title = "This moderation entry cannot be undone"


class AlreadyReviewed(Conflict):
    code = "already_reviewed"
    title = "The moderation entry is reviewed already"


class AlreadyReported(Conflict):
    code = "already_reported"
    title = "The message is reported already"


class RobotNotInGroup(Conflict):
    code = "robot_not_in_group"
    title = "The robot does not act in this community"


@dataclass
class Undone:
    """What an undo did, and what it could not."""

    entry: ModerationEntry
    ban_lifted: bool = False
    unmuted: bool = False
    strikes_removed: int = 0
    not_restored: list[str] = field(default_factory=list)


def _not_found(entry_id: uuid.UUID) -> NotFound:
    return NotFound(f"no moderation entry with id {entry_id} at this merchant")


# -- reading ----------------------------------------------------------------------------------


async def page(
    session: AsyncSession,
    reach: Reach,
    *,
    community_id: uuid.UUID | None,
    member_id: uuid.UUID | None,
    rule: str | None,
    actor: str | None,
    since: datetime | None,
    limit: int,
    cursor: str | None,
) -> Page[ModerationEntry]:
    """The log, newest first. A leader's reach sees its own groups' entries only (an entry
    of no group, a ban from the ban list, belongs to none)."""
    stmt: Select[ModerationEntry] = select(ModerationEntry).where(
        ModerationEntry.merchant_id == reach.tenant.id
    )
    if reach.community_ids is not None:
        stmt = stmt.where(ModerationEntry.community_id.in_(reach.community_ids))
    if community_id is not None:
        stmt = stmt.where(ModerationEntry.community_id == community_id)
    if member_id is not None:
        stmt = stmt.where(ModerationEntry.member_id == member_id)
    if rule is not None:
        stmt = stmt.where(ModerationEntry.rule == rule)
    if actor is not None:
        stmt = stmt.where(ModerationEntry.actor == actor)
    if since is not None:
        stmt = stmt.where(ModerationEntry.at >= since)
    return await paginate(session, stmt, key=ModerationEntry.id, limit=limit, cursor=cursor)


async def get(session: AsyncSession, tenant: Tenant, entry_id: uuid.UUID) -> ModerationEntry:
    entry = await session.get(ModerationEntry, entry_id, populate_existing=True)
    if entry is None or entry.merchant_id != tenant.id:
        raise _not_found(entry_id)
    return entry


# -- undo -------------------------------------------------------------------------------------


async def undo(session: AsyncSession, tenant: Tenant, entry_id: uuid.UUID, *, actor: str) -> Undone:
    """Undo the entry once; a second undo (or one racing this) is ``already_undone``."""
    entry = await get(session, tenant, entry_id)
    if entry.action == "unban":
        raise NotUndoable(
            f"entry {entry_id} is an unban; ban the member again (POST /robot/bans) instead"
        )
    now = clock.now()
    marked = await session.scalar(
        update(ModerationEntry)
        .where(
            ModerationEntry.id == entry_id,
            ModerationEntry.merchant_id == tenant.id,
            ModerationEntry.undone_at.is_(None),
        )
        .values(undone_at=now, undone_by=actor)
        .returning(ModerationEntry.id)
        .execution_options(synchronize_session=False)
    )
    if marked is None:
        raise AlreadyUndone(f"entry {entry_id} was undone already")
    entry = await get(session, tenant, entry_id)
    done = Undone(entry)
    if entry.action == "ban" and entry.member_id is not None:
        done.ban_lifted = await _lift_ban(session, tenant, entry, actor=actor)
    if entry.action == "mute" and entry.member_id is not None:
        done.unmuted = await _unmute(session, tenant, entry)
    removed = await session.execute(
        delete(Strike)
        .where(Strike.merchant_id == tenant.id, Strike.entry_id == entry.id)
        .execution_options(synchronize_session=False)
    )
    done.strikes_removed = int(removed.rowcount)  # type: ignore[attr-defined]  # DML result
    if entry.message_id is not None and entry.action != "warn":
        done.not_restored.append("message: a message deleted on the platform cannot come back")
    if entry.action == "kick":
        done.not_restored.append("kick: the member may join the group again by themselves")
    return done


async def _lift_ban(
    session: AsyncSession, tenant: Tenant, entry: ModerationEntry, *, actor: str
) -> bool:
    assert entry.member_id is not None
    ban_id = entry.ban_id
    if ban_id is None:
        # An entry from before entries named their ban: the ban in force made by then.
        ban_id = await session.scalar(
            select(Ban.id).where(
                Ban.merchant_id == tenant.id,
                Ban.member_id == entry.member_id,
                Ban.lifted_at.is_(None),
                Ban.at >= entry.at,
            )
        )
        if ban_id is None:
            return False
    lifted = await bans.unban(session, tenant, entry.member_id, actor=actor, ban_id=ban_id)
    return lifted is not None


async def _unmute(session: AsyncSession, tenant: Tenant, entry: ModerationEntry) -> bool:
    """Call back the mute if it has not gone out, and owe lifting it in the group."""
    assert entry.member_id is not None
    if entry.event_id is not None:
        await actions.cancel(session, tenant, [f"mod:{entry.event_id}:mute"])
    community = await session.get(Community, entry.community_id) if entry.community_id else None
    if community is None or community.robot_account_id is None or not community.external_id:
        return False
    person = await session.scalar(
        select(MemberIdentity.external_id).where(
            MemberIdentity.merchant_id == tenant.id,
            MemberIdentity.member_id == entry.member_id,
            MemberIdentity.channel == community.channel,
        )
    )
    if person is None:
        return False
    owed = await actions.owe(
        session,
        tenant,
        robot_account_id=community.robot_account_id,
        community_id=community.id,
        decision=f"undo:{entry.id}:unmute",
        action=OutboundAction(ActionKind.UNRESTRICT, community.external_id, person_id=person),
    )
    return owed is not None


# -- review -----------------------------------------------------------------------------------


@dataclass
class Reviewed:
    entry: ModerationEntry
    undone: Undone | None
    allow_listed: str | None


def _allowed(entry: ModerationEntry, allow: str | None) -> tuple[str, str] | None:
    """What "fine" allow-lists for this entry: ("domain" | "phrase", value), or None."""
    value = (allow or entry.excerpt or "").strip()
    if entry.rule in _LINK_RULES:
        if not value:
            return None
        try:
            domain = _DOMAIN.validate_python(value)
        except ValueError as exc:
            raise field_error(
                "allow", f"{value!r} is not a domain; send the domain to allow in 'allow'"
            ) from exc
        if not _LINK_RULES[entry.rule]:
            domain = domain.partition("/")[0]
        return "domain", domain
    if entry.rule == Rule.blocklist.value:
        return ("phrase", value[:100]) if value else None
    if allow is not None:
        raise field_error(
            "allow", f"rule {entry.rule or 'none'} has no allow list; leave 'allow' out"
        )
    return None


def _allow(kind: str, value: str) -> policies.Change:
    def change(policy: Policy) -> Policy:
        if kind == "domain":
            links = policy.links
            if value in links.allowed_domains:
                return policy
            domains = [*links.allowed_domains, value]
            return policy.model_copy(
                update={"links": links.model_copy(update={"allowed_domains": domains})}
            )
        blocklist = policy.blocklist
        if value in blocklist.allowed_phrases:
            return policy
        phrases = [*blocklist.allowed_phrases, value]
        return policy.model_copy(
            update={"blocklist": blocklist.model_copy(update={"allowed_phrases": phrases})}
        )

    return change


async def review(
    session: AsyncSession,
    tenant: Tenant,
    entry_id: uuid.UUID,
    verdict: Verdict,
    *,
    actor: str,
    allow: str | None = None,
) -> Reviewed:
    """Record staff's verdict once (``already_reviewed`` after). ``fine``: undo the entry
    (unless undone already) and allow-list ``allow`` or the entry's excerpt, for a link rule
    as a domain and for the blocklist as a phrase."""
    entry = await get(session, tenant, entry_id)
    allowed = _allowed(entry, allow) if verdict == "fine" else None
    marked = await session.scalar(
        update(ModerationEntry)
        .where(
            ModerationEntry.id == entry_id,
            ModerationEntry.merchant_id == tenant.id,
            ModerationEntry.review.is_(None),
        )
        .values(review=verdict, reviewed_at=clock.now(), reviewed_by=actor)
        .returning(ModerationEntry.id)
        .execution_options(synchronize_session=False)
    )
    if marked is None:
        raise AlreadyReviewed(f"entry {entry_id} was reviewed already")
    undone: Undone | None = None
    if verdict == "fine" and entry.action != "unban":
        try:
            undone = await undo(session, tenant, entry_id, actor=actor)
        except AlreadyUndone:
            undone = None  # staff undid it before: nothing more to undo
    if allowed is not None:
        await policies.amend(session, tenant, _allow(*allowed), actor=actor)
    return Reviewed(await get(session, tenant, entry_id), undone, allowed[1] if allowed else None)


# -- report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    community_id: uuid.UUID
    message_id: str
    event_id: uuid.UUID | None = None
    member_id: uuid.UUID | None = None
    excerpt: str | None = None
    blocklist_phrase: str | None = None
    strike: bool = False


async def report(
    session: AsyncSession, tenant: Tenant, data: Report, *, actor: str
) -> ModerationEntry:
    """Remove a message the robot missed and log it; reporting one message twice is
    ``already_reported`` (its removal is one decision)."""
    community = await session.get(Community, data.community_id)
    if community is None or community.merchant_id != tenant.id:
        raise NotFound(f"no community with id {data.community_id} at this merchant")
    if community.channel == Channel.WEB and community.status == CommunityStatus.ACTIVE:
        # A web group nobody has posted in yet has no robot named: the web channel's robot
        # speaks there, and the group's chat id is its own id.
        await accounts.adopt_web_group(session, tenant, community)
    if (
        community.status != CommunityStatus.ACTIVE
        or community.robot_account_id is None
        or not community.external_id
    ):
        raise RobotNotInGroup(
            f"community {community.id} is {community.status} and the robot "
            f"{'is' if community.robot_account_id else 'is not'} in it; the robot removes "
            "messages only in an active group it is in",
            community_status=community.status.value,
        )
    member_id, excerpt = data.member_id, data.excerpt
    event_id = data.event_id
    if event_id is not None:
        event = await session.get(RobotEvent, event_id)
        if event is None or event.merchant_id != tenant.id or event.community_id != community.id:
            raise NotFound(f"no robot event with id {event_id} in community {community.id}")
        member_id = member_id or event.member_id
        excerpt = excerpt or event.text
    if member_id is not None:
        member = await session.get(Member, member_id)
        if member is None or member.merchant_id != tenant.id:
            raise NotFound(f"no member with id {member_id} at this merchant")
    if data.strike and member_id is None:
        raise field_error("strike", "a strike needs the author: send member_id or event_id")
    owed = await actions.owe(
        session,
        tenant,
        robot_account_id=community.robot_account_id,
        community_id=community.id,
        decision=f"report:{community.id}:{data.message_id}",
        action=OutboundAction(ActionKind.DELETE, community.external_id, message_id=data.message_id),
    )
    if owed is None:
        raise AlreadyReported(
            f"message {data.message_id} in community {community.id} was reported already"
        )
    now = clock.now()
    entry = ModerationEntry(
        merchant_id=tenant.id,
        community_id=community.id,
        member_id=member_id,
        event_id=event_id,
        message_id=data.message_id,
        rule=None,
        action="delete",
        excerpt=(excerpt or "")[:200] or None,
        actor=actor,
        at=now,
    )
    session.add(entry)
    await session.flush()
    await activity.count(session, tenant, community, "moderation_actions", now)
    if data.strike:
        assert member_id is not None
        session.add(
            Strike(
                merchant_id=tenant.id,
                member_id=member_id,
                community_id=community.id,
                rule=REPORT_RULE,
                entry_id=entry.id,
                at=now,
            )
        )
        await session.flush()
    if data.blocklist_phrase:
        await policies.amend(session, tenant, _block(data.blocklist_phrase), actor=actor)
    return entry


def _block(phrase: str) -> policies.Change:
    def change(policy: Policy) -> Policy:
        blocklist = policy.blocklist
        if phrase in blocklist.phrases:
            return policy
        phrases = [*blocklist.phrases, phrase]
        return policy.model_copy(
            update={"blocklist": blocklist.model_copy(update={"phrases": phrases})}
        )

    return change

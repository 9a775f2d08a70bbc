"""HTTP routes of moderation: the merchant's policy and the groups' overrides, the one ban list,
the moderation log (undo, review, reports).

A policy is changed with the version it was read at, in ``If-Match`` (the ``ETag`` of a GET):
two staff saving the same version, one gets 409 ``policy_changed`` and nothing is lost
silently."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Response, status

from tribekit.api.deps import CurrentPrincipal, Cursor, DbSession, PageLimit, authorized, version_of
from tribekit.api.problems import problem_doc
from tribekit.communities.repository import Communities
from tribekit.kit import clock
from tribekit.kit.errors import NotFound, field_error
from tribekit.kit.schemas import UtcDatetime
from tribekit.members.repository import Members
from tribekit.models.moderation import Ban, ModerationEntry, ModerationPolicy
from tribekit.robot import bans, log, policies
from tribekit.robot.moderation.policy import Policy
from tribekit.robot.schemas.moderation import (
    BanIn,
    BanOut,
    BanPage,
    CommunityPolicyOut,
    EntryOut,
    EntryPage,
    PolicyOut,
    ReportIn,
    ReviewIn,
    ReviewOut,
    UndoOut,
)
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Principal, Reach, Tenant

router = APIRouter(tags=["robot"])


_VERSIONED: dict[int | str, dict[str, Any]] = {
    409: problem_doc("`policy_changed`: saved by someone since the version in If-Match"),
    428: problem_doc("`version_required`: a policy exists; send its version in If-Match"),
}


Reader = Annotated[Tenant, authorized(Permission.MODERATION_READ)]


async def _writer(principal: CurrentPrincipal) -> Principal:
    principal.require(Permission.MODERATION_WRITE)
    return principal


async def _log_reader(principal: CurrentPrincipal) -> Reach:
    return principal.reach(Permission.MODERATION_READ)


# Writes record who did them (``staff:<id>``), so they take the principal.
Writer = Annotated[Principal, Depends(_writer)]
# A leader reads the log of the communities they lead (``Principal.reach``).
LogReader = Annotated[Reach, Depends(_log_reader)]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The version read (the ETag of a GET, e.g. "3"; "0" when there is none)',
    ),
]


async def _expected(
    session: DbSession, tenant: Tenant, community_id: uuid.UUID | None, if_match: str | None
) -> int:
    """The version the caller changed, from ``If-Match``. Without it only a first save is
    allowed (nothing to lose; two first saves at once meet the unique index)."""
    if if_match is None:
        if await policies.row(session, tenant, community_id) is not None:
            raise policies.VersionRequired(
                'send the version you read in If-Match (the ETag of GET, e.g. If-Match: "3")'
            )
        return 0
    version = version_of(if_match)
    assert version is not None  # given
    return version


def _tag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


def _tenant(principal: Principal) -> Tenant:
    return principal.require_tenant()


async def _community(session: DbSession, tenant: Tenant, community_id: uuid.UUID) -> uuid.UUID:
    await Communities(session, tenant.id).get_or_404(community_id)
    return community_id


# -- policies ---------------------------------------------------------------------------------


def _policy_out(row: ModerationPolicy | None) -> PolicyOut:
    return PolicyOut(
        version=row.version if row else 0,
        updated_at=row.updated_at if row else None,
        updated_by=row.updated_by if row else None,
        policy=Policy.model_validate(row.rules) if row else Policy(),
    )


@router.get("/policy", summary="The merchant's moderation policy (every group follows it)")
async def get_policy(session: DbSession, tenant: Reader, response: Response) -> PolicyOut:
    out = _policy_out(await policies.row(session, tenant, None))
    _tag(response, out.version)
    return out


@router.put(
    "/policy",
    summary="Replace the merchant's moderation policy (If-Match: the version you read)",
    responses=_VERSIONED,
)
async def put_policy(
    policy: Policy,
    session: DbSession,
    principal: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> PolicyOut:
    tenant = _tenant(principal)
    saved = await policies.save(
        session,
        tenant,
        None,
        policy.model_dump(mode="json"),
        expected_version=await _expected(session, tenant, None, if_match),
        actor=principal.actor,
    )
    _tag(response, saved.version)
    return _policy_out(saved)


async def _community_policy(
    session: DbSession, tenant: Tenant, community_id: uuid.UUID
) -> CommunityPolicyOut:
    row = await policies.row(session, tenant, community_id)
    effective, _engine = await policies.effective(session, tenant, community_id)
    return CommunityPolicyOut(
        community_id=community_id,
        version=row.version if row else 0,
        updated_at=row.updated_at if row else None,
        updated_by=row.updated_by if row else None,
        override=row.rules if row else None,
        effective=effective,
    )


@router.get(
    "/policy/communities/{community_id}",
    summary="A community's override and the policy it follows (the merchant's with it)",
)
async def get_community_policy(
    community_id: uuid.UUID, session: DbSession, tenant: Reader, response: Response
) -> CommunityPolicyOut:
    await _community(session, tenant, community_id)
    out = await _community_policy(session, tenant, community_id)
    _tag(response, out.version)
    return out


@router.put(
    "/policy/communities/{community_id}",
    summary="Replace a community's override: only the fields it sets count (If-Match)",
    responses=_VERSIONED,
)
async def put_community_policy(
    community_id: uuid.UUID,
    override: Policy,
    session: DbSession,
    principal: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> CommunityPolicyOut:
    tenant = _tenant(principal)
    await _community(session, tenant, community_id)
    expected = await _expected(session, tenant, community_id, if_match)
    # Only what the caller sent: the merchant's policy fills in the rest, now and later.
    rules = override.model_dump(mode="json", exclude_unset=True)
    await policies.save(
        session, tenant, community_id, rules, expected_version=expected, actor=principal.actor
    )
    out = await _community_policy(session, tenant, community_id)
    _tag(response, out.version)
    return out


@router.delete(
    "/policy/communities/{community_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a community's override: it follows the merchant's policy (If-Match)",
    responses=_VERSIONED,
)
async def delete_community_policy(
    community_id: uuid.UUID, session: DbSession, principal: Writer, if_match: IfMatch = None
) -> None:
    tenant = _tenant(principal)
    await _community(session, tenant, community_id)
    removed = await policies.remove_override(
        session,
        tenant,
        community_id,
        expected_version=await _expected(session, tenant, community_id, if_match),
    )
    if not removed:
        raise NotFound(f"community {community_id} has no override of the policy")


# -- the ban list -----------------------------------------------------------------------------


def _ban_out(ban: Ban) -> BanOut:
    in_force = ban.lifted_at is None and (ban.until is None or ban.until > clock.now())
    return BanOut(
        id=ban.id,
        member_id=ban.member_id,
        rule=ban.rule,
        reason=ban.reason,
        banned_by=ban.banned_by,
        at=ban.at,
        until=ban.until,
        in_force=in_force,
        lifted_at=ban.lifted_at,
        lifted_by=ban.lifted_by,
    )


@router.get("/bans", summary="The ban list (every group of the merchant), newest first")
async def list_bans(
    session: DbSession,
    tenant: Reader,
    limit: PageLimit = 50,
    cursor: Cursor = None,
    state: Literal["in_force", "lifted"] | None = None,
    member_id: uuid.UUID | None = None,
) -> BanPage:
    lifted = None if state is None else state == "lifted"
    page = await bans.page(
        session, tenant, lifted=lifted, member_id=member_id, limit=limit, cursor=cursor
    )
    return BanPage(items=[_ban_out(b) for b in page.items], next_cursor=page.next_cursor)


@router.post(
    "/bans",
    status_code=status.HTTP_201_CREATED,
    summary="Ban a member from every group on every channel (one decision, an action per group)",
    responses={409: problem_doc("`already_banned`: a ban is in force (its `ban_id` is given)")},
)
async def create_ban(data: BanIn, session: DbSession, principal: Writer) -> BanOut:
    tenant = _tenant(principal)
    await Members(session, tenant.id).get_or_404(data.member_id)
    if data.until is not None and data.until <= clock.now():
        raise field_error("until", "until is in the past; leave it out to ban until lifted")
    ban = await bans.ban(
        session,
        tenant,
        data.member_id,
        reason=data.reason,
        actor=principal.actor,
        until=data.until,
    )
    if ban is None:
        current = await bans.in_force(session, tenant, data.member_id)
        raise bans.AlreadyBanned(
            f"member {data.member_id} is banned already; lift that ban first to change it",
            ban_id=str(current.id) if current else None,
        )
    return _ban_out(ban)


@router.post(
    "/bans/{ban_id}/lift",
    summary="Lift a ban in every group (an unban action per group)",
    responses={409: problem_doc("`ban_lifted`: the ban is lifted already")},
)
async def lift_ban(ban_id: uuid.UUID, session: DbSession, principal: Writer) -> BanOut:
    tenant = _tenant(principal)
    ban = await bans.get(session, tenant, ban_id)
    lifted = await bans.unban(session, tenant, ban.member_id, actor=principal.actor, ban_id=ban.id)
    if lifted is None:
        raise bans.NotBanned(f"ban {ban_id} is lifted already")
    return _ban_out(lifted)


# -- the moderation log -----------------------------------------------------------------------


def _entry_out(entry: ModerationEntry) -> EntryOut:
    return EntryOut.model_validate(entry)


def _undo_out(done: log.Undone) -> UndoOut:
    return UndoOut(
        entry=_entry_out(done.entry),
        ban_lifted=done.ban_lifted,
        unmuted=done.unmuted,
        strikes_removed=done.strikes_removed,
        not_restored=done.not_restored,
    )


@router.get("/moderation", summary="The moderation log, newest first, with filters")
async def list_moderation(
    session: DbSession,
    reach: LogReader,
    limit: PageLimit = 50,
    cursor: Cursor = None,
    community_id: uuid.UUID | None = None,
    member_id: uuid.UUID | None = None,
    rule: str | None = None,
    actor: str | None = None,
    since: UtcDatetime | None = None,
) -> EntryPage:
    page = await log.page(
        session,
        reach,
        community_id=community_id,
        member_id=member_id,
        rule=rule,
        actor=actor,
        since=since,
        limit=limit,
        cursor=cursor,
    )
    return EntryPage(items=[_entry_out(e) for e in page.items], next_cursor=page.next_cursor)


@router.post(
    "/moderation/reports",
    status_code=status.HTTP_201_CREATED,
    summary="Report a message the robot missed: removed, logged with you as the actor",
    responses={
        409: problem_doc("`already_reported`; `robot_not_in_group`: not a group the robot acts in")
    },
)
async def report_message(data: ReportIn, session: DbSession, principal: Writer) -> EntryOut:
    entry = await log.report(
        session,
        _tenant(principal),
        log.Report(**data.model_dump()),
        actor=principal.actor,
    )
    return _entry_out(entry)


@router.post(
    "/moderation/{entry_id}/undo",
    summary="Undo an entry: its ban lifted everywhere, its mute lifted, its strike removed",
    responses={409: problem_doc("`already_undone`; `not_undoable`: an unban entry")},
)
async def undo_entry(entry_id: uuid.UUID, session: DbSession, principal: Writer) -> UndoOut:
    done = await log.undo(session, _tenant(principal), entry_id, actor=principal.actor)
    return _undo_out(done)


@router.post(
    "/moderation/{entry_id}/review",
    summary="Review an entry: fine (undo it and allow-list its domain or phrase) or confirmed",
    responses={409: problem_doc("`already_reviewed`: the entry has its verdict")},
)
async def review_entry(
    entry_id: uuid.UUID, data: ReviewIn, session: DbSession, principal: Writer
) -> ReviewOut:
    reviewed = await log.review(
        session,
        _tenant(principal),
        entry_id,
        data.verdict,
        actor=principal.actor,
        allow=data.allow,
    )
    return ReviewOut(
        entry=_entry_out(reviewed.entry),
        undo=_undo_out(reviewed.undone) if reviewed.undone else None,
        allow_listed=reviewed.allow_listed,
    )

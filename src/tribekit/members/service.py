"""Member rules. ``check_*`` validates (4xx) before anything is written; ``do_*`` writes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.campaigns.coupons import grants as coupon_grants
from tribekit.campaigns.flash import tokens as flash_tokens
from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import FieldProblem, NotFound, ValidationFailed
from tribekit.kit.pagination import Page, paginate
from tribekit.membership import card as membership_card
from tribekit.membership import service as membership
from tribekit.models.members import Member, MemberAddress, MemberEvent, MemberIdentity
from tribekit.tenancy.principal import Reach, Tenant

from . import access, privacy
from .phones import InvalidPhone, normalise_phone
from .repository import MemberFilters, Members, MemberView
from .schemas import AddressIn, IdentityIn, MemberCreate, MemberEventOut, MemberOut, MemberUpdate

ERASED_NAME = "(erased member)"
MERGED_NAME = "(merged member)"


def _phone(raw: str | None, tenant: Tenant, loc: tuple[str | int, ...]) -> str | None:
    if raw is None:
        return None
    try:
        return normalise_phone(raw, tenant.country)
    except InvalidPhone as exc:
        raise ValidationFailed(
            f"{'.'.join(map(str, loc))}: {exc}",
            errors=[FieldProblem(("body", *loc), str(exc), "phone")],
        ) from exc


def _addresses(items: list[AddressIn], tenant: Tenant) -> list[MemberAddress]:
    addresses = []
    for index, item in enumerate(items):
        fields = item.model_dump()
        fields["phone"] = _phone(item.phone, tenant, ("addresses", index, "phone"))
        addresses.append(MemberAddress(**fields))
    if addresses and not any(a.is_default for a in addresses):
        addresses[0].is_default = True
    if sum(a.is_default for a in addresses) > 1:
        raise ValidationFailed(
            "addresses: only one address can be the default",
            errors=[FieldProblem(("body", "addresses"), "more than one is_default", "default")],
        )
    return addresses


def _check_identities_unique(identities: list[IdentityIn]) -> None:
    keys = [(i.channel, i.external_id) for i in identities]
    if len(keys) != len(set(keys)):
        raise ValidationFailed(
            "identities: the same channel identity is listed twice",
            errors=[FieldProblem(("body", "identities"), "duplicate identity", "duplicate")],
        )


def _identity_conflict(identity: IdentityIn) -> str:
    return f"the {identity.channel} identity {identity.external_id!r} belongs to another member"


def _phone_conflict(phone: str) -> str:
    return f"another member already has the phone number {phone}; merge the two members instead"


@dataclass(frozen=True)
class CheckedMember:
    phone: str | None
    addresses: list[MemberAddress]


def check_new_member(tenant: Tenant, data: MemberCreate) -> CheckedMember:
    _check_identities_unique(data.identities)
    return CheckedMember(_phone(data.phone, tenant, ("phone",)), _addresses(data.addresses, tenant))


async def create_member(
    session: AsyncSession, tenant: Tenant, actor: str | None, data: MemberCreate
) -> MemberView:
    checked = check_new_member(tenant, data)
    return await do_create_member(session, tenant, actor, data, checked)


async def do_create_member(
    session: AsyncSession,
    tenant: Tenant,
    actor: str | None,
    data: MemberCreate,
    checked: CheckedMember,
) -> MemberView:
    members = Members(session, tenant.id)
    now = clock.now()
    member = Member(
        merchant_id=tenant.id,
        display_name=data.display_name,
        phone=checked.phone,
        email=str(data.email).lower() if data.email else None,
        birthday=data.birthday,
        source=data.source.value,
        source_ref=data.source_ref,
        marketing_consent=data.marketing_consent,
        consent_at=now if data.marketing_consent else None,
        consent_source=(data.consent_source or "api") if data.marketing_consent else None,
        joined_at=data.joined_at or now,
        blocked=data.blocked,
        notes=data.notes,
    )
    await add_unique(session, _phone_conflict(checked.phone or ""), member)
    identities = []
    for identity in data.identities:
        row = MemberIdentity(merchant_id=tenant.id, member_id=member.id, **identity.model_dump())
        await add_unique(session, _identity_conflict(identity), row)
        identities.append(row)
    tags = members.add_tags(member.id, data.tags)
    members.add_addresses(member.id, checked.addresses)
    members.record(member.id, "created", actor, source=member.source, source_ref=member.source_ref)
    if member.marketing_consent:
        members.record(member.id, "consent_given", actor, consent_source=member.consent_source)
    await session.flush()
    await coupon_grants.grant_welcome(session, tenant, member.id)  # the shop's welcome gift
    # A new member has exactly what was just written: no need to read it back.
    return MemberView(member, sorted(tags), checked.addresses, identities, [])


async def _current_or_404(
    members: Members, member_id: uuid.UUID, *, for_update: bool = False
) -> Member:
    member = await members.get_current(member_id, for_update=for_update)
    if member is None:
        raise NotFound(f"no member with id {member_id} at this merchant")
    return member


async def read_member(session: AsyncSession, reach: Reach, member_id: uuid.UUID) -> dict[str, Any]:
    """One member as ``MemberOut`` shows it, for the read-only route: two cached statements
    (a third for a leader: is the member, or were they, in one of the leader's communities?)."""
    members = Members(session, reach.tenant.id)
    member = await members.read(member_id)
    within = reach.community_ids
    if member is None or (within is not None and not await members.in_reach(member_id, within)):
        raise NotFound(f"no member with id {member_id} at this merchant")
    if within is not None:  # the leader learns of no other group
        member["community_ids"] = [c for c in member["community_ids"] if c in within]
    return member


async def list_members(
    session: AsyncSession,
    reach: Reach,
    filters: MemberFilters,
    *,
    limit: int,
    cursor: str | None,
) -> Page[MemberView]:
    """Members matching ``filters``; for a leader, only those who are or were in one of their
    communities, each showing only those communities."""
    members = Members(session, reach.tenant.id)
    within = reach.community_ids
    if within is not None:
        if filters.community_id is not None and filters.community_id not in within:
            return Page(items=[], next_cursor=None)  # as for a community that does not exist
        filters = replace(filters, within=within)
    page = await paginate(
        session, members.filtered(filters), key=Member.id, limit=limit, cursor=cursor
    )
    views = await members.views(page.items)
    if within is not None:
        for view in views:
            view.community_ids = [c for c in view.community_ids if c in within]
    return Page(items=views, next_cursor=page.next_cursor)


async def update_member(
    session: AsyncSession,
    tenant: Tenant,
    actor: str | None,
    member_id: uuid.UUID,
    data: MemberUpdate,
) -> MemberView:
    changes = data.model_dump(exclude_unset=True)
    for required in ("display_name", "blocked", "marketing_consent", "tags", "addresses"):
        if required in changes and changes[required] is None:
            raise ValidationFailed(
                f"{required}: may be changed but not set to null",
                errors=[FieldProblem(("body", required), "null is not allowed here", "null")],
            )
    phone = _phone(data.phone, tenant, ("phone",)) if "phone" in changes else None
    addresses = _addresses(data.addresses, tenant) if data.addresses is not None else None

    members = Members(session, tenant.id)
    member = await _current_or_404(members, member_id, for_update=True)
    changed: list[str] = []
    for name in ("display_name", "email", "birthday", "source_ref", "blocked", "notes"):
        if name in changes and getattr(member, name) != changes[name]:
            value = changes[name]
            setattr(member, name, str(value).lower() if name == "email" and value else value)
            changed.append(name)
    if "phone" in changes and member.phone != phone:
        member.phone = phone
        changed.append("phone")
        await add_unique(session, _phone_conflict(phone or ""), member)
    if data.tags is not None:
        await members.replace_tags(member.id, data.tags)
        changed.append("tags")
    if addresses is not None:
        await members.replace_addresses(member.id, addresses)
        changed.append("addresses")
    if data.marketing_consent is not None and data.marketing_consent != member.marketing_consent:
        _set_consent(members, member, data.marketing_consent, data.consent_source, actor)
    if "blocked" in changed:  # flash tokens are checked in-process: tell this process now
        (flash_tokens.refuse if member.blocked else flash_tokens.allow)(
            session, tenant.id, member.id
        )
    if changed:
        members.record(member.id, "updated", actor, fields=changed)  # names only, never values
    await session.flush()
    return (await members.views([member]))[0]


def _set_consent(
    members: Members, member: Member, given: bool, source: str | None, actor: str | None
) -> None:
    member.marketing_consent = given
    member.consent_at = clock.now()
    member.consent_source = source or "api"
    kind = "consent_given" if given else "consent_withdrawn"
    members.record(member.id, kind, actor, consent_source=member.consent_source)


async def add_identity(
    session: AsyncSession, tenant: Tenant, actor: str | None, member_id: uuid.UUID, data: IdentityIn
) -> MemberIdentity:
    members = Members(session, tenant.id)
    member = await _current_or_404(members, member_id, for_update=True)
    identity = MemberIdentity(merchant_id=tenant.id, member_id=member.id, **data.model_dump())
    await add_unique(session, _identity_conflict(data), identity)
    members.record(member.id, "identity_added", actor, channel=data.channel.value)
    await session.flush()
    return identity


async def remove_identity(
    session: AsyncSession,
    tenant: Tenant,
    actor: str | None,
    member_id: uuid.UUID,
    identity_id: uuid.UUID,
) -> None:
    members = Members(session, tenant.id)
    member = await _current_or_404(members, member_id, for_update=True)
    identity = await members.identity(member.id, identity_id)
    if identity is None:
        raise NotFound(f"member {member_id} has no identity with id {identity_id}")
    members.record(member.id, "identity_removed", actor, channel=identity.channel)
    await session.delete(identity)
    await session.flush()


async def erase_member(
    session: AsyncSession, tenant: Tenant, actor: str | None, member_id: uuid.UUID
) -> None:
    """Right to erasure: wipe personal fields, keep the pseudonymous row so history stays whole."""
    members = Members(session, tenant.id)
    member = await _current_or_404(members, member_id, for_update=True)
    await privacy.erase_everywhere(session, tenant, member)
    await members.erase_children(member.id)
    member.display_name = ERASED_NAME
    member.phone = member.email = member.birthday = member.notes = None
    member.marketing_consent = False
    member.consent_at = member.consent_source = None
    member.erased_at = clock.now()
    flash_tokens.refuse(session, tenant.id, member.id)
    members.record(member.id, "erased", actor)
    await session.flush()


async def merge_members(
    session: AsyncSession,
    tenant: Tenant,
    actor: str | None,
    target_id: uuid.UUID,
    source_id: uuid.UUID,
) -> MemberView:
    """Merge ``source`` (a duplicate) into ``target``: identities, addresses, tags, communities and
    the timeline move over; empty fields of the target are filled from the source; the source is
    kept as a pointer to the target so that references to it still resolve."""
    if target_id == source_id:
        raise ValidationFailed(
            "a member cannot be merged into itself",
            errors=[FieldProblem(("body", "source_member_id"), "same as the target", "same")],
        )
    members = Members(session, tenant.id)
    locked = await members.lock_in_order([target_id, source_id])
    target, source = locked.get(target_id), locked.get(source_id)
    for member_id, member in ((target_id, target), (source_id, source)):
        if member is None or member.erased_at is not None or member.merged_into_id is not None:
            raise NotFound(f"no member with id {member_id} at this merchant")
    assert target is not None
    assert source is not None
    source_phone = source.phone
    source.phone = None  # frees the unique phone before the target may take it
    await session.flush()
    for name in ("phone", "email", "birthday", "notes", "source_ref"):
        if getattr(target, name) is None:
            setattr(target, name, source_phone if name == "phone" else getattr(source, name))
    target.joined_at = min(target.joined_at, source.joined_at)
    if source.marketing_consent and not target.marketing_consent:
        target.marketing_consent, target.consent_at = True, source.consent_at
        target.consent_source = source.consent_source
    await members.move_children(source.id, target.id)
    await membership.merge_members(session, tenant, source.id, target.id, actor)
    source.merged_into_id = target.id
    flash_tokens.refuse(session, tenant.id, source.id)
    source.display_name, source.email, source.birthday, source.notes = MERGED_NAME, None, None, None
    members.record(target.id, "merged", actor, merged_member_id=str(source.id))
    await session.flush()
    return (await members.views([target]))[0]


async def events_page(
    session: AsyncSession, tenant: Tenant, member_id: uuid.UUID, *, limit: int, cursor: str | None
) -> Page[MemberEvent]:
    members = Members(session, tenant.id)
    await _current_or_404(members, member_id)
    return await paginate(
        session, members.events(member_id), key=MemberEvent.id, limit=limit, cursor=cursor
    )


async def export_member(
    session: AsyncSession, tenant: Tenant, member_id: uuid.UUID
) -> dict[str, Any]:
    """Everything Tribekit holds about one member, as one JSON document (data portability):
    the member, their timeline, a summary in words (level, points, plans, communities), their
    orders with every row about each order, and every other row about them, by table."""
    members = Members(session, tenant.id)
    view = (await members.views([await _current_or_404(members, member_id)]))[0]
    events = await members.all_events(member_id)
    rows = await privacy.export_tables(session, tenant, member_id)
    return {
        "exported_at": clock.now().isoformat(),
        "merchant": tenant.slug,
        "member": MemberOut.of(view).model_dump(mode="json"),
        "events": [MemberEventOut.model_validate(e).model_dump(mode="json") for e in events],
        "membership": await membership_card.export_summary(session, tenant, member_id),
        "communities": await members.communities_of(member_id),
        "orders": rows["orders"],
        "tables": rows["tables"],
    }


async def member_link(
    session: AsyncSession, tenant: Tenant, secret_key: str, member_id: uuid.UUID
) -> tuple[str, datetime]:
    """A signed link token for the member (the robot sends it in a chat)."""
    await _current_or_404(Members(session, tenant.id), member_id)
    return access.issue_link(secret_key, tenant, member_id)

"""The moderation policy a group follows: the merchant's (or the default one) with the group's
override merged over it, and the compiled engine for it, rebuilt only when either changes; and
staff's changes to both, each a conditional update on the version they read (``save``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import Conflict, TribekitError
from tribekit.models.moderation import ModerationPolicy
from tribekit.tenancy.principal import Tenant

from .moderation.engine import Engine, compile
from .moderation.policy import Policy, merge

#: Merged policies and their engines by the rows' (id, version) pairs: a save moves a row's
#: version, a removed and re-made override has a new id, so a key never names stale rules.
_EFFECTIVE: dict[tuple[object, ...], tuple[Policy, Engine]] = {}
_EFFECTIVE_SIZE = 1024
_VERSIONS = (
    select(ModerationPolicy.id, ModerationPolicy.community_id, ModerationPolicy.version)
    .where(
        ModerationPolicy.merchant_id == bindparam("b_merchant_id"),
        or_(
            ModerationPolicy.community_id.is_(None),
            ModerationPolicy.community_id == bindparam("b_community_id"),
        ),
    )
    .order_by(ModerationPolicy.community_id.is_not(None))
)


async def effective(
    session: AsyncSession,
    tenant: Tenant,
    community_id: uuid.UUID | None,
    rows: tuple[tuple[uuid.UUID, int], ...] | None = None,
) -> tuple[Policy, Engine]:
    """The merged policy of a group, and its engine. Every message of every group asks, so the
    rows' ids and versions are read (a small statement, no rules; or given as ``rows``, the
    merchant's first, when the caller read them already: ``standing.read``) and the merged
    policy is kept by them; the rules are read and merged only when a version this process has
    not seen."""
    if rows is None:
        params = {"b_merchant_id": tenant.id, "b_community_id": community_id}
        rows = tuple((r.id, r.version) for r in (await session.execute(_VERSIONS, params)).all())
    key = (tenant.id, *rows)
    found = _EFFECTIVE.get(key)
    if found is not None:
        return found
    mine = (
        ModerationPolicy.merchant_id == tenant.id,
        or_(
            ModerationPolicy.community_id.is_(None),
            ModerationPolicy.community_id == community_id,
        ),
    )
    found_rows = (await session.scalars(select(ModerationPolicy).where(*mine))).all()
    base = next((r for r in found_rows if r.community_id is None), None)
    override = next((r for r in found_rows if r.community_id is not None), None)
    policy = merge(
        Policy.model_validate(base.rules) if base else Policy(),
        Policy.model_validate(override.rules) if override else None,
    )
    # Named by the rows as read now (a save between the two statements gives a new key).
    read = (
        tenant.id,
        *((r.id, r.version) for r in sorted(found_rows, key=lambda r: r.community_id is not None)),
    )
    found = policy, compile(policy, version=read)
    if read == key:
        if len(_EFFECTIVE) >= _EFFECTIVE_SIZE:
            _EFFECTIVE.clear()
        _EFFECTIVE[key] = found
    return found


# -- staff's changes --------------------------------------------------------------------------


#: A change to a policy: the policy as it is now in, the changed one out.
Change = Callable[[Policy], Policy]


class PolicyChanged(Conflict):
    code = "policy_changed"
    title = "The policy was changed by someone else"


class VersionRequired(TribekitError):
    status = 428
    code = "version_required"
    title = "Say which version of the policy you changed"


async def row(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID | None
) -> ModerationPolicy | None:
    """The merchant's policy row (``community_id`` None) or a community's override row."""
    where = (
        ModerationPolicy.community_id.is_(None)
        if community_id is None
        else ModerationPolicy.community_id == community_id
    )
    found: ModerationPolicy | None = await session.scalar(
        select(ModerationPolicy)
        .where(ModerationPolicy.merchant_id == tenant.id, where)
        .execution_options(populate_existing=True)
    )
    return found


def _changed(community_id: uuid.UUID | None, expected: int) -> PolicyChanged:
    what = "the merchant's policy" if community_id is None else f"community {community_id}'s"
    return PolicyChanged(
        f"{what} is no longer at version {expected}; read it again, redo your change on what "
        "it is now and send that version in If-Match",
        expected_version=expected,
    )


async def save(
    session: AsyncSession,
    tenant: Tenant,
    community_id: uuid.UUID | None,
    rules: dict[str, Any],
    *,
    expected_version: int,
    actor: str,
) -> ModerationPolicy:
    """Store ``rules`` if the row is still at ``expected_version`` (0: there is none yet);
    the version moves by one. Two staff saving the same version: one wins, the other gets
    ``policy_changed`` (a conditional update, or the unique index for the first one)."""
    now = clock.now()
    if expected_version == 0:
        created = ModerationPolicy(
            merchant_id=tenant.id,
            community_id=community_id,
            rules=rules,
            version=1,
            updated_at=now,
            updated_by=actor,
        )
        await add_unique(
            session,
            "the policy was saved by someone else first; read it again, redo your change and "
            "send its version in If-Match",
            created,
            error=PolicyChanged,
        )
        return created
    where = [
        ModerationPolicy.merchant_id == tenant.id,
        ModerationPolicy.version == expected_version,
        ModerationPolicy.community_id.is_(None)
        if community_id is None
        else ModerationPolicy.community_id == community_id,
    ]
    saved_id = await session.scalar(
        update(ModerationPolicy)
        .where(*where)
        .values(
            rules=rules,
            version=ModerationPolicy.version + 1,
            updated_at=now,
            updated_by=actor,
        )
        .returning(ModerationPolicy.id)
        .execution_options(synchronize_session=False)
    )
    if saved_id is None:
        raise _changed(community_id, expected_version)
    saved = await session.get(ModerationPolicy, saved_id, populate_existing=True)
    assert saved is not None
    return saved


async def remove_override(
    session: AsyncSession, tenant: Tenant, community_id: uuid.UUID, *, expected_version: int
) -> bool:
    """Delete the community's override if it is still at ``expected_version``; False when the
    community has none. The group then follows the merchant's policy."""
    deleted = await session.scalar(
        delete(ModerationPolicy)
        .where(
            ModerationPolicy.merchant_id == tenant.id,
            ModerationPolicy.community_id == community_id,
            ModerationPolicy.version == expected_version,
        )
        .returning(ModerationPolicy.id)
        .execution_options(synchronize_session=False)
    )
    if deleted is not None:
        return True
    if await row(session, tenant, community_id) is None:
        return False
    raise _changed(community_id, expected_version)


async def amend(session: AsyncSession, tenant: Tenant, change: Change, *, actor: str) -> Policy:
    """Apply ``change`` to the merchant's policy (the robot's own edits: allow-listing what
    staff marked fine, a reported phrase). Read, change, conditional update; a concurrent
    change makes it read again and re-apply, so neither change is lost."""
    for _ in range(_AMEND_ATTEMPTS):
        current = await row(session, tenant, None)
        before = Policy.model_validate(current.rules) if current else Policy()
        after = change(before)
        if after == before:
            return before
        try:
            await save(
                session,
                tenant,
                None,
                after.model_dump(mode="json"),
                expected_version=current.version if current else 0,
                actor=actor,
            )
        except PolicyChanged:
            continue
        return after
    raise _changed(None, current.version if current else 0)


_AMEND_ATTEMPTS = 5

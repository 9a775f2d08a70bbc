"""Staff invitations: the only way a person joins a merchant's staff through the API.

Inviting records an offer (merchant, email, role, inviter, expiry, the keyed hash of a secret)
and attaches nobody: the answer is the same whether or not the email already has a Tribekit
login, so it tells the inviter nothing about other merchants' staff. The invitee accepts with
the secret. A new person sets a name and a password; a person who already has a login proves it
is them (its password, or a credential of theirs) before the role is added.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock
from tribekit.kit.db import add_unique
from tribekit.kit.errors import (
    Conflict,
    FieldProblem,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from tribekit.kit.pagination import Page, paginate
from tribekit.kit.security import hash_password, hash_token, new_token, verify_password
from tribekit.models.enums import Role
from tribekit.models.tenancy import Merchant, StaffInvitation, StaffRole, StaffUser

from . import repository as repo
from .permissions import Permission
from .principal import Principal
from .schemas import InvitationAccept, InvitationCreate
from .service import StaffEntry, check_can_grant

TOKEN_KIND = "i"  # noqa: S105  # the kind letter of tki_<prefix>_<secret>, not a secret
MIN_PASSWORD = 10
#: How long an owner invitation from the platform works (a staff invitation's default).
OWNER_INVITATION_DAYS = 7


class InvitationNotFound(NotFound):
    code = "invitation_not_found"
    title = "No such invitation"


class InvitationClosed(Conflict):
    code = "invitation_closed"
    title = "The invitation can no longer be accepted"


@dataclass(frozen=True)
class Joined:
    merchant: Merchant
    staff: StaffEntry


async def invite(
    session: AsyncSession, secret_key: str, principal: Principal, data: InvitationCreate
) -> tuple[StaffInvitation, str]:
    """A new invitation and its secret (shown once). Earlier pending invitations of the same
    email at this merchant are revoked: the newest link is the one that works."""
    tenant = principal.require(Permission.STAFF_MANAGE)
    check_can_grant(principal, data.role)
    invitations = repo.Invitations(session, tenant.id)
    return await _invite(
        invitations,
        secret_key,
        data.email.lower(),
        data.role,
        principal.user_id,
        data.expires_in_days,
    )


async def invite_owner(
    session: AsyncSession,
    secret_key: str,
    merchant_id: uuid.UUID,
    email: str,
    invited_by: uuid.UUID | None,
) -> tuple[StaffInvitation, str]:
    """An owner invitation from the platform (``onboarding.py``), valid 7 days: for a merchant
    just created for an email that already has a login, or again when that one expired or was
    lost, for any email. The invitee becomes owner only by accepting it, like any invitee; as
    with ``invite``, an email already on the staff is a 409 and a pending one is replaced."""
    invitations = repo.Invitations(session, merchant_id)
    return await _invite(
        invitations, secret_key, email.lower(), Role.OWNER, invited_by, OWNER_INVITATION_DAYS
    )


async def _invite(
    invitations: repo.Invitations,
    secret_key: str,
    email: str,
    role: Role,
    invited_by: uuid.UUID | None,
    days: int,
) -> tuple[StaffInvitation, str]:
    """A new invitation, with the email's pending ones at this merchant revoked at its moment."""
    # Only this merchant's own staff is looked at, which the inviter can list anyway.
    if await invitations.is_staff(email):
        raise Conflict(f"{email} already works for this merchant", field="email")
    now = clock.now()
    await invitations.revoke_pending(email, now)
    secret, prefix = new_token(TOKEN_KIND)
    invitation = StaffInvitation(
        merchant_id=invitations.merchant_id,
        email=email,
        role=role.value,
        invited_by=invited_by,
        prefix=prefix,
        token_hash=hash_token(secret_key, secret),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    await add_unique(
        invitations.session,
        f"another invitation to {email} is being sent right now; retry to replace it",
        invitation,
    )
    return invitation, secret


async def list_invitations(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> Page[StaffInvitation]:
    tenant = principal.require(Permission.STAFF_READ)
    stmt = repo.Invitations(session, tenant.id).select()
    return await paginate(session, stmt, key=StaffInvitation.id, limit=limit, cursor=cursor)


async def revoke(
    session: AsyncSession, principal: Principal, invitation_id: uuid.UUID
) -> StaffInvitation:
    tenant = principal.require(Permission.STAFF_MANAGE)
    invitation = await repo.Invitations(session, tenant.id).get_or_404(
        invitation_id, for_update=True
    )
    check_can_grant(principal, Role(invitation.role))  # admins cannot withdraw owner invitations
    if invitation.accepted_at is not None:
        raise InvitationClosed(
            "this invitation was accepted; remove the staff member instead", state="accepted"
        )
    if invitation.revoked_at is None:
        invitation.revoked_at = clock.now()
        await session.flush()
    return invitation


# -- accepting -----------------------------------------------------------------------------------


async def _open_invitation(session: AsyncSession, secret_key: str, token: str) -> StaffInvitation:
    if not token.startswith(f"tk{TOKEN_KIND}_"):
        raise InvitationNotFound("this is not an invitation token; it starts with tki_")
    invitation = await repo.invitation_by_hash(session, hash_token(secret_key, token))
    if invitation is None:
        raise InvitationNotFound("unknown invitation token; ask for a new invitation")
    check_open(invitation)
    return invitation


def check_open(invitation: StaffInvitation) -> None:
    status = invitation.status
    if status == "accepted":
        raise InvitationClosed("this invitation was already accepted", state=status)
    if status == "revoked":
        raise InvitationClosed("this invitation was withdrawn; ask for a new one", state=status)
    if status == "expired":
        raise InvitationClosed(
            f"this invitation expired at {invitation.expires_at.isoformat()}; ask for a new one",
            state=status,
        )


def _check_new_login(data: InvitationAccept) -> tuple[str, str]:
    problems = []
    if data.name is None:
        problems.append(FieldProblem(("body", "name"), "a new login needs your name", "missing"))
    if data.password is None:
        problems.append(
            FieldProblem(("body", "password"), "a new login needs a password", "missing")
        )
    elif len(data.password) < MIN_PASSWORD:
        problems.append(
            FieldProblem(
                ("body", "password"),
                f"a password needs at least {MIN_PASSWORD} characters",
                "string_too_short",
            )
        )
    if problems:
        summary = "; ".join(f"{p.loc[-1]}: {p.message}" for p in problems)
        raise ValidationFailed(f"the request is not valid: {summary}", errors=problems)
    assert data.name is not None
    assert data.password is not None
    return data.name, data.password


def _check_is_them(user: StaffUser, data: InvitationAccept, caller: Principal | None) -> None:
    """The invited email has a login: only its owner may accept for it."""
    if caller is not None:
        if caller.user_id != user.id:
            raise PermissionDenied(
                "you are signed in as someone else than the invited person; accept without "
                "a credential, or sign in as the invited email"
            )
        return
    if data.password is None:
        raise Unauthenticated(
            "the invited email already has a login: send its password, or accept while signed in "
            "as it"
        )
    password_ok = verify_password(user.password_hash, data.password)  # a dummy hash if none
    if not password_ok or not user.is_active:
        raise Unauthenticated("wrong password for the invited email")


async def accept(
    session: AsyncSession, secret_key: str, data: InvitationAccept, caller: Principal | None
) -> Joined:
    """Accept an invitation: the role is added to the invited person, made now if new."""
    invitation = await _open_invitation(session, secret_key, data.token)
    user = await repo.user_by_email(session, invitation.email)
    new_login: tuple[str, str] | None = None
    if user is None:
        if caller is not None:  # signed in, so not the invited email, which has no login yet
            raise PermissionDenied(
                "this invitation is for another email; accept it without signing in"
            )
        new_login = _check_new_login(data)
    else:
        _check_is_them(user, data, caller)
    now = clock.now()
    if not await repo.claim_invitation(session, invitation.id, now):
        await session.refresh(invitation)
        check_open(invitation)  # taken meanwhile: say how
        raise InvitationClosed("this invitation was already accepted", state="accepted")
    if user is None:
        assert new_login is not None
        name, password = new_login
        user = StaffUser(email=invitation.email, name=name, password_hash=hash_password(password))
        await add_unique(session, f"{invitation.email} signed up meanwhile; try again", user)
    role = StaffRole(merchant_id=invitation.merchant_id, user_id=user.id, role=invitation.role)
    await add_unique(session, "you already work for this merchant", role)
    invitation.accepted_by = user.id
    await session.flush()
    merchant = await repo.merchant_by_id(session, invitation.merchant_id)
    assert merchant is not None  # the invitation would have gone with it (ON DELETE CASCADE)
    return Joined(merchant, StaffEntry.of(role, user))

"""Creating a merchant and inviting its owner (platform admins, ``tribekit merchant create``
and ``tribekit merchant invite-owner``).

A new email gets a new owner login with the given password at once. An email that already has
a login gets an owner invitation instead: that person may work for other merchants, and
becomes this one's owner only by accepting it (``invitations.accept``: their password, or
signed in as them), never because someone else typed their email. When that invitation expires
or is lost, ``invite_owner`` issues another, to any email.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.errors import NotFound
from tribekit.models.tenancy import Merchant, StaffInvitation

from . import invitations, service
from . import repository as repo
from .schemas import MerchantCreate
from .service import StaffEntry


@dataclass(frozen=True)
class OwnerInvited:
    invitation: StaffInvitation
    token: str  # the invitation's secret, shown once


@dataclass(frozen=True)
class MerchantCreated:
    merchant: Merchant
    owner: StaffEntry | None  # a new login, owner now
    invited: OwnerInvited | None  # an existing login, owner once it accepts


async def create_merchant(
    session: AsyncSession,
    secret_key: str,
    data: MerchantCreate,
    *,
    invited_by: uuid.UUID | None,
    default_timezone: str,
) -> MerchantCreated:
    """A new merchant, and its owner or its owner's invitation (``invited_by``: the platform
    admin asking, None from the CLI). The existing login is only read: its name, password and
    other merchants stay as they are, and ``data.owner``'s name and password are not used."""
    if await repo.user_by_email(session, data.owner.email) is None:
        # A login made meanwhile for this email makes the insert fail with a 409; sent again,
        # the request invites it.
        merchant, owner = await service.create_merchant(
            session, data, default_timezone=default_timezone
        )
        return MerchantCreated(merchant, owner, None)
    merchant = await service.add_merchant(session, data, default_timezone=default_timezone)
    invitation, token = await invitations.invite_owner(
        session, secret_key, merchant.id, data.owner.email, invited_by
    )
    return MerchantCreated(merchant, None, OwnerInvited(invitation, token))


async def invite_owner(
    session: AsyncSession,
    secret_key: str,
    merchant_id: uuid.UUID,
    email: str,
    *,
    invited_by: uuid.UUID | None,
) -> OwnerInvited:
    """A new owner invitation to an existing merchant (``invited_by``: the platform admin
    asking, None from the CLI), whether or not the email has a login: a new person accepts by
    setting a name and password. The email's pending invitation there is replaced."""
    if await repo.merchant_by_id(session, merchant_id) is None:
        raise NotFound(f"no merchant with id {merchant_id}")
    invitation, token = await invitations.invite_owner(
        session, secret_key, merchant_id, email, invited_by
    )
    return OwnerInvited(invitation, token)

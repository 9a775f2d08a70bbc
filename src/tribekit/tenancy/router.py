"""HTTP routes: platform (create merchants, invite their owners), the current merchant, staff,
API tokens, sign-in."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, TypeVar

from fastapi import APIRouter, Request, Response, status

from tribekit.api.deps import (
    API_PREFIX,
    CurrentPrincipal,
    Cursor,
    DbSession,
    OptionalPrincipal,
    PageLimit,
    State,
    authorized,
    client_ip,
    limit,
)
from tribekit.kit.errors import PermissionDenied, Unauthenticated
from tribekit.kit.schemas import Output
from tribekit.tenancy import auth, invitations, onboarding, service
from tribekit.tenancy.permissions import Permission
from tribekit.tenancy.principal import Principal, Tenant

from . import repository as repo
from .schemas import (
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    InvitationOut,
    InvitationPage,
    LoginIn,
    MerchantCreate,
    MerchantCreated,
    MerchantOut,
    MerchantUpdate,
    OwnerInvitationCreate,
    StaffJoined,
    StaffOut,
    StaffUpdate,
    TokenCreate,
    TokenCreated,
    TokenOut,
    WhoAmI,
)

router = APIRouter(prefix=API_PREFIX)
C = TypeVar("C", bound=Output)


class TokenPage(Output):
    items: list[TokenOut]
    next_cursor: str | None


@router.post(
    "/platform/merchants",
    tags=["platform"],
    status_code=status.HTTP_201_CREATED,
    summary="Create a merchant and its owner, or invite an existing login to own it "
    "(platform admins)",
)
async def create_merchant(
    data: MerchantCreate, session: DbSession, state: State, principal: CurrentPrincipal
) -> MerchantCreated:
    if not principal.is_platform_admin:
        raise PermissionDenied("only platform admins create merchants")
    created = await onboarding.create_merchant(
        session,
        state.secret_key,
        data,
        invited_by=principal.user_id,
        default_timezone=state.settings.default_timezone,
    )
    invited = created.invited
    return MerchantCreated(
        merchant=MerchantOut.model_validate(created.merchant),
        owner=StaffOut.model_validate(created.owner) if created.owner else None,
        invitation=(
            _with_secret(InvitationOut, InvitationCreated, invited.invitation, invited.token)
            if invited
            else None
        ),
    )


@router.post(
    "/platform/merchants/{merchant_id:uuid}/owner-invitations",
    tags=["platform"],
    status_code=status.HTTP_201_CREATED,
    summary="Invite someone to own a merchant, e.g. when its owner invitation expired or was lost "
    "(platform admins); the token is shown once: send it to them",
)
async def invite_owner(
    merchant_id: uuid.UUID,
    data: OwnerInvitationCreate,
    session: DbSession,
    state: State,
    principal: CurrentPrincipal,
) -> InvitationCreated:
    if not principal.is_platform_admin:
        raise PermissionDenied("only platform admins invite merchant owners")
    invited = await onboarding.invite_owner(
        session, state.secret_key, merchant_id, data.email, invited_by=principal.user_id
    )
    return _with_secret(InvitationOut, InvitationCreated, invited.invitation, invited.token)


def _with_secret(out: type[Output], created: type[C], row: object, secret: str) -> C:
    """``row`` as ``out`` plus its secret ``token``, shown this once (``created``)."""
    return created.model_validate({**out.model_validate(row).model_dump(), "token": secret})


@router.get("/merchant", tags=["merchant"], summary="The caller's merchant")
async def get_merchant(
    session: DbSession, tenant: Annotated[Tenant, authorized(Permission.MERCHANT_READ)]
) -> MerchantOut:
    return MerchantOut.model_validate(await service.get_merchant(session, tenant))


@router.patch(
    "/merchant", tags=["merchant"], summary="Change the merchant's name, timezone, country, locale"
)
async def update_merchant(
    data: MerchantUpdate,
    session: DbSession,
    tenant: Annotated[Tenant, authorized(Permission.MERCHANT_MANAGE)],
) -> MerchantOut:
    return MerchantOut.model_validate(await service.update_merchant(session, tenant, data))


# -- staff ---------------------------------------------------------------------------------------


@router.get("/staff", tags=["staff"], summary="Everyone who works for the merchant")
async def list_staff(
    session: DbSession, tenant: Annotated[Tenant, authorized(Permission.STAFF_READ)]
) -> list[StaffOut]:
    return [StaffOut.model_validate(entry) for entry in await service.list_staff(session, tenant)]


@router.get("/staff/invitations", tags=["staff"], summary="Invitations to the staff, newest first")
async def list_invitations(
    session: DbSession,
    principal: CurrentPrincipal,
    _: Annotated[Tenant, authorized(Permission.STAFF_READ)],
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> InvitationPage:
    page = await invitations.list_invitations(session, principal, limit=limit, cursor=cursor)
    return InvitationPage.model_validate(page)


@router.post(
    "/staff/invitations",
    tags=["staff"],
    status_code=status.HTTP_201_CREATED,
    summary="Invite someone to the staff with a role; the token is shown once: send it to them",
)
async def invite(
    data: InvitationCreate,
    session: DbSession,
    state: State,
    principal: CurrentPrincipal,
    _: Annotated[Tenant, authorized(Permission.STAFF_MANAGE)],
) -> InvitationCreated:
    invitation, secret = await invitations.invite(session, state.secret_key, principal, data)
    return _with_secret(InvitationOut, InvitationCreated, invitation, secret)


@router.delete(
    "/staff/invitations/{invitation_id:uuid}",
    tags=["staff"],
    summary="Withdraw an invitation; its token stops working",
)
async def revoke_invitation(
    invitation_id: uuid.UUID,
    session: DbSession,
    principal: CurrentPrincipal,
    _: Annotated[Tenant, authorized(Permission.STAFF_MANAGE)],
) -> InvitationOut:
    revoked = await invitations.revoke(session, principal, invitation_id)
    return InvitationOut.model_validate(revoked)


@router.post(
    "/staff/invitations/accept",
    tags=["staff"],
    summary="Accept an invitation: set a name and password, or prove the invited login is yours",
)
async def accept_invitation(
    data: InvitationAccept,
    request: Request,
    session: DbSession,
    state: State,
    caller: OptionalPrincipal,
) -> StaffJoined:
    ip = client_ip(request)
    failures_per_minute = state.settings.failed_auth_rate_limit
    await limit(state, f"authfail:{ip}", failures_per_minute, "failed sign-ins", record=False)
    try:
        joined = await invitations.accept(session, state.secret_key, data, caller)
    except (Unauthenticated, invitations.InvitationNotFound):
        # Guessed tokens and guessed passwords count like failed sign-ins.
        await limit(state, f"authfail:{ip}", failures_per_minute, "failed sign-ins")
        raise
    return StaffJoined(
        merchant=MerchantOut.model_validate(joined.merchant),
        staff=StaffOut.model_validate(joined.staff),
    )


@router.patch("/staff/{user_id:uuid}", tags=["staff"], summary="Change a staff member's role")
async def change_role(
    user_id: uuid.UUID,
    data: StaffUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
    _: Annotated[Tenant, authorized(Permission.STAFF_MANAGE)],
) -> StaffOut:
    entry = await service.change_role(session, principal, user_id, data.role)
    return StaffOut.model_validate(entry)


@router.delete(
    "/staff/{user_id:uuid}",
    tags=["staff"],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a staff member from the merchant",
)
async def remove_staff(
    user_id: uuid.UUID,
    session: DbSession,
    principal: CurrentPrincipal,
    _: Annotated[Tenant, authorized(Permission.STAFF_MANAGE)],
) -> None:
    await service.remove_staff(session, principal, user_id)


# -- API tokens ----------------------------------------------------------------------------------


@router.get("/tokens", tags=["tokens"], summary="API tokens (yours; everybody's for admins)")
async def list_tokens(
    session: DbSession, principal: CurrentPrincipal, limit: PageLimit = 50, cursor: Cursor = None
) -> TokenPage:
    page = await auth.list_tokens(session, principal, limit=limit, cursor=cursor)
    return TokenPage.model_validate(page)


@router.post(
    "/tokens",
    tags=["tokens"],
    status_code=status.HTTP_201_CREATED,
    summary="Create an API token for yourself; the secret is shown once",
)
async def create_token(
    data: TokenCreate, session: DbSession, state: State, principal: CurrentPrincipal
) -> TokenCreated:
    token, secret = await auth.create_own_token(
        session, state.secret_key, principal, data.name, data.expires_in_days
    )
    return _with_secret(TokenOut, TokenCreated, token, secret)


@router.delete("/tokens/{token_id}", tags=["tokens"], summary="Revoke an API token")
async def revoke_token(
    token_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> TokenOut:
    return TokenOut.model_validate(await auth.revoke_token(session, principal, token_id))


# -- sign-in (web UI sessions) -------------------------------------------------------------------


async def _whoami(session: DbSession, principal: Principal) -> WhoAmI:
    merchant = None
    if principal.tenant is not None:
        found = await repo.merchant_by_id(session, principal.tenant.id)
        merchant = MerchantOut.model_validate(found) if found else None
    return WhoAmI(
        user_id=principal.user_id,
        email=principal.email,
        is_platform_admin=principal.is_platform_admin,
        merchant=merchant,
        role=principal.role,
        via=principal.via,
    )


@router.post("/auth/login", tags=["auth"], summary="Sign in; sets the session cookie")
async def login(
    data: LoginIn, request: Request, response: Response, session: DbSession, state: State
) -> WhoAmI:
    ip = client_ip(request)
    per_minute = state.settings.login_rate_limit
    failures_per_minute = state.settings.failed_auth_rate_limit
    await limit(state, f"authfail:{ip}", failures_per_minute, "failed sign-ins", record=False)
    await limit(state, f"login:{data.email.lower()}:{ip}", per_minute, "sign-in attempts")
    try:
        secret, principal = await _open_session(data, request, session, state)
    except Unauthenticated:
        # Guessing across many emails from one address is stopped here, not per email.
        await limit(state, f"authfail:{ip}", failures_per_minute, "failed sign-ins")
        raise
    response.set_cookie(
        auth.SESSION_COOKIE,
        secret,
        max_age=state.settings.session_days * 86_400,
        httponly=True,
        secure=state.settings.is_production,
        samesite="lax",
    )
    return await _whoami(session, principal)


async def _open_session(
    data: LoginIn, request: Request, session: DbSession, state: State
) -> tuple[str, Principal]:
    secret, _staff_session, principal = await auth.login(
        session,
        state.secret_key,
        email=data.email,
        password=data.password,
        merchant_slug=data.merchant,
        ttl=timedelta(days=state.settings.session_days),
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    return secret, principal


@router.post(
    "/auth/logout", tags=["auth"], status_code=status.HTTP_204_NO_CONTENT, summary="Sign out"
)
async def logout(response: Response, session: DbSession, principal: CurrentPrincipal) -> None:
    await auth.logout(session, principal)
    response.delete_cookie(auth.SESSION_COOKIE)


@router.get("/auth/me", tags=["auth"], summary="Who the credential belongs to")
async def whoami(session: DbSession, principal: CurrentPrincipal) -> WhoAmI:
    return await _whoami(session, principal)

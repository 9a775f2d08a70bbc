"""Worker sweeps of orders: unpaid orders release their reservations when their time is up, and
refunds are given back at the payment provider after their transaction committed.

Giving money back at Stripe is a durable request on the refund row (``provider_status``
pending, due at ``provider_next_at``). One attempt is three steps, and only the middle one
leaves the process, outside any transaction:

1. **claim** (the sweep's unit of work): due rows, ``FOR UPDATE SKIP LOCKED``; each attempt is
   counted and the row's due time moves past the lease, so no other worker claims it while the
   call may still be running; committed;
2. **call** the provider with the refund's idempotency key ``refund:<refund id>`` (an attempt
   that timed out after Stripe did the refund is answered by Stripe's replay, never twice);
3. **record** the outcome in a new short unit of work, after re-checking the row: succeeded,
   or due again after a backoff, or failed for good (refused by the provider, or
   ``MAX_ATTEMPTS`` unanswered attempts), which staff see on the refund.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit import clock, locks, outbox
from tribekit.kit.db import Database
from tribekit.kit.errors import TribekitError
from tribekit.kit.worker import Sweep, claim_due
from tribekit.models.enums import OrderStatus, RefundProviderStatus
from tribekit.models.orders import Order, Payment, Refund
from tribekit.models.tenancy import Merchant
from tribekit.tenancy.principal import Tenant

from .payments import PaymentProvider, RefundRefused, RefundRequest
from .payments.providers import provider as provider_named
from .service import lifecycle
from .service.refunds import pay_back_request

log = logging.getLogger(__name__)

#: How long a claimed attempt is its worker's: longer than one provider call can take (Stripe:
#: a 30 s timeout and 2 network retries), so a second worker never calls while the first may.
ATTEMPT_LEASE = timedelta(minutes=5)
#: Attempts before a refund the provider never answered is marked failed (about 2 hours).
MAX_ATTEMPTS = 9
FIRST_RETRY = timedelta(seconds=30)
LAST_RETRY = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s, 1, 2, 4 ... minutes, at most 1 h."""
    wait: timedelta = FIRST_RETRY * (2 ** (attempts - 1))
    return min(wait, LAST_RETRY)


async def expire_unpaid(session: AsyncSession, batch_size: int) -> int:
    """Close unpaid orders past their time to pay. Claimed with SKIP LOCKED; ``expire`` moves
    each with a conditional update, so a payment landing at the same moment wins or loses
    cleanly and the stock goes back exactly once. What the batch gives back is locked up front,
    in the order of ``kit.locks``."""
    due = (
        select(Order)
        .where(Order.status == OrderStatus.PLACED, Order.expires_at <= clock.now())
        .order_by(Order.expires_at)
    )
    orders = list((await session.scalars(claim_due(due, batch_size))).all())
    locks.acquire(session, locks.Rank.ORDER, [o.id for o in orders], skip_locked=True)
    await lifecycle.lock_releases(session, orders)
    tenants: dict[object, Tenant] = {}
    for order in orders:
        if order.merchant_id not in tenants:
            merchant = await session.get(Merchant, order.merchant_id)
            assert merchant is not None  # a merchant's orders go with it
            tenants[order.merchant_id] = Tenant.of(merchant)
        await lifecycle.expire(session, tenants[order.merchant_id], order)
    return len(orders)


@dataclass(frozen=True)
class PayBack:
    """One claimed attempt to give a refund back at its provider."""

    refund_id: uuid.UUID
    attempt: int
    provider: str
    request: RefundRequest


@dataclass(frozen=True)
class Outcome:
    provider_ref: str | None = None
    error: str | None = None
    final: bool = False  # the provider refused: retrying the same request cannot succeed

    @property
    def succeeded(self) -> bool:
        return self.error is None


async def claim_pay_backs(session: AsyncSession, batch_size: int) -> list[PayBack]:
    """Due refund requests no other worker holds, each counted as an attempt and leased."""
    now = clock.now()
    due = (
        select(Refund)
        .where(
            Refund.provider_status == RefundProviderStatus.PENDING, Refund.provider_next_at <= now
        )
        .order_by(Refund.provider_next_at)
    )
    claimed = []
    for refund in (await session.scalars(claim_due(due, batch_size))).all():
        payment = await session.get(Payment, refund.payment_id)
        assert payment is not None  # a pending refund always names the payment it gives back
        refund.provider_attempts += 1
        refund.provider_next_at = now + ATTEMPT_LEASE
        claimed.append(
            PayBack(
                refund.id,
                refund.provider_attempts,
                payment.provider,
                pay_back_request(refund, payment),
            )
        )
    await session.flush()
    return claimed


async def call_provider(providers: Mapping[str, PaymentProvider], claim: PayBack) -> Outcome:
    """The provider call, outside any transaction. Never raises: the outcome says what happened."""
    try:
        done = await provider_named(providers, claim.provider).refund(claim.request)
    except RefundRefused as exc:
        return Outcome(error=exc.detail, final=True)
    except TribekitError as exc:  # unreachable, outage, rate limit, not configured (yet)
        return Outcome(error=exc.detail)
    except Exception as exc:
        log.exception("refund at the provider failed", extra={"refund": str(claim.refund_id)})
        return Outcome(error=f"unexpected error: {type(exc).__name__}")
    return Outcome(provider_ref=done.provider_ref)


async def record_pay_back(session: AsyncSession, claim: PayBack, outcome: Outcome) -> str:
    """Write the outcome of one attempt, after re-checking the row; what was recorded."""
    refund: Refund | None = await session.scalar(
        select(Refund)
        .where(Refund.id == claim.refund_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if refund is None or refund.provider_status != RefundProviderStatus.PENDING:
        return "already settled"
    now = clock.now()
    if outcome.succeeded:  # whichever attempt hears it first: the provider did the refund
        refund.provider_status = RefundProviderStatus.SUCCEEDED
        refund.provider_ref = outcome.provider_ref
        refund.provider_error = None
        refund.provider_next_at = None
        refund.provider_settled_at = now
        return "succeeded"
    if refund.provider_attempts != claim.attempt:
        return "superseded"  # the lease ran out and a later attempt owns the row
    refund.provider_error = outcome.error
    if outcome.final or refund.provider_attempts >= MAX_ATTEMPTS:
        refund.provider_status = RefundProviderStatus.FAILED
        refund.provider_next_at = None
        refund.provider_settled_at = now
        log.error(
            "refund failed at the provider; staff must settle it with the payer",
            extra={"refund": str(refund.id), "error": outcome.error},
        )
        return "failed"
    refund.provider_next_at = now + backoff(refund.provider_attempts)
    return "retry"


async def perform_pay_backs(
    db: Database, providers: Mapping[str, PaymentProvider], claims: list[PayBack]
) -> list[str]:
    """Call the provider for each claimed attempt and record each outcome in its own unit of
    work. Runs after the claim committed."""
    recorded = []
    for claim in claims:
        outcome = await call_provider(providers, claim)
        async with db.unit_of_work() as session:
            recorded.append(await record_pay_back(session, claim, outcome))
    return recorded


def pay_back_sweep(db: Database, providers: Mapping[str, PaymentProvider]) -> Sweep:
    """The sweep that gives refunds back at external providers (claim, then after commit: call
    and record)."""

    async def run(session: AsyncSession, batch_size: int) -> int:
        claims = await claim_pay_backs(session, batch_size)

        async def after_commit() -> None:
            await perform_pay_backs(db, providers, claims)

        if claims:
            outbox.on_commit(session, after_commit)
        return len(claims)

    return Sweep("pay_back_refunds", run, every_seconds=5, batch_size=20)


SWEEPS = [Sweep("expire_unpaid_orders", expire_unpaid, every_seconds=15)]


def sweeps(db: Database, providers: Mapping[str, PaymentProvider]) -> list[Sweep]:
    """Every sweep of orders; giving refunds back needs the database and the providers."""
    return [*SWEEPS, pay_back_sweep(db, providers)]

"""The errors of flash sales. A losing purchase attempt is a 409 with a stable code, one class
per ``engine.Refusal``; the others are the usual 4xx of making and changing a sale."""

from __future__ import annotations

from typing import Any

from tribekit.kit.errors import Conflict, TribekitError, ValidationFailed

from .engine import Refusal


class FlashSaleRefused(Conflict):
    """An attempt that lost. ``code`` is the refusal; ``sale_id`` and ``left`` in the data."""

    refusal: Refusal


class NotStarted(FlashSaleRefused):
    code = "not_started"
    title = "The flash sale has not started"
    refusal = Refusal.NOT_STARTED


class Ended(FlashSaleRefused):
    code = "ended"
    title = "The flash sale has ended"
    refusal = Refusal.ENDED


class NotEligible(FlashSaleRefused):
    code = "not_eligible"
    title = "This flash sale is for other members"
    refusal = Refusal.NOT_ELIGIBLE


class SoldOut(FlashSaleRefused):
    code = "sold_out"
    title = "The flash sale is sold out"
    refusal = Refusal.SOLD_OUT


class LimitReached(FlashSaleRefused):
    code = "limit_reached"
    title = "You hold as many units of this sale as a member may"
    refusal = Refusal.LIMIT_REACHED


REFUSED: dict[Refusal, type[FlashSaleRefused]] = {
    cls.refusal: cls for cls in (NotStarted, Ended, NotEligible, SoldOut, LimitReached)
}

#: What each refusal tells the member.
MESSAGES: dict[Refusal, str] = {
    Refusal.NOT_STARTED: "the sale has not started yet; come back when the countdown ends",
    Refusal.ENDED: "the sale has ended",
    Refusal.NOT_ELIGIBLE: "this sale is for members of other groups or levels",
    Refusal.SOLD_OUT: "every unit of this sale is taken",
    Refusal.LIMIT_REACHED: "you hold as many units of this sale as one member may",
}


def refused(refusal: Refusal, **data: Any) -> FlashSaleRefused:
    return REFUSED[refusal](MESSAGES[refusal], refusal=refusal.value, **data)


class SaleStarted(Conflict):
    code = "flash_sale_started"
    title = "The flash sale has started: it can no longer be changed or cancelled"


class BadFlashSale(ValidationFailed):
    code = "bad_flash_sale"
    title = "The flash sale cannot be made as given"


class FlashTokenInvalid(TribekitError):
    status = 401
    code = "flash_token_invalid"
    title = "The flash token is missing, expired or not valid"

"""Manual payments: cash at the shop or a bank transfer, confirmed by staff.

Nothing leaves the process: ``start`` only tells the payer how to pay, ``refund`` means staff hand
the money back, and there are no webhooks (staff mark the payment as received instead).
"""

from __future__ import annotations

from collections.abc import Mapping

from .base import (
    InvalidWebhook,
    PaymentRequest,
    PaymentStarted,
    RefundDone,
    RefundRequest,
    WebhookEvent,
)

DEFAULT_INSTRUCTIONS = (
    "Pay at the shop, or by bank transfer quoting order number {order_number} as the reference. "
    "Your order is confirmed as soon as staff have received the payment."
)


class ManualProvider:
    """Payments that staff confirm by hand.

    ``instructions`` is what the payer is told; ``{order_number}`` in it is replaced by the order
    number (other braces are left alone, so merchants can write any text).
    """

    name = "manual"
    external = False  # nothing leaves the process: a refund completes at once

    def __init__(self, instructions: str | None = None) -> None:
        self.instructions = instructions or DEFAULT_INSTRUCTIONS

    async def start(self, request: PaymentRequest) -> PaymentStarted:
        return PaymentStarted(
            provider_ref=f"manual:{request.payment_id}",
            redirect_url=None,
            instructions=self.instructions.replace("{order_number}", request.order_number),
        )

    async def refund(self, request: RefundRequest) -> RefundDone:
        return RefundDone(provider_ref=None)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        raise InvalidWebhook("the manual provider takes no webhooks")

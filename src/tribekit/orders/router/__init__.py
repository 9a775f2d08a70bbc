"""HTTP routes of checkout and orders: staff (``/orders``, ``/checkout``, ``/pickup-points``,
``/events``), provider webhooks, and members acting for themselves (``/me``).

Every state-changing call takes an ``Idempotency-Key`` and runs through ``api.idempotency.once``:
the answer is stored with the work and given again for the same key and request."""

from fastapi import APIRouter

from . import _config, _staff
from ._member import me_router

router = APIRouter()
router.include_router(_staff.router)
router.include_router(_config.router)

__all__ = ["me_router", "router"]

"""Orders' rules, one focused module each: ``checkout`` (quote and place), ``lifecycle`` (pay,
cancel, expire, fulfil, complete; reading orders), ``paying`` (starting payments, manual
payments, provider webhooks), ``refunds`` (refunds and their provider requests) and
``attendance`` (event check-in). Callers import the module they need
(``from tribekit.orders.service import checkout``)."""

from . import attendance, checkout, lifecycle, paying, refunds

__all__ = ["attendance", "checkout", "lifecycle", "paying", "refunds"]

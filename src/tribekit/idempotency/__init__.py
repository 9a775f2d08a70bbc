"""The idempotency store: the answer to each state-changing API call, kept per merchant, caller
and ``Idempotency-Key`` for 24 hours (Stripe semantics)."""

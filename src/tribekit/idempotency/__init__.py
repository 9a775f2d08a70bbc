"""The idempotency service: work run once per merchant, scope and key, its outcome kept 24 hours
to replay (``service.run_once``); HTTP routes (``api/idempotency.py``) and the robot use it."""

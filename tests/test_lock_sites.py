"""Every row lock in the code goes through ``kit.locks`` or is listed here with the reason it
takes no part in the lock order. A new ``FOR UPDATE``, ``claim_due`` or conditional update of an
order, product, membership account or coupon that does not ask the tracker fails this test, so
an out-of-order lock cannot be written by accident: either it calls ``locks.acquire`` (and the
tracker checks its order at run time) or it is added below, on review, with its reason."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import tribekit

SOURCE = Path(tribekit.__file__).parent
LOCKING = re.compile(
    r"\bupdate\((Product|Coupon|Order|MembershipAccount)\)|\.with_for_update\(|\bclaim_due\("
)

#: module:function -> why it locks without asking ``kit.locks``.
OUTSIDE_THE_ORDER = {
    "kit/repository.py:_by_id": "builds the statement; get() asks the tracker before using it",
    "kit/worker.py:claim_due": "the helper itself; each sweep that claims ranked rows records "
    "them with locks.acquire(skip_locked=True)",
    "catalog/csv_rows.py:_lock_by_sku": "a CSV import batch locks one merchant's products by SKU "
    "in id order, in one statement, in a transaction that takes no other ranked lock",
    "members/repository.py:get_current": "members rows are outside the order: a member is "
    "locked before any ranked row (erasure, merge), never while waiting with one held",
    "membership/levels.py:review_due": "FOR UPDATE SKIP LOCKED over accounts: never waits",
    "orders/events.py:_claim": "an event consumer's own row, SKIP LOCKED: never waits",
    "orders/tasks.py:record_pay_back": "a refund's provider columns belong to the worker; it "
    "locks that one row alone in its own short transaction",
    "tenancy/auth.py:revoke_token": "API tokens are outside the order",
    "tenancy/repository.py:touch_token": "API tokens, SKIP LOCKED",
    "tenancy/repository.py:of_user": "staff roles are outside the order",
    "tenancy/repository.py:lock_owners": "staff roles are outside the order (owners in id order)",
    "tenancy/tasks.py:purge_expired_sessions": "staff sessions are outside the order",
    "membership/tasks.py:apply_rule_changes": "membership settings rows, SKIP LOCKED: never waits",
    "orders/tasks.py:claim_pay_backs": "refund requests due at the provider, SKIP LOCKED: never "
    "waits",
    "robot/tasks.py:claim_actions": "robot actions due, SKIP LOCKED: never waits",
    "robot/tasks.py:claim_admin_lists": "the groups whose admins are due to be read, SKIP "
    "LOCKED: never waits",
    "robot/captcha.py:expire_due": "join captchas past their time, SKIP LOCKED: never waits",
    "robot/accounts.py:get_account": "robot accounts are outside the order: a staff change "
    "locks one account alone, in a transaction that takes no ranked lock",
    "robot/tasks.py:record": "a robot action's row belongs to the worker; it locks that one row "
    "alone in its own short transaction",
    "robot/broadcasts/deliveries.py:claim_deliveries": "broadcast deliveries due, SKIP LOCKED: "
    "never waits",
    "robot/broadcasts/tasks.py:expand_due": "broadcasts due to be written out, SKIP LOCKED: never "
    "waits",
    "robot/broadcasts/service.py:_row": "one broadcast alone, cancelled by staff, in a "
    "transaction that takes no ranked lock",
    "robot/broadcasts/audience.py:_mass_messages_used": "communities are outside the order: a "
    "quota channel's groups in id order, while a broadcast's deliveries are written (no ranked "
    "lock in that transaction)",
    "robot/schedules/service.py:_locked": "one scheduled post alone, changed by staff, in a "
    "transaction that takes no ranked lock",
    # -- campaigns/coupons --
    # -- campaigns/bundles --
    # -- campaigns/flash --
    # -- campaigns/group_buys --
    "campaigns/group_buys/closing.py:claim": "one group buy due for its next step, SKIP LOCKED: "
    "never waits; group-buy rows are outside the order, taken before any ranked row",
    # -- campaigns/schedules --
    "campaigns/schedules/repository.py:claim": "campaign schedules due to be planned, SKIP "
    "LOCKED: never waits",
    "campaigns/schedules/repository.py:relock": "the schedule a worker plans, read again under "
    "the lock its claim holds (another worker planning it at once waits here, before any "
    "ranked lock)",
    "campaigns/schedules/repository.py:locked": "one campaign schedule alone, changed by staff, "
    "in a transaction that takes no ranked lock",
    "robot/schedules/tasks.py:plan_due": "scheduled posts due to be planned, SKIP LOCKED: never "
    "waits",
}


def _locking_functions() -> set[str]:
    found = set()
    for path in sorted(SOURCE.rglob("*.py")):
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = ast.get_source_segment(text, node) or ""
                if LOCKING.search(body) and "locks.acquire(" not in body:
                    found.add(f"{path.relative_to(SOURCE).as_posix()}:{node.name}")
    return found


def test_every_row_lock_asks_the_tracker_or_says_why_not() -> None:
    found = _locking_functions()
    assert sorted(found - set(OUTSIDE_THE_ORDER)) == []  # new locks: ask kit.locks
    assert sorted(set(OUTSIDE_THE_ORDER) - found) == []  # stale entries: remove them

"""The order's state machine is one table (``orders/transitions.py``): every status change the
code asks for is declared in it, an undeclared one is refused before anything is written, and
``docs/orders.md`` shows the same table."""

from __future__ import annotations

import ast
import re
import uuid
from pathlib import Path

import pytest
from httpx import AsyncClient

import tribekit
from tests.factories import Factory
from tribekit.kit.db import Database
from tribekit.models.enums import OrderStatus
from tribekit.orders.repository import Orders
from tribekit.orders.transitions import TRANSITIONS, UndeclaredTransition, action

from .store import open_store, place

ORDERS = Path(tribekit.__file__).parent / "orders"
DOCS = Path(tribekit.__file__).parents[2] / "docs" / "orders.md"
DECLARED = {(src, to) for src, moves in TRANSITIONS.items() for to in moves}


def _status(node: ast.expr) -> OrderStatus | None:
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "OrderStatus"
    ):
        return OrderStatus[node.attr]
    return None


def _passed_for(tree: ast.Module, function: str, parameter: str) -> set[OrderStatus]:
    """The statuses a module passes as ``parameter`` of its own ``function``."""
    index = next(
        [a.arg for a in f.args.args].index(parameter)
        for f in ast.walk(tree)
        if isinstance(f, ast.AsyncFunctionDef | ast.FunctionDef) and f.name == function
    )
    found = set()
    for call in ast.walk(tree):
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == function
            and len(call.args) > index
        ):
            status = _status(call.args[index])
            assert status is not None, f"{function}() called with a status not spelled out"
            found.add(status)
    return found


def _performed() -> tuple[set[tuple[OrderStatus, OrderStatus]], set[OrderStatus]]:
    """(from, to) of every ``transition()`` call in orders, and the ``to`` of every ``move()``
    (its from is the locked order's status, checked at run time)."""
    pairs: set[tuple[OrderStatus, OrderStatus]] = set()
    moved: set[OrderStatus] = set()
    for path in sorted(ORDERS.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.AsyncFunctionDef | ast.FunctionDef):
                continue
            for call in ast.walk(function):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                    continue
                if call.func.attr == "transition" and function.name != "transition":
                    sources, target = call.args[1], call.args[2]
                    assert isinstance(sources, ast.List), f"{path.name}:{function.name}"
                    froms = {_status(e) for e in sources.elts}
                    assert None not in froms, f"{path.name}:{function.name}: spell out from"
                    if (to := _status(target)) is not None:
                        tos = {to}
                    else:
                        assert isinstance(target, ast.Name), f"{path.name}:{function.name}"
                        tos = _passed_for(tree, function.name, target.id)
                    pairs |= {(f, t) for f in froms if f is not None for t in tos}
                elif call.func.attr == "move" and function.name != "move":
                    to = _status(call.args[1])
                    assert to is not None, f"{path.name}:{function.name}: spell out the status"
                    moved.add(to)
    return pairs, moved


def test_every_status_change_in_the_code_is_declared_and_every_declared_one_is_made() -> None:
    pairs, moved = _performed()
    assert pairs - DECLARED == set()
    targets = {to for _, to in DECLARED}
    assert moved <= targets
    made = pairs | {(src, to) for src, to in DECLARED if to in moved}
    assert made == DECLARED
    assert set(TRANSITIONS) == set(OrderStatus)


def test_the_table_in_the_docs_is_the_table_in_the_code() -> None:
    rows = re.findall(r"^\| (\w+) \| (\w+) \| (\w+) \|$", DOCS.read_text(), re.MULTILINE)
    documented = {(src, act, to) for src, act, to in rows if src != "from"}
    coded = {
        (str(src), name, str(to))
        for src, moves in TRANSITIONS.items()
        for to, name in moves.items()
    }
    assert documented == coded
    assert action(OrderStatus.PLACED, OrderStatus.PAID) == "pay"


async def test_an_undeclared_transition_is_refused_and_nothing_changes(
    client: AsyncClient, db: Database, factory: Factory
) -> None:
    store = await open_store(db, factory)
    member = (await factory.member(store.shop)).member
    placed = await place(client, store, member.id, (store.cherries, 1))
    assert placed.status_code == 201, placed.text
    order_id = uuid.UUID(placed.json()["id"])
    async with db.unit_of_work() as session:
        orders = Orders(session, store.shop.tenant.id)
        order = await orders.get_or_404(order_id)
        with pytest.raises(UndeclaredTransition, match="from placed to completed"):
            await orders.transition(order, [OrderStatus.PLACED], OrderStatus.COMPLETED)
        with pytest.raises(UndeclaredTransition, match="from placed to refunded"):
            orders.move(order, OrderStatus.REFUNDED)
    async with db.unit_of_work() as session:
        reread = await Orders(session, store.shop.tenant.id).get_or_404(order_id)
        assert reread.status == OrderStatus.PLACED
        assert type(reread.status) is OrderStatus

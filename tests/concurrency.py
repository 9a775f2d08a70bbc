"""Fire many calls at once: every task waits at a barrier, then all go together."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def fire(n: int, call: Callable[[int], Awaitable[T]]) -> list[T]:
    """Run ``call(0) ... call(n-1)`` concurrently, released together from a barrier."""
    barrier = asyncio.Barrier(n)

    async def one(i: int) -> T:
        await barrier.wait()
        return await call(i)

    return list(await asyncio.gather(*(one(i) for i in range(n))))

"""Long polling, for setups with no public URL (``tribekit robot poll``): each Telegram robot in
poll mode asks ``getUpdates`` with a long timeout, and every update it gets goes through
``receive.py`` as a webhook's would, in its own unit of work. Each Matrix robot in service reads
its rooms with ``/sync`` in the same command (``matrix_sync.py``).

An update is confirmed to Telegram (the next call's ``offset``) only after the unit of work that
handled it committed, so a poller that dies mid-batch gets the rest again, and what it handled
already is recorded once and found. A 429 is waited out for its ``retry_after``; a network or
server failure backs off (1 s doubling to a minute); a token Telegram refuses is retried each
minute (staff may fix it meanwhile). The accounts in poll mode are read again every
``refresh`` seconds, so a robot registered, switched or removed while the poller runs is picked
up or dropped. Stopping (Ctrl-C) ends the waits at once and confirms what was handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from tribekit.models.enums import Channel as ChannelName

from . import accounts
from .channels import ActionRefused, RetryLater
from .channels.matrix import MatrixChannel
from .channels.telegram import TelegramChannel
from .matrix_sync import MatrixSync
from .receive import NotAnUpdate, Receiver, Served

log = logging.getLogger(__name__)

#: Seconds a getUpdates call waits for an update (Telegram holds the request that long).
WAIT_SECONDS = 25
REFRESH_SECONDS = 30.0
_REFUSED_PAUSE = 60.0
_MAX_BACKOFF = 60.0

#: What the poller tells its caller: the robot's name, and a line about what happened.
Report = Callable[[str, str], None]


def _quiet(name: str, line: str) -> None:
    log.info("robot poll", extra={"robot": name, "detail": line})


class Poller:
    def __init__(
        self,
        receiver: Receiver,
        telegram: TelegramChannel,
        *,
        account_ids: list[uuid.UUID] | None = None,
        wait: int = WAIT_SECONDS,
        refresh: float = REFRESH_SECONDS,
        report: Report = _quiet,
        matrix_wait: int | None = None,
    ) -> None:
        self.receiver = receiver
        self.telegram = telegram
        matrix = receiver.channels.get(ChannelName.MATRIX)
        self.matrix = (
            MatrixSync(receiver, matrix, wait=matrix_wait or wait)
            if isinstance(matrix, MatrixChannel)
            else None
        )
        self.account_ids = account_ids
        self.wait = wait
        self.refresh = refresh
        self.report = report
        #: The next offset per account: every update before it is handled and confirmed.
        self.offsets: dict[uuid.UUID, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every robot in poll mode until ``stop`` is set."""
        running: dict[uuid.UUID, asyncio.Task[None]] = {}
        try:
            while not stop.is_set():
                ids = await self._poll_mode_ids()
                for account_id in ids - running.keys():
                    running[account_id] = asyncio.create_task(self._poll(account_id, stop))
                for account_id in [a for a, task in running.items() if task.done()]:
                    running.pop(account_id).result()  # an unexpected error is raised here
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.refresh)
        finally:
            stop.set()
            if running:
                await asyncio.gather(*running.values(), return_exceptions=True)

    async def _poll_mode_ids(self) -> set[uuid.UUID]:
        found = await self.receiver.db.run(
            lambda session: accounts.poll_accounts(session, self.account_ids), read_only=True
        )
        return {account.id for account in found}

    async def _current(self, account_id: uuid.UUID) -> Served | None:
        served = await self.receiver.served(account_id)
        if served is None or not served.active or served.account.mode != "poll":
            return None
        return served

    async def _poll(self, account_id: uuid.UUID, stop: asyncio.Event) -> None:
        """One robot's loop: get, handle each update, confirm by asking for the next ones."""
        served = await self._current(account_id)
        if served is None:
            return
        if served.account.channel == ChannelName.MATRIX:
            if self.matrix is not None:
                await self.matrix.follow(served, stop, self._current, self.report)
            return
        name = served.account.username or served.account.name
        token = served.as_channel.token
        backoff = 1.0
        # getUpdates is refused while a webhook is set: a robot in poll mode has none.
        with contextlib.suppress(ActionRefused, RetryLater):
            await self.telegram.delete_webhook(token)
        self.report(name, "polling")
        while not stop.is_set():
            offset = self.offsets.get(account_id)
            try:
                updates = await _unless_stopped(
                    self.telegram.get_updates(token, offset=offset, wait=self.wait), stop
                )
            except RetryLater as exc:
                pause = exc.retry_after if exc.retry_after is not None else backoff
                backoff = min(backoff * 2, _MAX_BACKOFF)
                self.report(name, f"{exc.detail}; waiting {pause:g} s")
                await _sleep(pause, stop)
                continue
            except ActionRefused as exc:
                self.report(name, f"{exc.detail}; trying again in {_REFUSED_PAUSE:g} s")
                await _sleep(_REFUSED_PAUSE, stop)
                continue
            if updates is None:
                break  # stopped while waiting
            backoff = 1.0
            if updates:
                handled = await self._handle(account_id, served, updates, stop)
                self.report(name, f"{len(updates)} update(s): {', '.join(handled) or '-'}")
            fresh = await self._current(account_id)
            if fresh is None:
                self.report(name, "no longer in poll mode; stopped")
                break
            served, token = fresh, fresh.as_channel.token
        await self._confirm(account_id, token)

    async def _handle(
        self,
        account_id: uuid.UUID,
        served: Served,
        updates: list[dict[str, Any]],
        stop: asyncio.Event,
    ) -> list[str]:
        done: list[str] = []
        for update in updates:
            try:
                done.extend(await self.receiver.receive(served, update))
            except NotAnUpdate as exc:
                log.warning("unreadable update skipped", extra={"detail": exc.detail})
            except Exception:
                # Not confirmed: the next call gets this update again.
                log.exception("update not handled; asking for it again")
                await _sleep(1.0, stop)
                break
            self.offsets[account_id] = int(update["update_id"]) + 1
        return done

    async def _confirm(self, account_id: uuid.UUID, token: str) -> None:
        """Tell Telegram what was handled (an offset is confirmed by the next call)."""
        offset = self.offsets.get(account_id)
        if offset is None:
            return
        with contextlib.suppress(ActionRefused, RetryLater):
            await self.telegram.get_updates(token, offset=offset, wait=0, limit=1)


async def _unless_stopped(call: Any, stop: asyncio.Event) -> list[dict[str, Any]] | None:
    """``call``'s answer, or None when ``stop`` is set first (the call is cancelled)."""
    task: asyncio.Task[list[dict[str, Any]]] = asyncio.ensure_future(call)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        stopped.cancel()
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


async def _sleep(seconds: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)

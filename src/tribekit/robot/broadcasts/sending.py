"""Step 3 of sending a broadcast's deliveries (``deliveries.py`` has the other steps and the
whole story): the claimed deliveries sent in waves of concurrent sends, each at the slot the
``Throttle`` booked for it under the channel's limits, outside any transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial

from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.errors import TribekitError
from tribekit.kit.throttle import Rate, Throttle
from tribekit.robot.channels import ActionRefused, Channel, DirectChats, RetryLater

from .deliveries import (
    BUDGET,
    HOLD_AT_MOST,
    MAX_ATTEMPTS,
    PACER_RETRY,
    WAVE_SIZE,
    WAVE_SPAN,
    WAVES_AT_ONCE,
    Claim,
    Result,
    backoff,
    bot_key,
    finish,
    mark_in_flight,
    rates,
    record,
    release,
)
from .states import DeliveryStatus

log = logging.getLogger(__name__)


class Sender:
    """Sends claimed deliveries: waves of concurrent sends, each at its booked slot."""

    def __init__(self, db: Database, channels: Mapping[str, Channel], throttle: Throttle) -> None:
        self.db = db
        self.channels = channels
        self.throttle = throttle
        #: Robot accounts a platform asked to wait, until when (loop time): a send booked
        #: before the platform said so waits too instead of drawing another refusal.
        self._paused: dict[str, float] = {}

    def _rates(self, claim: Claim) -> list[Rate]:
        found = self.channels.get(claim.channel)
        if found is None:
            return []
        chat = claim.chat_id or f"dm:{claim.person_id}"
        return rates(found.capabilities, claim.account.id, claim.channel, chat)

    async def send(self, claims: Sequence[Claim]) -> None:
        """Send every claim it can within ``BUDGET``; give the rest back; finish broadcasts.
        ``WAVES_AT_ONCE`` waves overlap, so that one's statements run during another's sends;
        a wave is booked only once it may start, so its slots are not spent waiting."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        queue = list(claims)
        gate = asyncio.Semaphore(WAVES_AT_ONCE)
        waves: set[asyncio.Task[None]] = set()
        back_in = timedelta(0)
        try:
            while queue:
                if loop.time() - started > BUDGET:
                    break
                await gate.acquire()
                wave, held, later = await self._book(queue)
                if later:
                    await self.db.run(partial(release, due=later))
                if wave:
                    task = asyncio.create_task(self._wave(wave))
                    task.add_done_callback(lambda _: gate.release())
                    waves.add(task)
                else:
                    gate.release()
                    if held:
                        await asyncio.sleep(min(held))
                done = {id(c) for c, _ in wave} | {id(c) for c, _ in later}
                queue = [c for c in queue if id(c) not in done]
        except TribekitError as exc:  # the pacer cannot be reached: try again a little later
            log.warning("broadcast sends paused", extra={"error": exc.detail})
            back_in = PACER_RETRY
        finally:
            for failed in await asyncio.gather(*waves, return_exceptions=True):
                if isinstance(failed, BaseException):
                    # Its deliveries come due again when the lease ends (or, if marked in
                    # flight, are failed as of unknown outcome): none is sent twice.
                    log.error("a broadcast wave failed", exc_info=failed)
            if queue:
                at = clock.now() + back_in
                await self.db.run(partial(release, due=[(c, at) for c in queue]))
            touched = sorted({c.broadcast_id for c in claims})
            await self.db.run(partial(finish, broadcast_ids=touched))

    async def _book(
        self, queue: Sequence[Claim]
    ) -> tuple[list[tuple[Claim, float]], list[float], list[tuple[Claim, datetime]]]:
        """The next wave (each claim with the loop time of its slot), the waits of claims held
        for a later wave, and claims given back until their slot."""
        loop = asyncio.get_running_loop()
        wave: list[tuple[Claim, float]] = []
        held: list[float] = []
        later: list[tuple[Claim, datetime]] = []
        for claim in queue[: WAVE_SIZE * 2]:
            if len(wave) >= WAVE_SIZE:
                break
            paused = self._paused.get(claim.account.id, 0.0) - loop.time()
            if paused > 0:  # booking now would spend a group's slot on a send that must wait
                if paused > HOLD_AT_MOST:
                    later.append((claim, clock.now() + timedelta(seconds=paused)))
                else:
                    held.append(paused)
                continue
            found = self._rates(claim)
            if not found:
                wave.append((claim, loop.time()))
                continue
            slot = await self.throttle.reserve(found, within=WAVE_SPAN)
            if slot.reserved:
                wave.append((claim, loop.time() + slot.wait))
            elif slot.wait > HOLD_AT_MOST:
                later.append((claim, clock.now() + timedelta(seconds=slot.wait)))
            else:
                held.append(slot.wait)
        return wave, held, later

    async def _wave(self, wave: Sequence[tuple[Claim, float]]) -> None:
        lease = wave[0][0].lease
        marked = await self.db.run(
            partial(mark_in_flight, ids=[c.id for c, _ in wave], lease=lease)
        )
        sending = [(c, at) for c, at in wave if marked.get(c.id) == DeliveryStatus.PENDING]
        results = await asyncio.gather(*(self._send_one(c, at) for c, at in sending))
        await self.db.run(partial(record, results=results))

    async def _send_one(self, claim: Claim, at: float) -> Result:
        """One send, outside any transaction. Never raises: the result says what happened."""
        loop = asyncio.get_running_loop()
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        paused = self._paused.get(claim.account.id, 0.0) - loop.time()
        if paused > 0:
            return Result(
                claim,
                DeliveryStatus.PENDING,
                clock.now() + timedelta(seconds=paused),
                "waiting: the platform asked the robot to slow down",
                chat_id=claim.chat_id,
                counted=False,
            )
        found = self.channels.get(claim.channel)
        chat = claim.chat_id
        try:
            if found is None:
                raise RetryLater(f"no {claim.channel!r} channel in this process")
            if chat is None:
                if not isinstance(found, DirectChats) or claim.person_id is None:
                    raise ActionRefused(f"the {claim.channel} channel sends no direct messages")
                chat = await found.direct_chat(claim.account, claim.person_id)
            done = await found.perform(claim.account, replace(claim.action, chat_id=chat))
        except RetryLater as exc:
            if exc.retry_after is not None:
                # The platform's word, exactly; and the robot's other sends wait as long.
                until = loop.time() + exc.retry_after
                self._paused[claim.account.id] = max(self._paused.get(claim.account.id, 0), until)
                try:
                    await self.throttle.pause(bot_key(claim.account.id), exc.retry_after)
                except Exception:  # the pacer unreachable: this outcome must still be kept
                    log.exception("could not pause the robot's sends")
                return self._again(claim, exc.detail, timedelta(seconds=exc.retry_after), chat)
            return self._again(claim, exc.detail, backoff(claim.attempt), chat)
        except ActionRefused as exc:
            return Result(claim, DeliveryStatus.FAILED, clock.now(), exc.detail, chat_id=chat)
        except TribekitError as exc:
            return self._again(claim, exc.detail, backoff(claim.attempt), chat)
        except Exception as exc:
            log.exception("broadcast delivery failed", extra={"delivery": str(claim.id)})
            error = f"unexpected error: {type(exc).__name__}"
            return self._again(claim, error, backoff(claim.attempt), chat)
        now = clock.now()
        return Result(
            claim, DeliveryStatus.SENT, now, message_id=done.message_id, chat_id=chat, sent_at=now
        )

    def _again(self, claim: Claim, error: str, wait: timedelta, chat: str | None) -> Result:
        now = clock.now()
        if claim.attempt >= MAX_ATTEMPTS:
            log.warning(
                "broadcast delivery failed for good",
                extra={"delivery": str(claim.id), "error": error},
            )
            return Result(claim, DeliveryStatus.FAILED, now, error, chat_id=chat)
        return Result(claim, DeliveryStatus.PENDING, now + wait, error or "failed", chat_id=chat)

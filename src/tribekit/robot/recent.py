"""Each member's recent posts, for the flood and duplicate rules: the moderation engine is pure
and is told the author's recent activity (``Recent``); this module remembers it.

``RecentPosts.remember`` adds one post (its time, its group, the engine's fingerprint of its
text) and answers the author's posts before it within the window, in one step:

* ``RedisRecentPosts`` (Redis configured): a sorted set per member, scored by time; one Lua call
  drops what left the window, reads the rest, adds this post and makes the key expire with the
  window. Atomic, so two messages at once in two processes each see the other in order.
* ``DatabaseRecentPosts`` (otherwise): the fingerprint is kept on the post's own
  ``robot_events`` row, and one indexed query reads the member's rows within the window. Shared
  by every process once PostgreSQL is configured; two messages of one member committed at the
  same instant may not see each other (the flood rule then counts one message less).

One of the two is chosen when the app starts (``build``); never a per-process memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tribekit.kit.errors import ServiceUnavailable
from tribekit.models.robot import RobotEvent

from .moderation.engine import Recent, RecentPost
from .moderation.fingerprint import Fingerprint, from_bytes, to_bytes

#: At most this many earlier posts are read back (the flood rule allows up to 1,000).
MAX_POSTS: Final = 1000


@dataclass(frozen=True, slots=True)
class Windows:
    """How far back each rule looks; None: the rule is off."""

    flood: timedelta | None
    duplicates: timedelta | None

    @property
    def longest(self) -> timedelta:
        return max(w for w in (self.flood, self.duplicates, timedelta(0)) if w is not None)


def recent_from(posts: list[RecentPost], group_id: str, at: datetime, windows: Windows) -> Recent:
    """What the engine is told: this group's post times within the flood window, and the posts
    with a fingerprint within the duplicate window."""
    times: tuple[datetime, ...] = ()
    if windows.flood is not None:
        since = at - windows.flood
        times = tuple(p.at for p in posts if p.group_id == group_id and since < p.at <= at)
    others: tuple[RecentPost, ...] = ()
    if windows.duplicates is not None:
        since = at - windows.duplicates
        others = tuple(p for p in posts if p.fingerprint and since <= p.at <= at)
    return Recent(message_times=times, posts=others)


class RecentPosts(Protocol):
    async def remember(
        self, session: AsyncSession, event: RobotEvent, post: RecentPost, windows: Windows
    ) -> Recent:
        """Remember ``post`` (the recorded ``event``'s, whose ``member_id`` is set) and answer
        its author's earlier posts within ``windows``."""
        ...


class DatabaseRecentPosts:
    async def remember(
        self, session: AsyncSession, event: RobotEvent, post: RecentPost, windows: Windows
    ) -> Recent:
        # Written with the event's row when the pipeline flushes it; an empty fingerprint
        # still marks a post (the flood rule counts it).
        event.fingerprint = to_bytes(post.fingerprint)
        rows = await session.execute(
            select(RobotEvent.community_id, RobotEvent.at, RobotEvent.fingerprint)
            .where(
                RobotEvent.merchant_id == event.merchant_id,
                RobotEvent.member_id == event.member_id,
                RobotEvent.at >= post.at - windows.longest,
                RobotEvent.fingerprint.is_not(None),
                RobotEvent.id != event.id,
            )
            .order_by(RobotEvent.at.desc())
            .limit(MAX_POSTS)
            .execution_options(autoflush=False)
        )
        posts = [
            RecentPost(str(community_id), _aware(at), from_bytes(fingerprint or b""))
            for community_id, at, fingerprint in rows
        ]
        return recent_from(posts, post.group_id, post.at, windows)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite hands back naive UTC


# KEYS[1]: the member's set. ARGV: this post's score (ms), the window's start (ms), the entry,
# the key's time to live (ms), how many earlier posts to read. Returns the earlier entries.
_REMEMBER_LUA: Final = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
local seen = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', ARGV[2], 'LIMIT', 0, ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return seen
"""


class RedisRecentPosts:
    def __init__(self, redis: Redis, prefix: str = "tribekit:recent:") -> None:
        self._prefix = prefix
        self._script = redis.register_script(_REMEMBER_LUA)

    async def remember(
        self, session: AsyncSession, event: RobotEvent, post: RecentPost, windows: Windows
    ) -> Recent:
        at_ms = int(post.at.timestamp() * 1000)
        window_ms = int(windows.longest.total_seconds() * 1000)
        # The event's id keeps two posts of one millisecond apart.
        entry = f"{at_ms}|{post.group_id}|{to_bytes(post.fingerprint).hex()}|{event.id}"
        key = f"{self._prefix}{event.merchant_id}:{event.member_id}"
        try:
            seen = await self._script(
                keys=[key], args=[at_ms, at_ms - window_ms, entry, window_ms + 1000, MAX_POSTS]
            )
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise ServiceUnavailable("the recent-posts store is unavailable; retry") from exc
        posts = [_post(raw.decode() if isinstance(raw, bytes) else raw) for raw in seen]
        return recent_from(posts, post.group_id, post.at, windows)


def _post(entry: str) -> RecentPost:
    at_ms, group_id, fingerprint, _ = entry.split("|", 3)
    return RecentPost(
        group_id, datetime.fromtimestamp(int(at_ms) / 1000, UTC), _fingerprint(fingerprint)
    )


def _fingerprint(hexed: str) -> Fingerprint:
    return from_bytes(bytes.fromhex(hexed))


def build(redis: Redis | None) -> RecentPosts:
    """The store the app uses: Redis when configured, the database otherwise."""
    return RedisRecentPosts(redis) if redis is not None else DatabaseRecentPosts()

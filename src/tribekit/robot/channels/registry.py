"""The explicit registry of chat channels: built once from the settings, looked up by name."""

from __future__ import annotations

from collections.abc import Mapping

from tribekit.kit.db import Database
from tribekit.kit.errors import ValidationFailed
from tribekit.kit.settings import Settings

from . import matrix, telegram, web
from .base import Capabilities, Channel
from .matrix import MatrixChannel
from .telegram import TelegramChannel
from .web import WebChannel

#: What each channel can do, by name, for code that decides without a channel at hand (the
#: pipeline: is there a button for the captcha; the actions: does a mute end by itself).
CAPABILITIES: dict[str, Capabilities] = {
    "telegram": telegram.CAPABILITIES,
    "matrix": matrix.CAPABILITIES,
    "web": web.CAPABILITIES,
}


class ChannelNotAvailable(ValidationFailed):
    code = "channel_not_available"
    title = "This chat channel is not available"


def build_channels(settings: Settings, db: Database) -> dict[str, Channel]:
    """Every channel this process talks to, by name. Build once and close with ``aclose``.
    The web channel keeps its groups in ``db``; the Matrix channel reads each robot account's
    homeserver there."""
    return {
        "telegram": TelegramChannel(settings.telegram_api_base),
        "matrix": MatrixChannel(),
        "web": WebChannel(db),
    }


def channel(channels: Mapping[str, Channel], name: str) -> Channel:
    """The channel called ``name``, or a 422 naming the ones there are."""
    found = channels.get(name)
    if found is None:
        known = ", ".join(repr(n) for n in sorted(channels))
        raise ChannelNotAvailable(f"no chat channel {name!r}; there are {known}", channel=name)
    return found


async def aclose(channels: Mapping[str, Channel]) -> None:
    """Release the channels' network connections (at shutdown)."""
    for item in channels.values():
        await item.aclose()

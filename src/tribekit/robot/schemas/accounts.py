"""API shapes of the robot's accounts (Telegram bots, Matrix users) and of the Telegram
webhook's answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from tribekit.kit.schemas import Input, Output
from tribekit.models.enums import Channel

Mode = Literal["webhook", "poll"]
#: A homeserver by its name (a real top-level domain), or on this machine. Tribekit calls the
#: URL a staff member types: an address by number elsewhere is refused, so the server is not
#: made to probe hosts of its own network.
HOMESERVER_URL = (
    r"^https?://(localhost|127\.0\.0\.1|\[::1\]|"
    r"([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
    r"(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
    r"(/[^\s?#]*)?$"
)


class TelegramBotIn(Input):
    """A Telegram bot to register: its token is checked with Telegram (``getMe``) first."""

    channel: Literal["telegram"] = "telegram"
    token: str = Field(
        min_length=10,
        max_length=200,
        pattern=r"^\d+:[A-Za-z0-9_-]+$",
        description="The bot's token from @BotFather; never shown again",
        examples=["123456789:AAE-your-bot-token"],
    )
    name: str | None = Field(
        default=None, min_length=1, max_length=100, description="Default: the bot's name"
    )
    mode: Mode = Field(
        default="webhook",
        description="webhook: Telegram calls this server (needs TRIBEKIT_PUBLIC_URL); poll: "
        "'tribekit robot poll' asks Telegram for updates",
    )


class MatrixRobotIn(Input):
    """A Matrix user to register as the robot: its access token is checked with the
    homeserver (``whoami``) first. It reads its rooms with ``tribekit robot poll``."""

    channel: Literal["matrix"]
    homeserver: str = Field(
        min_length=8,
        max_length=300,
        pattern=HOMESERVER_URL,
        description="The homeserver's client URL, as a Matrix client is given it: by name, or "
        "on this machine (localhost, 127.0.0.1, [::1]); never another address by number",
        examples=["https://matrix.example.org"],
    )
    token: str = Field(
        min_length=8,
        max_length=200,
        pattern=r"^[!-~]+$",
        description="The robot user's access token; never shown again",
        examples=["syt_cm9ib3Q_abcdefghijklmnop_0123ab"],
    )
    name: str | None = Field(
        default=None, min_length=1, max_length=100, description="Default: the user's localpart"
    )


def _channel_of(value: Any) -> str:
    """A body without ``channel`` registers a Telegram bot (as before Matrix was added)."""
    if isinstance(value, dict):
        return str(value.get("channel") or "telegram")
    return str(getattr(value, "channel", "telegram"))


#: What ``POST /robot/accounts`` takes: a Telegram bot, or a Matrix user (``channel``).
RobotAccountIn = Annotated[
    Annotated[TelegramBotIn, Tag("telegram")] | Annotated[MatrixRobotIn, Tag("matrix")],
    Discriminator(_channel_of),
]


class RobotAccountUpdate(Input):
    """Only the fields sent change."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    mode: Mode | None = None

    @model_validator(mode="after")
    def _not_null(self) -> RobotAccountUpdate:
        for name in ("name", "mode"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may be changed but not set to null")
        return self


class RobotAccountOut(Output):
    """A robot account. Its token and webhook secret are never shown."""

    id: uuid.UUID
    channel: Channel
    name: str
    username: str | None
    external_id: str | None = Field(description="The robot's own id on its channel")
    homeserver: str | None = Field(default=None, description="Matrix: the homeserver's URL")
    mode: Mode
    active: bool = Field(description="false: removed (its webhook is refused; its groups stay)")
    webhook_path: str = Field(description="The route Telegram posts this robot's updates to")
    created_at: datetime


class RobotAccountList(Output):
    items: list[RobotAccountOut]


class WebhookSet(Output):
    account_id: uuid.UUID
    url: str = Field(description="Where Telegram now posts the robot's updates")
    allowed_updates: list[str]


class WebhookAnswer(Output):
    """What the robot did with each event of the update ("duplicate": handled before)."""

    outcomes: list[str]

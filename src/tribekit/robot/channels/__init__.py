"""Chat channels: one Protocol (``base.py``), an explicit registry (``registry.py``), and an
adapter per platform."""

from .base import (
    ActionKind,
    ActionRefused,
    Button,
    Capabilities,
    Channel,
    DirectChats,
    EventKind,
    InboundEvent,
    MediaKind,
    OutboundAction,
    Performed,
    Person,
    RetryLater,
    RobotAccount,
)
from .registry import aclose, build_channels, channel

__all__ = [
    "ActionKind",
    "ActionRefused",
    "Button",
    "Capabilities",
    "Channel",
    "DirectChats",
    "EventKind",
    "InboundEvent",
    "MediaKind",
    "OutboundAction",
    "Performed",
    "Person",
    "RetryLater",
    "RobotAccount",
    "aclose",
    "build_channels",
    "channel",
]

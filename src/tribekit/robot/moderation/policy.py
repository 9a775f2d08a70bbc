"""The moderation policy: what each rule looks for and what it does. These models are the API
shapes of a merchant's policy and of a community's override (``PUT /robot/policies``).

A community's override is a ``Policy`` of which only the fields it sets count: ``merge`` lays
them over the merchant's policy, section by section (a list set by the override replaces the
merchant's list).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Field, model_validator

from tribekit.kit.schemas import CountryCode, Input


class Action(StrEnum):
    """What is done to a message and its author, from the mildest to the most severe. Every
    action but ``warn`` removes the message (``warn`` does too unless ``delete_message`` is
    off); ``warn`` and the ones above it post the rule's warning text."""

    delete = "delete"
    warn = "warn"
    mute = "mute"
    kick = "kick"
    ban = "ban"


SEVERITY: dict[Action, int] = {action: rank for rank, action in enumerate(Action)}


class RuleAction(Input):
    action: Action = Action.warn
    mute_minutes: int | None = Field(
        default=None, ge=1, le=525_600, description="How long a mute lasts; required for mute."
    )
    delete_message: bool = True
    strike: bool = Field(default=True, description="Whether a hit counts as a strike.")

    @model_validator(mode="after")
    def _mute_has_duration(self) -> RuleAction:
        if self.action is Action.mute and self.mute_minutes is None:
            raise ValueError("a mute needs mute_minutes, e.g. 60 for one hour")
        return self


def _domain(value: str) -> str:
    value = value.strip().lower()
    value = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value).removeprefix("www.").rstrip("/")
    host, _, _path = value.partition("/")
    if not re.fullmatch(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}", host):
        raise ValueError(
            "a domain such as greenwood-fruit.com, optionally with a path prefix such as "
            "t.me/greenwood_fruit"
        )
    return value


AllowedDomain = Annotated[str, Field(max_length=200), AfterValidator(_domain)]
Phrase = Annotated[str, Field(min_length=1, max_length=100)]


class LinksRule(Input):
    """Links in the text or in the message's entities. ``allow_listed`` lets the allowed
    domains through (a domain covers its subdomains; an entry may add a path prefix)."""

    enabled: bool = True
    mode: Literal["block_all", "allow_listed"] = "allow_listed"
    allowed_domains: list[AllowedDomain] = Field(default_factory=list, max_length=500)
    on_hit: RuleAction = Field(default_factory=RuleAction)


class InviteLinksRule(Input):
    """Links that join another group or channel: t.me (joinchat, +…, any name),
    telegram.me, matrix.to, chat.whatsapp.com, wa.me, WeChat group links (weixin.qq.com/g/…),
    QQ (qm.qq.com, jq.qq.com), Discord, LINE, Signal. Entries of ``links.allowed_domains``
    (e.g. t.me/greenwood_fruit) pass."""

    enabled: bool = True
    on_hit: RuleAction = Field(default_factory=RuleAction)


class PhoneRule(Input):
    """Phone numbers: mainland China mobile numbers however they are spaced, and numbers of
    any country written with "+" or valid for ``region`` (libphonenumber's matcher)."""

    enabled: bool = True
    region: CountryCode = "CN"
    on_hit: RuleAction = Field(default_factory=RuleAction)


class ContactHandleRule(Input):
    """Contact handles: a WeChat id ("vx: …", "微信 …", "加V …"), a QQ number ("QQ 12345678",
    "扣扣…"), a Telegram / WhatsApp / LINE id, "DM @someone"."""

    enabled: bool = True
    on_hit: RuleAction = Field(default_factory=RuleAction)


class BlocklistRule(Input):
    """Phrases matched on the normalised text (case, width, zero-width characters and
    separators between letters ignored). A Latin phrase matches whole words only; a Chinese
    phrase matches anywhere. ``allowed_phrases`` are phrases marked fine by staff: a
    blocklisted phrase inside one of them does not count."""

    enabled: bool = True
    use_defaults: bool = Field(
        default=True, description="Include the shipped lists (blocklists/default_*.txt)."
    )
    phrases: list[Phrase] = Field(default_factory=list, max_length=50_000)
    allowed_phrases: list[Phrase] = Field(default_factory=list, max_length=5_000)
    on_hit: RuleAction = Field(default_factory=RuleAction)


class FloodRule(Input):
    """More than ``max_messages`` messages from one member in one group within
    ``per_seconds``."""

    enabled: bool = True
    max_messages: int = Field(default=5, ge=1, le=1000)
    per_seconds: int = Field(default=10, ge=1, le=86_400)
    on_hit: RuleAction = Field(
        default_factory=lambda: RuleAction(action=Action.mute, mute_minutes=10, strike=False)
    )


class DuplicateRule(Input):
    """The same or nearly the same text from one member in ``min_groups`` groups (this one
    included) within ``within_minutes``. Texts shorter than ``min_length`` characters once
    normalised ("ok", "thanks") never count."""

    enabled: bool = True
    min_groups: int = Field(default=3, ge=2, le=1000)
    within_minutes: int = Field(default=10, ge=1, le=10_080)
    similarity: float = Field(default=0.7, gt=0, le=1, description="Estimated Jaccard of shingles")
    min_length: int = Field(default=12, ge=1, le=1000)
    on_hit: RuleAction = Field(default_factory=lambda: RuleAction(action=Action.delete))


class ChannelForwardRule(Input):
    """Messages forwarded from a channel."""

    enabled: bool = True
    on_hit: RuleAction = Field(default_factory=lambda: RuleAction(action=Action.delete))


MediaKind = Literal["photo", "video", "audio", "voice", "document", "sticker", "animation", "other"]


_PROBATION_MEDIA: tuple[MediaKind, ...] = ("photo", "video", "document", "animation", "other")


class ProbationRule(Input):
    """New members: no links (other than allowed domains) and no media until they have been a
    member for ``hours`` and have posted ``messages`` messages (0 turns a condition off)."""

    enabled: bool = True
    hours: int = Field(default=24, ge=0, le=8760)
    messages: int = Field(default=3, ge=0, le=10_000)
    block_links: bool = True
    block_media: list[MediaKind] = Field(default_factory=lambda: list(_PROBATION_MEDIA))
    block_mentions: bool = False
    on_hit: RuleAction = Field(default_factory=lambda: RuleAction(action=Action.delete))


class CaptchaRule(Input):
    """The join captcha: a member who joins gets the welcome with an "I'm not a robot" button
    and may not post until they press it (their messages are removed quietly); one who has not
    pressed it within ``minutes`` is removed from the group. Exempt members (e.g. admins) are
    not asked."""

    enabled: bool = False
    minutes: int = Field(default=5, ge=1, le=1440)


class Exemptions(Input):
    """Who is never moderated. The pipeline applies these (``is_exempt``) and tells the engine
    whether the author is exempt."""

    admins: bool = True
    leaders: bool = True
    member_ids: list[UUID] = Field(default_factory=list, max_length=10_000)


class EscalationStep(Input):
    strikes: int = Field(ge=1, le=100, description="The strike count that triggers this step")
    action: Action
    mute_minutes: int | None = Field(default=None, ge=1, le=525_600)

    @model_validator(mode="after")
    def _mute_has_duration(self) -> EscalationStep:
        if self.action is Action.mute and self.mute_minutes is None:
            raise ValueError("a mute needs mute_minutes, e.g. 60 for one hour")
        return self


def _default_steps() -> list[EscalationStep]:
    return [
        EscalationStep(strikes=2, action=Action.mute, mute_minutes=60),
        EscalationStep(strikes=3, action=Action.ban),
    ]


class Strikes(Input):
    """Strikes per member per merchant within ``window_days``: the step with the highest
    ``strikes`` reached sets the least severe action taken (a rule's own action may be more
    severe)."""

    enabled: bool = True
    window_days: int = Field(default=7, ge=1, le=365)
    steps: list[EscalationStep] = Field(default_factory=_default_steps, max_length=20)

    @model_validator(mode="after")
    def _distinct(self) -> Strikes:
        counts = [step.strikes for step in self.steps]
        if len(set(counts)) != len(counts):
            raise ValueError("two escalation steps have the same strikes count")
        return self


class Policy(Input):
    """A merchant's moderation policy (or, as an override, the part a community changes)."""

    links: LinksRule = Field(default_factory=LinksRule)
    invite_links: InviteLinksRule = Field(default_factory=InviteLinksRule)
    phones: PhoneRule = Field(default_factory=PhoneRule)
    contact_handles: ContactHandleRule = Field(default_factory=ContactHandleRule)
    blocklist: BlocklistRule = Field(default_factory=BlocklistRule)
    flood: FloodRule = Field(default_factory=FloodRule)
    duplicates: DuplicateRule = Field(default_factory=DuplicateRule)
    channel_forwards: ChannelForwardRule = Field(default_factory=ChannelForwardRule)
    probation: ProbationRule = Field(default_factory=ProbationRule)
    captcha: CaptchaRule = Field(default_factory=CaptchaRule)
    exemptions: Exemptions = Field(default_factory=Exemptions)
    strikes: Strikes = Field(default_factory=Strikes)


def _set_fields(model: BaseModel) -> dict[str, Any]:
    """The fields a caller set, nested models included (``model_fields_set`` at each level)."""
    out: dict[str, Any] = {}
    for name in model.model_fields_set:
        value = getattr(model, name)
        out[name] = _set_fields(value) if isinstance(value, BaseModel) else value
    return out


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merge(base: Policy, override: Policy | None) -> Policy:
    """``base`` with the fields ``override`` sets laid over it."""
    if override is None:
        return base
    data = _deep_merge(base.model_dump(), _set_fields(override))
    return Policy.model_validate(data)


def is_exempt(exemptions: Exemptions, *, admin: bool, leader: bool, member_id: UUID | None) -> bool:
    return (
        (exemptions.admins and admin)
        or (exemptions.leaders and leader)
        or (member_id is not None and member_id in exemptions.member_ids)
    )

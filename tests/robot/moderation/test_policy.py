"""The policy models (the API shapes): validation, a community override laid over the
merchant's policy, exemptions."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from tribekit.robot.moderation import Action, Policy, is_exempt, merge
from tribekit.robot.moderation.policy import Exemptions


def test_defaults() -> None:
    policy = Policy()
    assert policy.links.mode == "allow_listed"
    assert policy.links.on_hit.action is Action.warn
    assert (policy.flood.max_messages, policy.flood.per_seconds) == (5, 10)
    assert (policy.flood.on_hit.action, policy.flood.on_hit.mute_minutes) == (Action.mute, 10)
    assert (policy.duplicates.min_groups, policy.duplicates.within_minutes) == (3, 10)
    assert (policy.probation.hours, policy.probation.messages) == (24, 3)
    assert [(s.strikes, s.action, s.mute_minutes) for s in policy.strikes.steps] == [
        (2, Action.mute, 60),
        (3, Action.ban, None),
    ]
    assert policy.strikes.window_days == 7


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"blocklist": {"on_hit": {"action": "mute"}}}, "a mute needs mute_minutes"),
        ({"links": {"allowed_domains": ["not a domain"]}}, "a domain such as"),
        ({"links": {"mode": "some"}}, "block_all"),
        ({"strikes": {"steps": [{"strikes": 2, "action": "ban"}, {"strikes": 2, "action": "kick"}]}},  # noqa: E501
         "two escalation steps have the same strikes count"),
        ({"flood": {"max_messages": 0}}, "greater than or equal to 1"),
        ({"linkz": {}}, "Extra inputs are not permitted"),
        ({"blocklist": {"phrases": ["ok", "a\x00b"]}}, "NUL"),
    ],
)  # fmt: skip
def test_invalid_policies_say_what_to_fix(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Policy.model_validate(data)


def test_allowed_domains_are_normalised() -> None:
    policy = Policy.model_validate(
        {"links": {"allowed_domains": ["https://WWW.GreenwoodFruit.com/", "t.me/greenwood_fruit"]}}
    )
    assert policy.links.allowed_domains == ["greenwoodfruit.com", "t.me/greenwood_fruit"]


def test_an_override_changes_only_what_it_sets() -> None:
    merchant = Policy.model_validate(
        {
            "links": {"allowed_domains": ["greenwoodfruit.com"]},
            "blocklist": {"phrases": ["durian king"]},
            "flood": {"max_messages": 8},
        }
    )
    override = Policy.model_validate(
        {
            "links": {"mode": "block_all"},
            "flood": {"on_hit": {"action": "kick"}},
            "phones": {"enabled": False},
        }
    )
    merged = merge(merchant, override)
    assert merged.links.mode == "block_all"
    assert merged.links.allowed_domains == ["greenwoodfruit.com"]  # kept
    assert merged.blocklist.phrases == ["durian king"]
    assert merged.flood.max_messages == 8
    assert merged.flood.on_hit.action is Action.kick
    assert merged.flood.on_hit.mute_minutes == 10  # the rest of on_hit kept
    assert merged.phones.enabled is False
    # A list the override sets replaces the merchant's.
    replaced = merge(merchant, Policy.model_validate({"blocklist": {"phrases": ["x"]}}))
    assert replaced.blocklist.phrases == ["x"]
    assert merge(merchant, None) is merchant
    assert merge(merchant, Policy()) == merchant  # an empty override changes nothing


def test_exemptions() -> None:
    member = uuid.uuid4()
    rules = Exemptions(admins=True, leaders=False, member_ids=[member])
    assert is_exempt(rules, admin=True, leader=False, member_id=None)
    assert not is_exempt(rules, admin=False, leader=True, member_id=uuid.uuid4())
    assert is_exempt(rules, admin=False, leader=False, member_id=member)
    assert not is_exempt(Exemptions(admins=False), admin=True, leader=False, member_id=None)

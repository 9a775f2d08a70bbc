"""Strike escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tribekit.robot.moderation import Action, Escalation, escalate
from tribekit.robot.moderation.policy import Strikes

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
DEFAULT = Strikes()  # 2 strikes in 7 days: mute 60 minutes; 3: ban


def days_ago(*days: float) -> list[datetime]:
    return [NOW - timedelta(days=d) for d in days]


def test_the_first_strike_keeps_the_rules_action() -> None:
    assert escalate(Action.warn, None, [], NOW, DEFAULT) == Escalation(Action.warn, None, 1)


def test_the_second_strike_mutes_the_third_bans() -> None:
    assert escalate(Action.warn, None, days_ago(1), NOW, DEFAULT) == Escalation(
        Action.mute, timedelta(minutes=60), 2
    )
    assert escalate(Action.warn, None, days_ago(1, 6.9), NOW, DEFAULT) == Escalation(
        Action.ban, None, 3
    )
    assert escalate(Action.delete, None, days_ago(1, 2, 3, 4), NOW, DEFAULT).action is Action.ban


def test_strikes_outside_the_window_or_in_the_future_do_not_count() -> None:
    assert escalate(Action.warn, None, days_ago(7, 8), NOW, DEFAULT) == Escalation(
        Action.warn, None, 1
    )
    assert escalate(Action.warn, None, days_ago(-1), NOW, DEFAULT).strikes == 1


def test_a_more_severe_rule_action_is_kept() -> None:
    assert escalate(Action.kick, None, days_ago(1), NOW, DEFAULT) == Escalation(
        Action.kick, None, 2
    )


def test_two_mutes_give_the_longer() -> None:
    five = timedelta(minutes=5)
    assert escalate(Action.mute, five, days_ago(1), NOW, DEFAULT).mute_for == timedelta(hours=1)
    day = timedelta(days=1)
    assert escalate(Action.mute, day, days_ago(1), NOW, DEFAULT).mute_for == day


def test_escalation_off_or_custom() -> None:
    off = Strikes(enabled=False)
    assert escalate(Action.warn, None, days_ago(1, 2, 3), NOW, off) == Escalation(
        Action.warn, None, 4
    )
    custom = Strikes.model_validate(
        {"window_days": 30, "steps": [{"strikes": 5, "action": "kick"}]}
    )
    assert escalate(Action.warn, None, days_ago(1, 2, 3), NOW, custom).action is Action.warn
    assert escalate(Action.warn, None, days_ago(1, 2, 3, 29), NOW, custom) == Escalation(
        Action.kick, None, 5
    )

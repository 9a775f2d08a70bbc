"""Strike escalation, pure: from a member's past strikes and the policy, what happens now."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .policy import SEVERITY, Action, Strikes


@dataclass(frozen=True, slots=True)
class Escalation:
    action: Action
    mute_for: timedelta | None
    strikes: int  # the member's strikes within the window, this one included


def escalate(
    action: Action,
    mute_for: timedelta | None,
    past_strikes: Sequence[datetime],
    now: datetime,
    config: Strikes,
) -> Escalation:
    """The action for a new strike: the rule's ``action`` or the escalation step reached by
    the strikes within the window (this one included), whichever is more severe. ``past_strikes``
    are the times of the member's earlier strikes (any order, older ones ignored)."""
    since = now - timedelta(days=config.window_days)
    count = 1 + sum(1 for at in past_strikes if since < at <= now)
    if not config.enabled:
        return Escalation(action, mute_for, count)
    reached = [step for step in config.steps if step.strikes <= count]
    if not reached:
        return Escalation(action, mute_for, count)
    step = max(reached, key=lambda s: s.strikes)
    if SEVERITY[step.action] > SEVERITY[action]:
        step_mute = timedelta(minutes=step.mute_minutes) if step.mute_minutes else None
        return Escalation(step.action, step_mute, count)
    if step.action is Action.mute and action is Action.mute and step.mute_minutes:
        # Both mute: the longer mute.
        step_mute = timedelta(minutes=step.mute_minutes)
        return Escalation(action, max(step_mute, mute_for or step_mute), count)
    return Escalation(action, mute_for, count)

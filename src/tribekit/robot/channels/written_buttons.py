"""Buttons written out as text, for a channel that cannot show buttons (Matrix): the Matrix
channel sends a message this way, and a broadcast's preview shows it the same."""

from __future__ import annotations

from .base import Button

#: The line under numbered choices.
CHOICE_HINT = "(reply to this message with a number to choose)"


def write_out(text: str, rows: tuple[tuple[Button, ...], ...]) -> str:
    """The text with its buttons written out: data buttons as numbered choices, links as
    "label: url"."""
    if not rows:
        return text
    lines: list[str] = []
    number = 0
    for row in rows:
        for button in row:
            if button.data is not None:
                number += 1
                lines.append(f"{number}. {button.text}")
            elif button.url:
                lines.append(f"{button.text}: {button.url}")
    if number:
        lines.append(CHOICE_HINT)
    return f"{text}\n\n" + "\n".join(lines) if text else "\n".join(lines)

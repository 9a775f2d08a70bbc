"""What a broadcast (or a scheduled post) says: a text per language, rows of buttons, an image.

Kept as JSON on ``broadcasts.content`` and ``post_schedules.content``, in one shape::

    {"texts": {"en": "...", "zh-CN": "..."},
     "buttons": [[{"text": "...", "url": "https://..." | null, "data": null | "..."}]],
     "image_url": null | "https://..."}

``check_content`` refuses what no channel of the audience could carry (a language the robot
does not speak, no text at all, a text longer than a channel takes); ``for_language`` picks the
text a target reads: its own language's, else the first one given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tribekit.kit.errors import FieldProblem, ValidationFailed
from tribekit.robot.channels import ActionKind, Button, Capabilities, OutboundAction
from tribekit.robot.texts import LANGUAGES

MAX_BUTTON_TEXT = 64
MAX_BUTTON_DATA = 64  # bytes: Telegram's callback_data
MAX_ROWS = 8
MAX_PER_ROW = 8
MAX_URL = 2048
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


class UnknownLanguage(ValidationFailed):
    code = "unknown_language"
    title = "The robot does not speak this language"


class NoText(ValidationFailed):
    code = "no_text"
    title = "The message has no text"


class TextTooLong(ValidationFailed):
    code = "text_too_long"
    title = "The text is longer than a channel allows"


class BadButton(ValidationFailed):
    code = "bad_button"
    title = "A button cannot be sent"


class BadImage(ValidationFailed):
    code = "bad_image"
    title = "The image cannot be sent"


@dataclass(frozen=True)
class Content:
    texts: Mapping[str, str]  # language -> text, in the order given
    buttons: tuple[tuple[Button, ...], ...] = ()
    image_url: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Content:
        return cls(
            texts=dict(data.get("texts") or {}),
            buttons=tuple(
                tuple(Button(text=b["text"], data=b.get("data"), url=b.get("url")) for b in row)
                for row in data.get("buttons") or ()
            ),
            image_url=data.get("image_url"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "texts": dict(self.texts),
            "buttons": [
                [{"text": b.text, "url": b.url, "data": b.data} for b in row]
                for row in self.buttons
            ],
            "image_url": self.image_url,
        }

    def for_language(self, language: str) -> tuple[str, str]:
        """(the language read, its text): ``language``'s own, else the first text given."""
        if language in self.texts:
            return language, self.texts[language]
        first = next(iter(self.texts))
        return first, self.texts[first]

    @property
    def first_language(self) -> str:
        return next(iter(self.texts))


def _problem(loc: tuple[str | int, ...], message: str, error: type[ValidationFailed]) -> None:
    raise error(
        f"{'.'.join(str(p) for p in loc)}: {message}",
        errors=[FieldProblem(("body", "content", *loc), message, error.code)],
    )


def check_content(content: Content, channels: Mapping[str, Capabilities]) -> None:
    """Refuse what the audience's ``channels`` (name -> what each can do) could not carry."""
    if not any(text.strip() for text in content.texts.values()):
        _problem(("texts",), "give a text in at least one language (en or zh-CN)", NoText)
    for language, text in content.texts.items():
        if language not in LANGUAGES:
            known = ", ".join(LANGUAGES)
            _problem(("texts", language), f"unknown language; use one of {known}", UnknownLanguage)
        if not text.strip():
            _problem(("texts", language), "the text is empty; leave the language out", NoText)
    _check_buttons(content.buttons)
    if content.image_url is not None and (
        len(content.image_url) > MAX_URL or not _URL.match(content.image_url)
    ):
        _problem(("image_url",), "give the image as an http(s) URL", BadImage)
    for name, capabilities in sorted(channels.items()):
        limit = capabilities.max_text
        what = "text"
        if content.image_url is not None and capabilities.max_caption is not None:
            limit, what = min(limit, capabilities.max_caption), "caption of a photo"
        for language, text in content.texts.items():
            if len(text) > limit:
                _problem(
                    ("texts", language),
                    f"{len(text)} characters; a {what} on {name} holds at most {limit}",
                    TextTooLong,
                )


def _check_buttons(rows: Iterable[tuple[Button, ...]]) -> None:
    rows = list(rows)
    if len(rows) > MAX_ROWS:
        _problem(("buttons",), f"at most {MAX_ROWS} rows of buttons", BadButton)
    for r, row in enumerate(rows):
        if not row or len(row) > MAX_PER_ROW:
            _problem(("buttons", r), f"a row holds 1 to {MAX_PER_ROW} buttons", BadButton)
        for b, button in enumerate(row):
            loc: tuple[str | int, ...] = ("buttons", r, b)
            if not button.text.strip() or len(button.text) > MAX_BUTTON_TEXT:
                _problem(loc, f"a button's text is 1 to {MAX_BUTTON_TEXT} characters", BadButton)
            if (button.url is None) == (button.data is None):
                _problem(loc, "a button has either a url or data, not both", BadButton)
            if button.url is not None and (len(button.url) > MAX_URL or not _URL.match(button.url)):
                _problem(loc, "a button's url is an http(s) URL", BadButton)
            if button.data is not None and not 1 <= len(button.data.encode()) <= MAX_BUTTON_DATA:
                _problem(loc, f"a button's data is 1 to {MAX_BUTTON_DATA} bytes", BadButton)


def action_for(content: Content, language: str, capabilities: Capabilities) -> OutboundAction:
    """The send a target in ``language`` gets on a channel that can do ``capabilities``
    (its chat filled in by the sender). A channel without buttons gets the links written
    under the text ("label: url"); a button that only answers the robot has no place there."""
    _, text = content.for_language(language)
    buttons = content.buttons
    if buttons and not capabilities.can_buttons:
        links = [f"{b.text}: {b.url}" for row in buttons for b in row if b.url]
        if links:
            text = f"{text}\n\n" + "\n".join(links)
        buttons = ()
    return OutboundAction(
        ActionKind.SEND, chat_id="", text=text, buttons=buttons, image_url=content.image_url
    )

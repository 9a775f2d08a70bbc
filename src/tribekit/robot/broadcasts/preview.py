"""A broadcast's message as each channel will show it, before anything is sent.

* **telegram**: a text message (at most 4096 characters), or with an image a photo whose
  caption is the text (at most 1024); buttons as an inline keyboard under it;
* **matrix**: one text event: the text, then the buttons written out under it (a link as
  "label: url", a button that answers the robot as a numbered choice, the member replying with
  its number), as the Matrix channel sends it; an image as its own event first;
* **web**: the web community's message: the image's URL on the first line, then the text, the
  links under it (a web message has no buttons);
* any other channel: the text and the buttons as given.

Each language given is shown; ``problem`` says why a channel could not carry it (too long).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tribekit.robot.channels import Button, Capabilities
from tribekit.robot.channels.written_buttons import write_out

from .content import Content, action_for

#: What the Matrix channel writes under a text with numbered choices.


@dataclass(frozen=True)
class Rendered:
    channel: str
    language: str
    kind: str  # "text" | "photo"
    text: str
    image_url: str | None
    buttons: tuple[tuple[Button, ...], ...]
    limit: int
    problem: str | None


def _render(name: str, capabilities: Capabilities, content: Content, language: str) -> Rendered:
    action = action_for(content, language, capabilities)
    text, buttons, image = action.text, action.buttons, action.image_url
    kind = "photo" if image else "text"
    limit = (capabilities.max_caption if image else None) or capabilities.max_text
    if name == "matrix":
        text, buttons = write_out(text, buttons), ()
    elif name == "web":
        text = f"{image}\n{text}" if image else text
        kind, limit = "text", capabilities.max_text
    problem = None
    length = len(action.text if name != "web" else text)
    if length > limit:
        what = "a photo's caption" if kind == "photo" else "a message"
        problem = f"{length} characters; {what} on {name} holds at most {limit}"
    return Rendered(name, language, kind, text, image, buttons, limit, problem)


def preview(content: Content, channels: Mapping[str, Capabilities]) -> list[Rendered]:
    """The message on each channel (name -> what it can do), in each language given."""
    return [
        _render(name, capabilities, content, language)
        for name, capabilities in sorted(channels.items())
        for language in content.texts
    ]

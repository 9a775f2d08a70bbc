"""The announcements' texts: the moments of each kind of campaign, the values a text may name,
the default texts (English, translated by the ``campaigns`` catalog:
``locale/<locale>/LC_MESSAGES/campaigns.po``), and staff's texts checked and filled in safely."""

from __future__ import annotations

import io
import string
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any, Literal

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from tribekit.kit.errors import FieldProblem, ValidationFailed
from tribekit.robot.texts import LANGUAGES, LOCALES

Moment = Literal["before", "start", "sold_out", "result"]
MOMENTS: Mapping[str, tuple[Moment, ...]] = {
    "flash_sale": ("before", "start", "sold_out"),
    "group_buy": ("before", "start", "result"),
    "promotion_day": ("before", "start"),
}
#: The values a text may name, by kind.
FIELDS: Mapping[str, frozenset[str]] = {
    "flash_sale": frozenset(
        {"name", "product", "price", "regular_price", "quantity", "limit", "starts", "ends"}
        | {"minutes"}
    ),
    "group_buy": frozenset(
        {"name", "product", "tiers", "lowest_price", "max_size", "starts", "deadline"}
        | {"minutes", "results"}
    ),
    "promotion_day": frozenset({"name", "multiplier", "starts", "ends", "minutes"}),
}
TEXT_MAX = 1000
DOMAIN = "campaigns"


class AnnouncementsInvalid(ValidationFailed):
    code = "announcements_invalid"
    title = "The announcement texts cannot be posted"


def N_(message: str) -> str:  # Babel's name for "extract, translate later"
    return message


TEXTS: Mapping[str, str] = {
    "flash_sale.before": N_(
        "{name}: {product} at {price} instead of {regular_price}, only {quantity}, at most "
        "{limit} each. Starts at {starts}, in {minutes} minutes!"
    ),
    "flash_sale.start": N_(
        "{name} has started: {product} at {price}, only {quantity}, at most {limit} each, "
        "until {ends}. Tap to buy!"
    ),
    "flash_sale.sold_out": N_("{name}: sold out! Thank you all; the next one is announced here."),
    "flash_sale.button": N_("Buy now"),
    "group_buy.before": N_(
        "{name}: {product} as a group buy from {starts}, priced by your team's size: {tiers}. "
        "Starts in {minutes} minutes!"
    ),
    "group_buy.start": N_(
        "{name} is open: {product}, priced by your team's size: {tiers}. Join or start a team "
        "before {deadline}!"
    ),
    "group_buy.result": N_("{name} has closed. {results}"),
    "group_buy.button": N_("Join the group buy"),
    "group_buy.plus_one": N_("+1 Join"),
    "group_buy.tier": N_("{size} people {price} each"),
    "group_buy.team_reached": N_(
        "Team {code}: {size} joined, the {tier}-people tier, {price} each."
    ),
    "group_buy.team_short": N_(
        "Team {code}: {size} joined, short of {minimum}; everyone is refunded in full."
    ),
    "group_buy.more_teams": N_("And {count} more teams."),
    "group_buy.no_team": N_("No team was formed."),
}

# -- the texts ------------------------------------------------------------------------------------


@cache
def translations(language: str) -> NullTranslations:
    """The campaigns catalog for ``language``; English (the msgids) for any other."""
    locale = LOCALES.get(language)
    if locale is None:
        return NullTranslations()
    source = resources.files("tribekit") / "locale" / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    with source.open("rb") as handle:
        catalog = read_po(handle, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def default_text(key: str, language: str) -> str:
    return translations(language).gettext(TEXTS[key])


def fill(text: str, values: Mapping[str, str]) -> str:
    """``text`` with the values it names filled in. Only a bare name is filled (no attribute,
    index or format spec: staff write these texts); anything else, or a brace that names
    nothing, is left as written."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError:
        return text
    out = []
    for literal, name, spec, conversion in parts:
        out.append(literal)
        if name is None:
            continue
        if name in values and not spec and not conversion:
            out.append(values[name])
        else:
            out.append(
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
    return "".join(out)


def _names(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return {"{"}


def _bad(path: Sequence[str], message: str) -> AnnouncementsInvalid:
    return AnnouncementsInvalid(
        f"{'.'.join(path)}: {message}",
        errors=[FieldProblem(("body", *path), message, AnnouncementsInvalid.code)],
    )


def check_texts(announcements: Mapping[str, Any], kind: str) -> dict[str, dict[str, str]]:
    """The texts, validated for a campaign of ``kind``: known moments, known languages, 1 to
    ``TEXT_MAX`` characters, only known ``{values}``. A 422 naming the text otherwise."""
    moments = MOMENTS[kind]
    checked: dict[str, dict[str, str]] = {}
    for moment, texts in announcements.items():
        where = ["announcements", str(moment)]
        if moment not in moments:
            raise _bad(where, f"a {kind} is announced {', '.join(moments)}")
        if not isinstance(texts, Mapping) or not texts:
            raise _bad(where, "texts by language, e.g. {'en': '...', 'zh-CN': '...'}")
        checked[moment] = {}
        for language, text in texts.items():
            if language not in LANGUAGES:
                raise _bad([*where, str(language)], f"a language of {', '.join(LANGUAGES)}")
            if not isinstance(text, str) or not 1 <= len(text.strip()) <= TEXT_MAX:
                raise _bad([*where, language], f"1 to {TEXT_MAX} characters")
            unknown = sorted(_names(text) - FIELDS[kind])
            if unknown:
                known = ", ".join(f"{{{n}}}" for n in sorted(FIELDS[kind]))
                raise _bad(
                    [*where, language],
                    f"{{{unknown[0]}}} is not a value of a {kind}; use {known} (or write "
                    "a brace twice: {{ }})",
                )
            checked[moment][language] = text.strip()
    return checked

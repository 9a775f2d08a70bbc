"""The web pages' languages (en, zh-CN), from Babel message catalogs.

The catalogs are ``tribekit/locale/<locale>/LC_MESSAGES/messages.po``, extracted from the
templates and this package with ``babel.cfg`` (see docs/web-community.md). They are compiled
in memory when first used, so the package ships only the ``.po`` text and needs no build step.
English is the source language: a message missing from a catalog shows in English.
"""

from __future__ import annotations

import io
from functools import cache
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

#: The languages a community may have, and the catalog each reads.
LOCALES = {"en": None, "zh-CN": "zh_CN"}


@cache
def translations(language: str) -> NullTranslations:
    """The translations of ``language`` (a community's ``en`` or ``zh-CN``); English for any
    other."""
    locale = LOCALES.get(language)
    if locale is None:
        return NullTranslations()
    source = resources.files("tribekit") / "locale" / locale / "LC_MESSAGES" / "messages.po"
    with source.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def html_lang(language: str) -> str:
    return language if language in LOCALES else "en"


def N_(message: str) -> str:  # Babel's name for "extract, translate later"
    return message


#: What members and staff read from the service's refusals, so the pages show them translated
#: (a message not listed shows as written).
REFUSALS = (
    N_("write a message before sending"),
    N_("you are banned from this group and cannot post"),
    N_("you are banned from this group"),
    N_("you were removed from this group; open a new link from the shop"),
    N_("you are muted in this group and cannot post"),
    N_("staff moderate the web community; members post in it"),
    N_("open the link the shop sent you to join this group"),
    N_("the member link is not valid; ask for a new link"),
    N_("the member link has expired; ask for a new link"),
    N_("this member is blocked by the merchant"),
    N_("the form's security token is missing; reload the page and try again"),
    N_("the form's security token is not valid; reload the page and try again"),
    N_("only the merchant's staff and the group's leaders moderate it"),
    N_("Not found"),
    N_("Permission denied"),
    N_("Authentication required"),
    N_("Too many requests"),
    N_("Validation failed"),
    N_("You may not post in this group"),
    N_("The form's security token is missing or wrong"),
)

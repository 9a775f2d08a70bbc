"""What the robot says, in each group's language (en, zh-CN), from the Babel catalogs of the
``robot`` domain: ``tribekit/locale/<locale>/LC_MESSAGES/robot.po``, English as the msgid.

Callers name a text by a stable key (the moderation engine names a rule's warning
``moderation.rule.<rule>``); ``TEXTS`` maps each key to its English source, which the catalog
translates. Like the web's catalogs, the ``.po`` is compiled in memory when first read: the
package ships the text alone. Values are filled in after translation (``{name}``).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import cache
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = ("en", "zh-CN")
#: The catalog each language reads (English is the source: no catalog).
LOCALES: Mapping[str, str | None] = {"en": None, "zh-CN": "zh_CN"}
DOMAIN = "robot"


def N_(message: str) -> str:  # Babel's name for "extract, translate later"
    return message


TEXTS: Mapping[str, str] = {
    # moderation: the robot's warnings, one per rule
    "moderation.rule.invite_link": N_("{name}, links to other groups are not allowed here."),
    "moderation.rule.links": N_("{name}, links are not allowed here."),
    "moderation.rule.phone": N_("{name}, please do not post phone numbers in the group."),
    "moderation.rule.contact_handle": N_(
        "{name}, please do not post contact handles in the group."
    ),
    "moderation.rule.blocklist": N_("{name}, that message breaks the group's rules."),
    "moderation.rule.flood": N_("{name}, please slow down."),
    "moderation.rule.duplicate": N_("{name}, the same message in several groups is not allowed."),
    "moderation.rule.channel_forward": N_("{name}, forwards from channels are not allowed here."),
    "moderation.rule.probation": N_("{name}, new members may not post links or media yet."),
    "moderation.muted": N_("{name} is muted for {minutes} minutes."),
    "moderation.banned": N_("{name} is removed from the shop's groups."),
    "moderation.strikes": N_("Warning {count}."),
    # the join captcha
    "captcha.button": N_("I'm not a robot"),
    "captcha.prompt": N_(
        "{name}, please press the button below within {minutes} minutes to show you are not "
        "a robot. Until then your messages are removed."
    ),
    "captcha.solved": N_("Thank you, welcome!"),
    # member commands
    "command.start": N_("Welcome! Send /help to see what I can do."),
    "command.rules.none": N_("This group has no written rules yet."),
    "command.me": N_("Your level: {level}. Your points: {points}."),
    "command.me.no_level": N_("no level"),
    "command.me.card": N_("Your member card: {url}"),
    "command.orders.none": N_("You have no orders yet."),
    "command.orders.latest": N_("Your latest orders:"),
    "sales.title": N_("On sale now:"),
    "sales.none": N_("Nothing is on sale right now. Watch this group for the next one!"),
    "sales.flash": N_("⚡ {name}: {price}, {left} left, until {ends}"),
    "sales.flash.sold_out": N_("⚡ {name}: {price}, sold out"),
    "sales.group_buy": N_("👥 {name}: {tiers}; until {ends}. Reply +1 to the announcement to join"),
    "sales.tier": N_("{size} people {price} each"),
    "group_buy.joined": N_(
        "You are in the team for {name} ({seats}/{max}), {price} each for now. "
        "Pay and invite friends here: {url}"
    ),
    "group_buy.already": N_("You are in a team for {name} already: {url}"),
    "group_buy.by_address": N_(
        "{name} is grouped by delivery address: join with yours here: {url}"
    ),
    "group_buy.closed": N_("That group buy is not open any more."),
    "group_buy.pressed": N_("Got it! Your link is in the group."),
    "group_buy.not_here": N_("That group buy is not for this group."),
    "command.stop": N_(
        "Done: you will get no more offers from us. You can still order and ask here."
    ),
    # staff commands
    "staff.refused": N_("Only the group's staff may use /{command}."),
    "staff.no_target": N_(
        "Reply to the member's message with /{command}, or name them: /{command} @username."
    ),
    "staff.unknown_target": N_("I do not know {who} in this group."),
    "staff.target_is_staff": N_("{name} is staff of this group."),
    "staff.bad_duration": N_("Write the mute's length as 30m, 1h or 2d."),
    "staff.warned": N_("{name}, this is a warning from the group's staff."),
    "staff.unbanned": N_("{name} may join the shop's groups again."),
    "staff.not_banned": N_("{name} is not banned."),
    "staff.banned_already": N_("{name} is banned already."),
    # /broadcast
    "broadcast.usage": N_(
        "Write the message after the command (/broadcast Mangoes at 8pm!), or reply to a "
        "message with /broadcast."
    ),
    "broadcast.too_long": N_("That message is too long: at most {limit} characters."),
    "broadcast.no_groups": N_("No group would get it: none is active and takes offers."),
    "broadcast.queued": N_("Sending it to {count} groups."),
    # /help: one line per command
    "help.start": N_("start"),
    "help.me": N_("your level, points and member card"),
    "help.orders": N_("your latest orders"),
    "help.sales": N_("what is on sale now"),
    "help.rules": N_("the group's rules"),
    "help.stop": N_("no more offers"),
    "help.help": N_("this list"),
    "help.warn": N_("(staff) warn the member you reply to"),
    "help.mute": N_("(staff) mute the member you reply to, e.g. /mute 1h"),
    "help.ban": N_("(staff) ban the member you reply to from every group"),
    "help.unban": N_("(staff) lift a member's ban, e.g. /unban @username"),
    "help.broadcast": N_("(staff) send a message to every group, e.g. /broadcast Sale at 8pm"),
}


@cache
def translations(language: str) -> NullTranslations:
    """The robot's catalog for ``language``; English (the msgids) for any other."""
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


@cache
def _template(key: str, language: str) -> str:
    source = TEXTS.get(key)
    if source is None:
        return key
    return translations(language).gettext(source)


def say(key: str, language: str, **values: object) -> str:
    """The text of ``key`` in ``language`` (English when the language or the catalog has none),
    with ``values`` filled in."""
    text = _template(key, language)
    return text.format(**values) if values else text

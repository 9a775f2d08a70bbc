"""Phone numbers: parsed with the merchant's country as default region, stored as E.164."""

from __future__ import annotations

import phonenumbers


class InvalidPhone(ValueError):
    pass


def normalise_phone(raw: str, default_region: str) -> str:
    """``"138 0013 8000"`` in CN -> ``"+8613800138000"``; anything not a valid number raises."""
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"{raw!r} is not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(
            f"{raw!r} is not a valid phone number in {default_region}; "
            "write it with its country code, like +86 138 0013 8000"
        )
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))

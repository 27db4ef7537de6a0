"""Small annotated field types shared by the models, so each rule is written once."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StringConstraints

from sagebridge.domain.money import is_currency

# What a text from the host may not hold: C0/C1 control characters (they break Sage's screens, CSV
# exports and our logs) and lone surrogates (not text at all; DynamoDB cannot store them).
_LINE_BREAKS = "\t\n\r"


def _control_character(value: str, allowed: str) -> str | None:
    for char in value:
        if char in allowed:
            continue
        if unicodedata.category(char) in ("Cc", "Cs"):
            return f"U+{ord(char):04X}"
    return None


def _no_control_characters(allowed: str) -> AfterValidator:
    def check(value: str) -> str:
        found = _control_character(value, allowed)
        if found is not None:
            raise ValueError(f"contains a control character ({found}); remove it")
        return value

    return AfterValidator(check)


SingleLine = _no_control_characters("")  # names, numbers, references, ids, codes
MultiLine = _no_control_characters(_LINE_BREAKS)  # descriptions and notes may run over several lines

HostId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), SingleLine]
SageId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
# Text the host sends: one line (names, numbers, references, address parts) or free text.
HostName = Annotated[Text, SingleLine]
HostText = Annotated[Text, MultiLine]

# The host's own version of a record. Staged records order changes by version and then occurred_at
# packed into one DynamoDB number (38 digits at most): 25 digits for the version, 13 for the time.
MAX_HOST_VERSION = 10**25 - 1


def _host_version(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true/false")
    return value


def _version_fits(value: int) -> int:
    if value > MAX_HOST_VERSION:
        raise ValueError("is too large: a version has at most 25 digits")
    return value


# (Validators run last to first before the type, first to last after it.)
HostVersion = Annotated[int, Field(ge=0, json_schema_extra={"maximum": MAX_HOST_VERSION}),
                        AfterValidator(_version_fits), BeforeValidator(_host_version)]


def _upper_code(length: int, what: str) -> AfterValidator:
    # pydantic checks a pattern before it upper-cases, so upper-case first, then check.
    def check(value: str) -> str:
        code = value.strip().upper()
        if len(code) != length or not code.isascii() or not code.isalpha():
            raise ValueError(f"must be a {length}-letter {what} code")
        return code

    return AfterValidator(check)


def _known_currency(code: str) -> str:
    if not is_currency(code):
        raise ValueError(f"{code} is not an ISO 4217 currency code (such as GBP, EUR or USD)")
    return code


# (After-validators run in order: the shape first, then the table.)
CurrencyCode = Annotated[str, _upper_code(3, "ISO 4217 currency"), AfterValidator(_known_currency)]
CountryCode = Annotated[str, _upper_code(2, "ISO 3166 country")]


def _email(value: str) -> str:
    # Deliberately loose: hosts hold odd but deliverable addresses; Sage does its own check.
    email = value.strip()
    if len(email) > 254 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise ValueError("is not an email address")
    return email


Email = Annotated[str, AfterValidator(_email), SingleLine]


def host_status_key(value: str) -> str:
    """One spelling of a host status: "Pending Payment", "pending-payment" -> "pending_payment"."""
    key = re.sub(r"[\s\-]+", "_", value.strip().lower())
    if not key:
        raise ValueError("a host status cannot be empty")
    return key


HostStatus = Annotated[str, AfterValidator(host_status_key)]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]

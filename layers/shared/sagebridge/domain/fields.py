"""Small annotated field types shared by the models, so each rule is written once."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, StringConstraints

HostId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
SageId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


def _upper_code(length: int, what: str) -> AfterValidator:
    # pydantic checks a pattern before it upper-cases, so upper-case first, then check.
    def check(value: str) -> str:
        code = value.strip().upper()
        if len(code) != length or not code.isascii() or not code.isalpha():
            raise ValueError(f"must be a {length}-letter {what} code")
        return code

    return AfterValidator(check)


CurrencyCode = Annotated[str, _upper_code(3, "ISO 4217 currency")]
CountryCode = Annotated[str, _upper_code(2, "ISO 3166 country")]


def _email(value: str) -> str:
    # Deliberately loose: hosts hold odd but deliverable addresses; Sage does its own check.
    email = value.strip()
    if len(email) > 254 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise ValueError("is not an email address")
    return email


Email = Annotated[str, AfterValidator(_email)]


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

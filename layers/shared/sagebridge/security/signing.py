"""The webhook signature both directions use: the host signs what it sends us, we sign what we send it.

`Sage-Bridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`

The timestamp is inside the signed text, so a captured request cannot be replayed with a new time,
and an old one is refused after `DEFAULT_TOLERANCE_SECONDS`. A header may carry several `v1` values
and the verifier may hold several secrets: during a rotation either side can use old or new.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from sagebridge.domain.errors import SageBridgeError

SIGNATURE_HEADER = "Sage-Bridge-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")  # anything else cannot match, and compare_digest wants ASCII


class SignatureError(SageBridgeError):
    """A signature is missing, malformed, too old or does not match. The message is safe to return
    to the caller: it never contains a secret or an expected digest."""


def compute_signature(secret: str | bytes, timestamp: int, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secrets: str | bytes | Iterable[str | bytes], *, timestamp: int | None = None) -> str:
    """The header value for `body`: one `v1` per secret (pass both during a rotation)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    keys = [secrets] if isinstance(secrets, str | bytes) else list(secrets)
    if not keys:
        raise ValueError("sign needs at least one secret")
    return ",".join([f"t={ts}", *(f"{SCHEME}={compute_signature(k, ts, body)}" for k in keys)])


def parse_header(header: str) -> tuple[int, list[str]]:
    """(timestamp, [v1 digests]) of a header value; SignatureError if it has no usable parts."""
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("signature timestamp is not a number") from None
        elif name == SCHEME and _HEX_DIGEST.fullmatch(value.strip().lower()):
            digests.append(value.strip().lower())
    if timestamp is None:
        raise SignatureError("signature has no timestamp (t=)")
    if not digests:
        raise SignatureError(f"signature has no {SCHEME}= value")
    return timestamp, digests


def verify(
    body: bytes,
    header: str | None,
    secrets: Iterable[str | bytes],
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check `header` against `body` with any of `secrets`; returns the signed timestamp.

    Raises SignatureError when the header is missing or malformed, the timestamp is outside the
    tolerance (either way: a clock far ahead is as suspect as a replay), or nothing matches.
    """
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    timestamp, digests = parse_header(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureError(f"signature timestamp is outside the {tolerance_seconds}s tolerance")
    keys = list(secrets)
    if not keys:
        raise SignatureError("no signing secret is configured")
    matched = False
    for key in keys:
        expected = compute_signature(key, timestamp, body)
        for digest in digests:
            # Evaluate every pair so the time taken does not say which secret or value matched.
            matched |= hmac.compare_digest(expected, digest)
    if not matched:
        raise SignatureError("signature does not match")
    return timestamp


# ------------------------------------------------------------------------------ Standard Webhooks

STANDARD_WEBHOOKS_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def standard_webhooks_secret(secret: str) -> str:
    """The tenant's webhook secret as a Standard Webhooks library takes it: `whsec_` + base64 of its
    UTF-8 bytes (the HMAC key is those bytes, whatever the secret looks like)."""
    return "whsec_" + base64.b64encode(secret.encode()).decode()


def standard_webhooks_headers(body: bytes, secret: str, message_id: str, *, timestamp: int | None = None
                              ) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp`, `webhook-signature` for `body` (https://www.standardwebhooks.com),
    signed by the standardwebhooks library with the secret's UTF-8 bytes as the key."""
    from standardwebhooks import Webhook  # only tenants that chose the scheme need it

    ts = int(time.time()) if timestamp is None else int(timestamp)
    signature = Webhook(secret.encode()).sign(message_id, datetime.fromtimestamp(ts, UTC), body.decode())
    return {"webhook-id": message_id, "webhook-timestamp": str(ts), "webhook-signature": signature}

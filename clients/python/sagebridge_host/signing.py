"""Both signature schemes of Sage Bridge.

Sage-Bridge-Signature (webhooks you send, and deliveries by default):
    `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, several v1 during a rotation.
Standard Webhooks (deliveries, when the tenant's host_signature_scheme is `standard-webhooks`):
    `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<t>.<raw body>")>`
    where the key is the tenant's webhook secret as UTF-8 bytes (`standard_webhooks_secret` gives the
    `whsec_` form other Standard Webhooks libraries take).
Both refuse a timestamp more than 5 minutes from your clock. Always verify the raw body, before parsing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

SIGNATURE_HEADER = "Sage-Bridge-Signature"
TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The request is not signed by a secret you hold (missing, malformed, too old, no match)."""


def _keys(secrets: str | Iterable[str]) -> list[str]:
    keys = [secrets] if isinstance(secrets, str) else [s for s in secrets if s]
    if not keys:
        raise ValueError("at least one secret is needed")
    return keys


def sign(body: bytes, secrets: str | Iterable[str], *, timestamp: int | None = None) -> str:
    """The Sage-Bridge-Signature value for `body` (one v1 per secret: pass new and old during a rotation)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    signed = str(ts).encode() + b"." + body
    return ",".join([f"t={ts}", *(f"v1={hmac.new(k.encode(), signed, hashlib.sha256).hexdigest()}"
                                  for k in _keys(secrets))])


def signed_headers(body: bytes, secret: str, *, timestamp: int | None = None) -> dict[str, str]:
    """Headers for POST /webhooks/{tenant_id}."""
    return {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret, timestamp=timestamp)}


def _check_time(timestamp: int, tolerance: int, now: float | None) -> None:
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise SignatureError(f"timestamp is more than {tolerance} s from this clock")


def verify(body: bytes, header: str | None, secrets: str | Iterable[str], *,
           tolerance: int = TOLERANCE_SECONDS, now: float | None = None) -> int:
    """Check a Sage-Bridge-Signature header; returns its timestamp or raises SignatureError."""
    if not header:
        raise SignatureError(f"no {SIGNATURE_HEADER} header")
    parts = [p.strip().partition("=") for p in header.split(",")]
    stamps = [v for k, _, v in parts if k == "t"]
    digests = [v.lower() for k, _, v in parts if k == "v1"]
    if not stamps or not stamps[0].isdigit() or not digests:
        raise SignatureError("malformed signature header")
    timestamp = int(stamps[0])
    _check_time(timestamp, tolerance, now)
    signed = stamps[0].encode() + b"." + body
    expected = [hmac.new(k.encode(), signed, hashlib.sha256).hexdigest() for k in _keys(secrets)]
    if not any(hmac.compare_digest(e, d) for e in expected for d in digests):
        raise SignatureError("signature does not match")
    return timestamp


def standard_webhooks_secret(secret: str) -> str:
    """The tenant's webhook secret in the `whsec_<base64>` form Standard Webhooks libraries take."""
    return "whsec_" + base64.b64encode(secret.encode()).decode()


def verify_standard_webhooks(body: bytes, headers: Mapping[str, str], secrets: str | Iterable[str], *,
                             tolerance: int = TOLERANCE_SECONDS, now: float | None = None) -> int:
    """Check webhook-id / webhook-timestamp / webhook-signature with the tenant's secret(s) as issued
    (not the whsec_ base64 form); returns the timestamp or raises SignatureError."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, signature = (lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and signature) or not stamp.isdigit():
        raise SignatureError("missing or malformed Standard Webhooks headers")
    timestamp = int(stamp)
    _check_time(timestamp, tolerance, now)
    signed = f"{msg_id}.{stamp}.".encode() + body
    expected = [hmac.new(k.encode(), signed, hashlib.sha256).digest() for k in _keys(secrets)]
    for candidate in signature.split(" "):
        version, _, value = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except ValueError:
            continue
        if any(hmac.compare_digest(e, given) for e in expected):
            return timestamp
    raise SignatureError("signature does not match")


def verify_delivery(body: bytes, headers: Mapping[str, str], secrets: str | Iterable[str], *,
                    tolerance: int = TOLERANCE_SECONDS, now: float | None = None) -> dict[str, Any]:
    """A delivery from Sage Bridge, whichever scheme the tenant uses: verified, then parsed."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if "webhook-signature" in lowered:
        verify_standard_webhooks(body, lowered, secrets, tolerance=tolerance, now=now)
    else:
        verify(body, lowered.get(SIGNATURE_HEADER.lower()), secrets, tolerance=tolerance, now=now)
    event: dict[str, Any] = json.loads(body)
    return event

"""Local-only controls in front of a sandbox: no Sage has them, and only the local stack (and the
tests that ask) serve a sandbox through them.

    GET  /_sandbox/clock                      the sandbox's time, how far it was moved, and the
                                              OAuth grants' token expiry times (never the tokens)
    POST /_sandbox/clock  {"minutes": 6}      moves the clock forward (seconds, minutes, hours, days)
    GET  /_sandbox/sender-authorisations      Intacct only: each company's authorised Web Services
                                              sender IDs
    POST /_sandbox/sender-authorisations {"company_id": "DEMO-GARAGE", "sender_id": "sage-bridge-local",
                                          "authorised": false}
                                              what the company admin does under Company > Setup >
                                              Company, Security tab, Web Services authorizations
    GET  /_sandbox/block                      regional only: the companies Sage's request limit blocks now
    POST /_sandbox/block {"company_id": 12}   regional only: block the company as going over 100 requests
                                              a minute does (the next request is a 429); "lift": true ends it

and a per-request latency (a uniform draw between two bounds) before a request reaches the sandbox,
as a network and a real service add. In the stack the Sage sandboxes share one clock, which Sage
Bridge's functions follow too (local/timeshift.py): moving it is time passing for the whole stack.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
from typing import Any

CLOCK_PATH = "/_sandbox/clock"
SENDERS_PATH = "/_sandbox/sender-authorisations"
UNITS = ("seconds", "minutes", "hours", "days")
LATENCY_ENV = "SAGEBRIDGE_SANDBOX_LATENCY_MS"  # "20-50" (the stack's default), "30", or "0" (off)
DEFAULT_LATENCY_MS = (20.0, 50.0)


def latency_from_env(value: str | None = None) -> tuple[float, float]:
    """The stack's per-request latency bounds in seconds, from `SAGEBRIDGE_SANDBOX_LATENCY_MS`."""
    text = (os.environ.get(LATENCY_ENV, "") if value is None else value).strip()
    if not text:
        low, high = DEFAULT_LATENCY_MS
    else:
        try:
            low_text, _, high_text = text.partition("-")
            low, high = float(low_text), float(high_text or low_text)
        except ValueError:
            raise ValueError(f"the sandbox latency ({LATENCY_ENV} or --sandbox-latency-ms) must be milliseconds "
                             f"like 20-50, 30 or 0, not {text!r}") from None
        if not 0 <= low <= high:
            raise ValueError(f"the sandbox latency ({LATENCY_ENV} or --sandbox-latency-ms) needs "
                             f"0 <= low <= high, got {text!r}")
    return low / 1000, high / 1000


def _iso(when: dt.datetime | None) -> str | None:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds") if when else None


def _grants(sandbox: Any, now: dt.datetime) -> list[dict[str, Any]]:
    """Each OAuth grant's token times (never a token), for a person watching one expire."""
    oauth = getattr(sandbox, "oauth", None)
    if oauth is None:
        return []
    names = {**{k: b.name for k, b in getattr(sandbox, "businesses", {}).items()},
             **{k: b.name for k, b in getattr(sandbox, "companies", {}).items()}}
    with sandbox.lock:
        out = []
        for grant in oauth.grants.values():
            if not grant.access_tokens:
                continue  # consent given, code not exchanged yet
            access_until = max(grant.access_tokens.values())
            out.append({
                "businesses": [names.get(b, b) for b in grant.business_ids],
                "access_token_expires_at": _iso(access_until),
                "access_token_expired": now >= access_until,
                "refresh_token_expires_at": _iso(grant.refresh_expires_at),
                "refreshes": grant.refresh_count,
                "revoked": grant.revoked,
            })
        return out


class SandboxControls:
    """ASGI wrapper: the control endpoint, then latency, then the sandbox itself."""

    def __init__(self, app: Any, clock: Any, *, sandbox: Any = None,
                 latency: tuple[float, float] = (0.0, 0.0)) -> None:
        self.app, self.clock, self.sandbox, self.latency = app, clock, sandbox, latency

    def state(self) -> dict[str, Any]:
        now = self.clock.now()
        return {"now": _iso(now), "moved_by_seconds": int(self.clock.offset.total_seconds()),
                "grants": _grants(self.sandbox, now)}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/_sandbox/"):
            status, body = await self._control(scope, receive)
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]})
            await send({"type": "http.response.body", "body": json.dumps(body).encode()})
            return
        if scope["type"] == "http" and self.latency[1] > 0:
            await asyncio.sleep(random.uniform(*self.latency))
        await self.app(scope, receive, send)

    def _companies(self) -> dict[str, Any] | None:
        """The Intacct sandbox's companies (the only sandbox whose companies authorise senders)."""
        companies = getattr(self.sandbox, "companies", None)
        if not companies or not all(hasattr(c, "authorised_senders") for c in companies.values()):
            return None
        return dict(companies)

    def senders(self) -> dict[str, Any]:
        with self.sandbox.lock:
            return {"companies": {cid: sorted(c.authorised_senders) for cid, c in (self._companies() or {}).items()}}

    async def _control(self, scope: dict[str, Any], receive: Any) -> tuple[int, dict[str, Any]]:
        paths = [CLOCK_PATH] + ([SENDERS_PATH] if self._companies() is not None else [])
        own = dict(getattr(self.sandbox, "controls", None) or {})  # a sandbox's own controls (path -> handler)
        paths += list(own)
        if scope["path"] in own:
            if scope["method"] not in ("GET", "POST"):
                return 405, {"error": f"{scope['path']} takes GET or POST"}
            raw = await self._body(receive) if scope["method"] == "POST" else b""
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                return 400, {"error": "the body must be JSON"}
            status, answer = own[scope["path"]](scope["method"], body)
            return status, answer
        if scope["path"] not in paths:
            return 404, {"error": f"no such control; there is {' and '.join(paths)}"}
        if scope["method"] not in ("GET", "POST"):
            return 405, {"error": f"{scope['path']} takes GET or POST"}
        if scope["method"] == "GET":
            return 200, self.state() if scope["path"] == CLOCK_PATH else self.senders()
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            if scope["path"] == SENDERS_PATH:
                self.set_sender(raw)
                return 200, self.senders()
            amounts = self.parse_move(raw)
        except ValueError as exc:
            return 400, {"error": str(exc)}
        self.clock.advance(**amounts)
        return 200, self.state()

    @staticmethod
    async def _body(receive: Any) -> bytes:
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                return raw

    def set_sender(self, raw: bytes) -> None:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            raise ValueError("the body must be JSON") from None
        companies = self._companies() or {}
        if not isinstance(body, dict) or not isinstance(body.get("company_id"), str) \
                or not isinstance(body.get("sender_id"), str) or not isinstance(body.get("authorised"), bool):
            raise ValueError('send {"company_id": "...", "sender_id": "...", "authorised": true or false}')
        company = companies.get(body["company_id"])
        if company is None:
            raise ValueError(f"no company {body['company_id']!r}; there is {', '.join(sorted(companies))}")
        with self.sandbox.lock:
            (company.authorised_senders.add if body["authorised"] else company.authorised_senders.discard)(
                body["sender_id"])

    @staticmethod
    def parse_move(raw: bytes) -> dict[str, float]:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            raise ValueError('the body must be JSON, e.g. {"minutes": 6}') from None
        if not isinstance(body, dict) or not body:
            raise ValueError('say how far to move the clock, e.g. {"minutes": 6} or {"days": 8}')
        unknown = sorted(set(body) - set(UNITS))
        if unknown:
            raise ValueError(f"unknown unit(s) {', '.join(unknown)}: use {', '.join(UNITS)}")
        amounts: dict[str, float] = {}
        for unit, value in body.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                raise ValueError(f"{unit} must be a number, got {value!r}")
            if value < 0:
                raise ValueError("the clock only moves forward (tokens, logs and cursors never run backwards)")
            amounts[unit] = float(value)
        return amounts


__all__ = ["CLOCK_PATH", "LATENCY_ENV", "SENDERS_PATH", "SandboxControls", "latency_from_env"]

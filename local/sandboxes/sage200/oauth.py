"""Sage ID as Sage 200 integrators see it, on the Sage Accounting sandbox's OAuth state machine
(clients, single-use 60 s codes, PKCE, grants, rotation, revoke), with Sage 200's differences:

- the authorize request must name the audience ``s200ukipd/sage200``; without ``offline_access`` in
  the scope no refresh token is issued;
- a refresh token lives at most 90 days from consent: a refresh rotates it (the old one dies) but
  the grant still ends 90 days after consent; the token answer does not say when.

None of the figures is published for Sage 200 (local/sandboxes/FIDELITY.md): 480 s and 90 days are
assumptions, rotation is the stricter choice. Everything runs on the sandbox clock. Knobs:
``rotate_refresh_tokens=False`` hands the same refresh token back on a refresh;
``report_refresh_expiry=True`` adds ``refresh_token_expires_in`` (the seconds left until the grant
ends, on the sandbox clock) to every token answer, so an app on another clock (the local stack)
sees the end, and its 14/3-day warnings, move with the sandbox clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from local.sandboxes.sage_accounting.oauth import Grant, OAuthError, OAuthServer, s256

AUDIENCE = "s200ukipd/sage200"
ACCESS_TOKEN_SECONDS = 480  # short-lived; clients read expires_in
REFRESH_TOKEN_DAYS = 90


class SageIdServer(OAuthServer):
    """`OAuthServer` with grants that end a fixed 90 days after consent."""

    def __init__(self, clock: Any, *, rotate_refresh_tokens: bool = True, report_refresh_expiry: bool = False) -> None:
        super().__init__(clock)
        self.grant_ends: dict[str, dt.datetime] = {}  # grant id -> end (set at consent)
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.report_refresh_expiry = report_refresh_expiry

    def refresh(self, client: Any, refresh_token: str) -> dict[str, Any]:
        answer = super().refresh(client, refresh_token)
        if not self.rotate_refresh_tokens and "refresh_token" in answer:
            grant = self._by_refresh.pop(answer["refresh_token"])
            self._dead_refresh.pop(refresh_token, None)
            self._by_refresh[refresh_token] = grant
            grant.refresh_token = answer["refresh_token"] = refresh_token
        return answer

    def _issue_tokens(self, grant: Grant) -> dict[str, Any]:
        now = self.clock.now()
        end = self.grant_ends.setdefault(grant.id, now + dt.timedelta(days=REFRESH_TOKEN_DAYS))
        answer = super()._issue_tokens(grant)
        grant.refresh_expires_at = end  # rotation does not move the end
        grant.access_tokens[answer["access_token"]] = now + dt.timedelta(seconds=ACCESS_TOKEN_SECONDS)
        answer["expires_in"] = ACCESS_TOKEN_SECONDS
        answer["token_type"] = "Bearer"  # noqa: S105 - a token kind
        answer.pop("refresh_token_expires_in", None)
        answer.pop("requested_by_id", None)
        if "offline_access" not in grant.scope.split():
            self._by_refresh.pop(answer.pop("refresh_token"), None)
        elif self.report_refresh_expiry:
            answer["refresh_token_expires_in"] = max(0, int((end - now).total_seconds()))
        return answer


__all__ = ["ACCESS_TOKEN_SECONDS", "AUDIENCE", "REFRESH_TOKEN_DAYS", "OAuthError", "SageIdServer", "s256"]

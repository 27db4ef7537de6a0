"""OAuth state (STATE#nonce / STATE): what the connect flow remembers between redirecting the
browser to Sage and the callback. Single use (consumed by a conditional delete) and short-lived
(10 minutes, checked on consume and cleaned up by the table's TTL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sagebridge.store import keys
from sagebridge.store.table import ClaimConflict, Table, delete, epoch_seconds, missing, plain, put

DEFAULT_TTL = timedelta(minutes=10)


class OAuthStates:
    def __init__(self, table: Table) -> None:
        self._table = table

    def put(self, nonce: str, data: dict[str, Any], ttl: timedelta = DEFAULT_TTL) -> int:
        """Remember `data` (tenant, provider, PKCE verifier...) under `nonce`; returns expires_at
        (epoch seconds). ConflictError if the nonce is already in use."""
        expires = epoch_seconds(self._table.now() + ttl)
        self._table.write(put(
            {"pk": keys.oauth_state_pk(nonce), "sk": keys.oauth_state_sk(), "data": data,
             "expires_at": expires},
            condition="attribute_not_exists(pk)", what="oauth state",
        ))
        return expires

    def consume(self, nonce: str) -> dict[str, Any]:
        """Return the data and delete the state, once. NotFoundError when the state is unknown,
        already used or expired (all three: the callback is not to be trusted)."""
        try:
            old = self._table.write(delete(
                (keys.oauth_state_pk(nonce), keys.oauth_state_sk()),
                condition="attribute_exists(pk) AND expires_at > :now",
                values={":now": epoch_seconds(self._table.now())}, what="oauth state",
            ), ReturnValues="ALL_OLD")
        except ClaimConflict as exc:
            raise missing("oauth state (unknown, used or expired)") from exc
        return plain(old.get("data") or {})

"""A tenant's connection to Sage over time: tokens that are refreshed exactly once per expiry across
every concurrent Lambda, kept alive while the tenant is idle, declared dead (and announced) when the
grant is revoked, and revoked at Sage on disconnect.

Single-flight refresh. Sage rotates the refresh token on every use and the old one dies at once, so
two workers refreshing together would kill the grant. A worker that finds the access token within
`REFRESH_MARGIN` of expiry (or just refused with 401):
  1. takes the tenant's short refresh lock (a conditional put in the store, with expiry);
  2. re-reads the connection under the lock: if its version moved, someone else refreshed, so it
     uses their token and never touches the old refresh token;
  3. otherwise spends the refresh token and saves the new set conditionally on the version read.
Workers that do not get the lock poll the connection until its version moves. A holder that died
leaves a lock that expires after `LOCK_TTL`; the token call's timeout is well inside it. If two
holders ever overlapped anyway, the one that gets invalid_grant re-reads before declaring the grant
dead: a newer version means it lost a race, not the grant.

A rotated token is saved before anything else can fail: the old refresh token is already dead at
Sage, so losing the new one would disconnect the tenant for good. The save (sealing included) is
retried with backoff well inside `LOCK_TTL`; if it still fails, the new grant stays in this
container's memory (every later call of the invocation uses and, if needed, refreshes it), each later
call tries the save again, and the failure is logged as `token_refresh_not_saved` (no secrets).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import SecretStr

from sagebridge.connections.expiry import ExpiryWarnings, Notify, days_left
from sagebridge.connectors.base import GrantRevoked, NotConnected, SageError, SageUnavailable
from sagebridge.connectors.oauth import OAuthClient
from sagebridge.domain.errors import ConflictError, NotFoundError
from sagebridge.observability import logger, metrics
from sagebridge.security.tokens import SealedTokens, TokenCipher, TokenSet
from sagebridge.store.connections import Connections
from sagebridge.store.leases import Leases
from sagebridge.store.notifications import FailureSummary
from sagebridge.store.records import ConnectionRecord, ConnectionStatus

REFRESH_MARGIN = timedelta(seconds=60)
KEEPALIVE_AFTER = timedelta(days=7)
# What the status page calls `expiring` (admin.status.EXPIRING_WITHIN): the keep-alive could not push
# the grant past this, so only the keep-alive's fault being fixed, or a reconnect, saves it.
EXPIRING_WITHIN = timedelta(days=7)
LOCK_TTL = timedelta(seconds=30)
WAIT_FOR_REFRESH = 20.0  # seconds (real time) a worker waits for another's refresh
# Backoff (seconds) between tries to save a rotated token: ~6 s in all, well inside LOCK_TTL.
SAVE_ROTATED_BACKOFF = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
_BLOB_VERSION = 1

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------------------ sealed blobs

def pack(sealed: SealedTokens) -> bytes:
    """One bytes value for the connection's `ciphertext`: version, key length, key, GCM blob."""
    key = sealed.encrypted_key
    return bytes([_BLOB_VERSION]) + len(key).to_bytes(2, "big") + key + sealed.ciphertext


def unpack(blob: bytes) -> SealedTokens:
    if not blob or blob[0] != _BLOB_VERSION:
        raise ValueError("unknown sealed token format")
    size = int.from_bytes(blob[1:3], "big")
    return SealedTokens(encrypted_key=bytes(blob[3:3 + size]), ciphertext=bytes(blob[3 + size:]))


# ---------------------------------------------------------------------------------------- ports

class RefreshLock(Protocol):
    """A short exclusive lock per tenant and provider (the store's leases)."""

    def acquire(self, tenant_id: str, provider: str, owner: str, ttl: timedelta) -> bool: ...

    def release(self, tenant_id: str, provider: str, owner: str) -> None: ...


@dataclass
class KeepAliveReport:
    checked: int = 0
    refreshed: int = 0
    dead: int = 0
    failed: int = 0
    warned: int = 0  # expiry warnings sent (providers whose grants cannot be extended)
    expiring: int = 0  # still connected, grant ends within EXPIRING_WITHIN after this run: reconnect soon


# -------------------------------------------------------------------------------------- service

class ConnectionService:
    """Token lifecycle of one provider's connections. Thread-safe; one per container is enough."""

    def __init__(
        self,
        *,
        provider: str,
        connections: Connections,
        cipher: TokenCipher,
        oauth: OAuthClient,
        lock: RefreshLock,
        notify: Notify | None = None,
        clock: Clock = _utc_now,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = 0.05,
        wait_for_refresh: float = WAIT_FOR_REFRESH,
        expiry_warnings: ExpiryWarnings | None = None,
    ) -> None:
        self.provider = provider
        self.expiry_warnings = expiry_warnings
        self._connections = connections
        self._cipher = cipher
        self.oauth = oauth
        self._lock = lock
        self._notify = notify
        self._clock = clock
        self._sleep = sleep
        self._poll = poll_interval
        self._wait = wait_for_refresh
        self._owner = uuid.uuid4().hex
        # (tenant) -> (version, tokens): spares a DynamoDB read and a KMS decrypt per API call.
        self._cache: dict[str, tuple[int, TokenSet]] = {}
        self._cache_lock = threading.Lock()
        # (tenant) -> the rotated record Sage issued but the store did not take yet: retried per call.
        self._unsaved: dict[str, tuple[ConnectionRecord, TokenSet]] = {}

    # ---- reading

    def find(self, tenant_id: str) -> ConnectionRecord | None:
        return self._connections.find(tenant_id, self.provider)

    def others_on(self, tenant_id: str, business_id: str, tenant_ids: Iterable[str]) -> list[ConnectionRecord]:
        """The other tenants' connections to this business (see ConnectFlow: one business, one tenant)."""
        return [r for r in self._connections.of_business(self.provider, business_id, tenant_ids)
                if r.tenant_id != tenant_id]

    def is_connected(self, tenant_id: str) -> bool:
        """For the scheduler: False for never connected, expired (dead grant) or revoked tenants,
        whose jobs must not run until the tenant reconnects."""
        record = self.find(tenant_id)
        if record is None or record.status != ConnectionStatus.CONNECTED:
            return False
        return record.refresh_expires_at is None or record.refresh_expires_at > self._clock()

    def _open(self, record: ConnectionRecord) -> TokenSet:
        with self._cache_lock:
            cached = self._cache.get(record.tenant_id)
        if cached and cached[0] == record.version:
            return cached[1]
        tokens = self._cipher.open(unpack(record.ciphertext), tenant_id=record.tenant_id, provider=self.provider)
        with self._cache_lock:
            self._cache[record.tenant_id] = (record.version, tokens)
        return tokens

    def _connected(self, tenant_id: str) -> ConnectionRecord:
        record = self.find(tenant_id)
        if record is None:
            raise NotConnected(f"tenant {tenant_id} has not connected {self.provider}")
        if record.status != ConnectionStatus.CONNECTED:
            raise NotConnected(f"the {self.provider} connection of tenant {tenant_id} is {record.status.value}; "
                               "the tenant must reconnect")
        return record

    # ---- writing

    def seal(self, tenant_id: str, tokens: TokenSet) -> bytes:
        return pack(self._cipher.seal(tokens, tenant_id=tenant_id, provider=self.provider))

    def unseal(self, tenant_id: str, blob: bytes) -> TokenSet:
        return self._cipher.open(unpack(blob), tenant_id=tenant_id, provider=self.provider)

    def store_new_connection(
        self, tenant_id: str, tokens: TokenSet, *, business_id: str | None, business_name: str | None
    ) -> ConnectionRecord:
        """Save the tokens of a fresh authorization (connect or reconnect)."""
        now = self._clock()
        record = ConnectionRecord(
            tenant_id=tenant_id, provider=self.provider, ciphertext=self.seal(tenant_id, tokens),
            status=ConnectionStatus.CONNECTED, business_id=business_id, business_name=business_name,
            access_expires_at=tokens.expires_at, refresh_expires_at=tokens.refresh_expires_at,
            last_refreshed_at=now,
        )
        for _ in range(5):
            existing = self.find(tenant_id)
            try:
                saved = self._connections.save(record, expected_version=existing.version if existing else None)
            except ConflictError:
                continue
            self._remember(saved, tokens)
            logger.info("sage_connected", extra={"tenant_id": tenant_id, "provider": self.provider,
                                                  "business_id": business_id})
            return saved
        raise ConflictError(f"could not save the connection of tenant {tenant_id}: it keeps changing")

    def _remember(self, record: ConnectionRecord, tokens: TokenSet) -> None:
        with self._cache_lock:
            self._cache[record.tenant_id] = (record.version, tokens)

    # ---- access tokens

    def access_token(self, tenant_id: str, *, rejected: str | None = None) -> str:
        """A valid access token for the tenant, refreshed single-flight when it is about to expire
        or when Sage has just refused `rejected`."""
        self._retry_unsaved(tenant_id)
        with self._cache_lock:
            cached = self._cache.get(tenant_id)
        if cached and not self._stale(cached[1], rejected):
            return cached[1].access_token.get_secret_value()
        deadline = time.monotonic() + self._wait
        while True:
            record = self._connected(tenant_id)
            tokens = self._open(record)
            if not self._stale(tokens, rejected):
                return tokens.access_token.get_secret_value()
            if self._lock.acquire(tenant_id, self.provider, self._owner, LOCK_TTL):
                try:
                    fresh = self._refresh_under_lock(tenant_id, record.version)
                finally:
                    self._lock.release(tenant_id, self.provider, self._owner)
                if fresh is not None:
                    return fresh.access_token.get_secret_value()
                continue  # someone refreshed between our read and the lock: use theirs
            if time.monotonic() > deadline:
                raise SageUnavailable(f"timed out waiting for another worker to refresh tenant {tenant_id}'s token")
            self._sleep(self._poll)

    def _stale(self, tokens: TokenSet, rejected: str | None) -> bool:
        if rejected is not None and tokens.access_token.get_secret_value() == rejected:
            return True
        return tokens.expires_within(self._clock(), REFRESH_MARGIN)

    def _refresh_under_lock(self, tenant_id: str, seen_version: int) -> TokenSet | None:
        """Spend the refresh token, holding the lock. None when the connection moved on since
        `seen_version` (another worker refreshed): the caller re-reads."""
        record = self._connected(tenant_id)
        if record.version != seen_version:
            return None
        return self._refresh(record)

    def _refresh(self, record: ConnectionRecord) -> TokenSet | None:
        tokens = self._open(record)
        try:
            fresh = self.oauth.refresh(tokens.refresh_token)
        except GrantRevoked as exc:
            now_record = self.find(record.tenant_id)
            if now_record is not None and now_record.version != record.version:
                return None  # lost a race with an overlapping holder: the grant is alive
            self.mark_dead(record, reason=str(exc))
            raise
        # From here on the old refresh token is dead at Sage: nothing may fail before `fresh` is kept.
        with self._cache_lock:
            # Until it is saved, the record we read opens to the new grant in this container.
            self._cache[record.tenant_id] = (record.version, fresh)
        now = self._clock()
        refresh_expires_at = fresh.refresh_expires_at or record.refresh_expires_at
        if not self.oauth.provider.refresh_extends_on_use and record.refresh_expires_at is not None:
            # Sage 200: the grant ends where it ended before, whatever the new token claims.
            refresh_expires_at = min(refresh_expires_at or record.refresh_expires_at, record.refresh_expires_at)
        updated = replace(
            record, access_expires_at=fresh.expires_at,
            refresh_expires_at=refresh_expires_at, last_refreshed_at=now,
        )
        saved = self._save_rotated(record, updated, fresh)
        if saved is None:
            return None
        metrics.add_metric(name="TokenRefreshes", unit="Count", value=1)
        logger.info("token_refreshed", extra={"tenant_id": record.tenant_id, "provider": self.provider,
                                               "version": saved.version})
        return fresh

    def _save_rotated(
        self, seen: ConnectionRecord, updated: ConnectionRecord, fresh: TokenSet,
        backoff: tuple[float, ...] = SAVE_ROTATED_BACKOFF,
    ) -> ConnectionRecord | None:
        """Seal and save a rotated grant over `seen`, retrying store/KMS failures with `backoff`.
        The saved record; `seen` itself when the save keeps failing (the grant lives on in memory,
        see `_retry_unsaved`); None when the connection was disconnected or reconnected meanwhile."""
        tenant_id = seen.tenant_id
        attempts = len(backoff) + 1
        error = ""
        for attempt in range(attempts):
            if attempt:
                self._sleep(backoff[attempt - 1])
            try:
                candidate = replace(updated, ciphertext=self.seal(tenant_id, fresh))
                saved = self._connections.save(candidate, expected_version=seen.version)
            except ConflictError:
                # Disconnected or reconnected meanwhile (that write wins, these tokens are orphaned),
                # or an earlier try landed though its answer was lost: the caller re-reads either way.
                logger.warning("token_refresh_save_conflict", extra={"tenant_id": tenant_id})
                with self._cache_lock:
                    self._unsaved.pop(tenant_id, None)
                    cached = self._cache.get(tenant_id)
                    if cached is not None and cached[1] is fresh:
                        self._cache.pop(tenant_id, None)
                return None
            except Exception as exc:  # throttled, store or KMS down: the new grant must not be lost
                error = type(exc).__name__
                logger.warning("token_refresh_save_retry", extra={
                    "tenant_id": tenant_id, "provider": self.provider, "attempt": attempt + 1, "error": error})
                continue
            with self._cache_lock:
                self._unsaved.pop(tenant_id, None)
            self._remember(saved, fresh)
            return saved
        with self._cache_lock:
            already_told = tenant_id in self._unsaved
            self._unsaved[tenant_id] = (seen, fresh)
            self._cache[tenant_id] = (seen.version, fresh)
        if already_told:
            return seen
        metrics.add_metric(name="TokenSaveFailures", unit="Count", value=1)
        logger.error("token_refresh_not_saved", extra={
            "tenant_id": tenant_id, "provider": self.provider, "attempts": attempts, "error": error,
            "detail": "Sage rotated the refresh token but it could not be saved; this container keeps "
                      "the new grant and retries the save on every call. If it is never saved the "
                      "next refresh elsewhere fails and the tenant must reconnect.",
        })
        return seen

    def _retry_unsaved(self, tenant_id: str) -> None:
        """One more try (no backoff) to save a rotated grant an earlier call could not save."""
        with self._cache_lock:
            pending = self._unsaved.get(tenant_id)
        if pending is None:
            return
        seen, fresh = pending
        updated = replace(seen, access_expires_at=fresh.expires_at, last_refreshed_at=self._clock(),
                          refresh_expires_at=fresh.refresh_expires_at or seen.refresh_expires_at)
        if not self.oauth.provider.refresh_extends_on_use:
            updated = replace(updated, refresh_expires_at=seen.refresh_expires_at)
        saved = self._save_rotated(seen, updated, fresh, backoff=())
        if saved is not None and saved is not seen:
            logger.warning("token_refresh_saved_late", extra={"tenant_id": tenant_id, "provider": self.provider})

    def token_provider(self, tenant_id: str) -> Callable[..., str]:
        """The callable a connector's client asks for tokens (`rejected=` after a 401)."""

        def provide(*, rejected: str | None = None) -> str:
            return self.access_token(tenant_id, rejected=rejected)

        return provide

    # ---- keep-alive, death, disconnect

    def keep_alive(self, tenant_id: str, *, older_than: timedelta = KEEPALIVE_AFTER) -> bool:
        """Refresh the tenant's tokens if the last refresh is older than `older_than`, so an idle
        tenant's refresh token (31 days) never runs out. True when a refresh happened."""
        record = self.find(tenant_id)
        if record is None or record.status != ConnectionStatus.CONNECTED:
            return False
        if record.refresh_expires_at is not None and record.refresh_expires_at <= self._clock():
            # The grant has run out (Sage 200's can only run out): say so now, not at the next export.
            self.mark_dead(record, reason="the Sage sign-in has ended; the tenant must reconnect")
            return False
        last = record.last_refreshed_at or datetime.min.replace(tzinfo=UTC)
        if self._clock() - last < older_than:
            return False
        if not self._lock.acquire(tenant_id, self.provider, self._owner, LOCK_TTL):
            return False  # a worker is refreshing right now: that is the keep-alive
        try:
            return self._refresh_under_lock(tenant_id, record.version) is not None
        finally:
            self._lock.release(tenant_id, self.provider, self._owner)

    def keep_alive_all(self, tenant_ids: Iterator[str] | list[str]) -> KeepAliveReport:
        report = KeepAliveReport()
        for tenant_id in tenant_ids:
            report.checked += 1
            try:
                if self.keep_alive(tenant_id):
                    report.refreshed += 1
            except GrantRevoked:
                report.dead += 1
            except (SageError, ConflictError) as exc:
                report.failed += 1
                logger.warning("keepalive_failed", extra={"tenant_id": tenant_id, "error": str(exc)})
            after = self.find(tenant_id)
            if (after is not None and after.status == ConnectionStatus.CONNECTED
                    and after.refresh_expires_at is not None
                    and after.refresh_expires_at - self._clock() <= EXPIRING_WITHIN):
                report.expiring += 1
                logger.warning("connection_expiring", extra={"tenant_id": tenant_id, "provider": self.provider,
                                                             "expires_at": after.refresh_expires_at.isoformat()})
            if self.expiry_warnings is not None:
                try:
                    record, now = self.find(tenant_id), self._clock()
                    if self.expiry_warnings.check(record, now) is not None and record is not None:
                        report.warned += 1
                        # the host hears it too, once per warning (connection.status_changed "expiring")
                        self._connections.announce_expiring(record, days_left(record, now) or 0)
                except Exception as exc:  # a failed warning must not stop the other tenants' keep-alive
                    logger.error("expiry_warning_failed", extra={"tenant_id": tenant_id, "error": type(exc).__name__})
        return report

    def mark_dead(self, record: ConnectionRecord, *, reason: str) -> None:
        """The grant is gone: status expired (the scheduler stops the tenant's jobs), operators told."""
        current: ConnectionRecord | None = record
        while current is not None and current.status == ConnectionStatus.CONNECTED:
            try:
                self._connections.save(replace(current, status=ConnectionStatus.EXPIRED),
                                       expected_version=current.version)
            except ConflictError:
                current = self.find(record.tenant_id)
                continue
            with self._cache_lock:
                self._cache.pop(record.tenant_id, None)
            logger.warning("connection_dead", extra={"tenant_id": record.tenant_id, "provider": self.provider})
            if self._notify is not None:
                try:
                    self._notify(FailureSummary(
                        title=f"Sage connection of tenant {record.tenant_id} has expired",
                        tenant_id=record.tenant_id,
                        problems=[f"{self.provider}: Sage no longer accepts the tenant's sign-in ({reason})"],
                        hint="Exports and payment polling for this tenant are paused until the tenant connects "
                             f"again: send them a connect link (`sagebridge connect-url {record.tenant_id}`, or "
                             f"GET /admin/tenants/{record.tenant_id}/connect-url); one click, then sign in to Sage.",
                    ))
                except Exception as exc:  # a failed notification must not hide the dead grant
                    logger.error("notify_failed", extra={"tenant_id": record.tenant_id, "error": type(exc).__name__})
            return

    def report_grant_revoked(self, tenant_id: str, error: SageError) -> None:
        """For the engines: Sage answered 403 / the grant is gone; stop the tenant until reconnect."""
        record = self.find(tenant_id)
        if record is not None:
            self.mark_dead(record, reason=str(error))

    def connection_lost(self, tenant_id: str, error: SageError) -> bool:
        """For a poll that Sage refused (`Product.connection_lost`): a revoked grant is the
        connection lost (marked expired, operators told once); any other refusal is not."""
        if not isinstance(error, GrantRevoked):
            return False
        self.report_grant_revoked(tenant_id, error)
        return True

    def disconnect(self, tenant_id: str) -> bool:
        """Revoke the grant at Sage (best effort) and forget the tokens. True if there was one."""
        record = self.find(tenant_id)
        if record is None:
            return False
        try:
            tokens = self._open(record)
            self.oauth.revoke(SecretStr(tokens.refresh_token.get_secret_value()))
        except Exception as exc:  # revoked already, Sage down: the local delete still ends it for us
            logger.warning("revoke_failed", extra={"tenant_id": tenant_id, "error": type(exc).__name__})
        self._connections.delete(tenant_id, self.provider)
        with self._cache_lock:
            self._cache.pop(tenant_id, None)
        logger.info("sage_disconnected", extra={"tenant_id": tenant_id, "provider": self.provider})
        return True


class LeaseRefreshLock:
    """RefreshLock over the store's leases (job `token-refresh-<provider>`)."""

    def __init__(self, leases: Leases) -> None:
        self._leases = leases

    def acquire(self, tenant_id: str, provider: str, owner: str, ttl: timedelta) -> bool:
        try:
            self._leases.acquire(tenant_id, f"token-refresh-{provider}", owner, int(ttl.total_seconds()))
        except ConflictError:
            return False
        return True

    def release(self, tenant_id: str, provider: str, owner: str) -> None:
        try:
            self._leases.release(tenant_id, f"token-refresh-{provider}", owner)
        except (ConflictError, NotFoundError):
            pass  # expired and taken over, or gone: nothing of ours to give back


__all__ = [
    "KEEPALIVE_AFTER",
    "REFRESH_MARGIN",
    "ConnectionService",
    "KeepAliveReport",
    "LeaseRefreshLock",
    "RefreshLock",
    "pack",
    "unpack",
]

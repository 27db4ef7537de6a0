"""Leases (TENANT#t / LEASE#job): one export per tenant at a time. A lease is a conditional put that
succeeds only when nobody holds it or the holder's lease ran out (a crashed worker cannot block a
tenant for longer than the lease). `expires_at` doubles as the TTL, so DynamoDB clears dead leases."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from sagebridge.store import keys
from sagebridge.store.records import Lease
from sagebridge.store.table import Table, delete, epoch_seconds, put, update


class Leases:
    def __init__(self, table: Table) -> None:
        self._table = table

    def acquire(self, tenant_id: str, job: str, owner: str, ttl_seconds: int) -> Lease:
        """Hold `job` for `ttl_seconds`. ConflictError while someone else (or this owner, in another
        invocation) holds an unexpired lease: a lease is never held twice."""
        now = self._table.now()
        expires = _expiry(now, ttl_seconds)
        self._table.write(put(
            {"pk": keys.tenant_pk(tenant_id), "sk": keys.lease_sk(job), "tenant_id": tenant_id,
             "job": job, "owner": owner, "expires_at": expires},
            # TTL deletion lags by up to days: expiry is checked here, not left to TTL.
            condition="attribute_not_exists(pk) OR expires_at <= :now",
            values={":now": epoch_seconds(now)}, what=f"lease {job} of tenant {tenant_id}",
        ))
        return Lease(tenant_id, job, owner, datetime.fromtimestamp(expires, UTC))

    def renew(self, tenant_id: str, job: str, owner: str, ttl_seconds: int) -> Lease:
        """Extend a lease this owner still holds (ConflictError if it lost it)."""
        expires = _expiry(self._table.now(), ttl_seconds)
        self._table.write(update(
            (keys.tenant_pk(tenant_id), keys.lease_sk(job)), set_={"expires_at": expires},
            condition="#owner = :owner", names={"#owner": "owner"}, values={":owner": owner},
            what=f"lease {job} of tenant {tenant_id}",
        ))
        return Lease(tenant_id, job, owner, datetime.fromtimestamp(expires, UTC))

    def release(self, tenant_id: str, job: str, owner: str) -> None:
        """Give the lease back; only its owner can (ConflictError otherwise, also when it is gone)."""
        self._table.write(delete(
            (keys.tenant_pk(tenant_id), keys.lease_sk(job)),
            condition="#owner = :owner", names={"#owner": "owner"}, values={":owner": owner},
            what=f"lease {job} of tenant {tenant_id}",
        ))


def _expiry(now: datetime, ttl_seconds: int) -> int:
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    # Rounded up: a lease may last a fraction of a second longer than asked, never shorter.
    return math.ceil(now.timestamp()) + ttl_seconds

"""Every key of the single app table, one function per key.

Table: `pk`/`sk` (primary), `gsi1pk`/`gsi1sk` (index GSI1), `gsi2pk`/`gsi2sk` (index GSI2), TTL on
`expires_at` (epoch seconds). Everything a tenant owns lives in the partition `TENANT#<t>` so one
Query finds it all (tenant delete, per-tenant listing); the two GSIs are overloaded, each use with
its own partition prefix so the uses never meet:

item              pk / sk                          GSI1 pk / sk                  GSI2 pk / sk
tenant settings   TENANT#t / SETTINGS              TENANTS / t
settings version  TENANT#t / SETTINGS#V#version     (the audit history; store/settings_history.py)
connection        TENANT#t / CONN#provider
disconnected      TENANT#t / CONNGONE#provider       (a reconnect's previous status)
staged document   TENANT#t / DOC#kind#host_id      T#t#DOCS#ledger#POSTED /      T#t#DOCS#ledger#DATED /
                                                   posting_date#kind#host_id     document_date#kind#host_id
id mapping        TENANT#t / MAP#kind#host_id                                    T#t#SAGE#kind#sage_id /
                                                                                 MAP#kind#host_id
export ledger     TENANT#t / LEDGER#kind#host_id   T#t#LEDGER#state (*) /
                                                   updated_at#kind#host_id
sync log          TENANT#t / LOG#run#seq                                         T#t#LOG#kind#host_id / run#seq
run               TENANT#t / RUN#run
cursor            TENANT#t / CURSOR#stream
lease             TENANT#t / LEASE#job
export triggers   TENANT#t / TRIGGERS#export       (triggers waiting for a run; host/triggers.py)
OAuth state       STATE#nonce / STATE
delivery          DELIVERY#event_id / DELIVERY     T#t#DELIVERY#state (*) /      T#t#DELIVERIES / created#event_id
                                                   updated_at#event_id
failure mailed    TENANT#t / MAILED#kind#host_id   (what a failure digest told; store/failure_emails.py)
failure address   FAILURE_EMAIL#address / SUBSCRIPTION   (its SNS subscription and tenants)
(T#t is short for TENANT#t here.)

GSI3 (`gsi3pk`/`gsi3sk`) has one use: staged documents by when they were staged,
T#t#STAGED / staged_at#kind#host_id, so a scheduled run reads what changed since the last run.

(*) sparse: only failed/skipped/in_flight ledger entries and queued/failed deliveries carry the
GSI1 attributes, so "what needs replay" and "what is still to deliver" are small Queries, never Scans.

Names (tenant, kind, ledger, provider, job, stream, run, state) must not contain `#`: they sit in
the middle of keys and a `#` would let one tenant's prefix reach into another's. Ids that come from
outside (host ids, Sage ids, event ids, nonces) are only ever last in a key, so they may hold anything.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime

SEP = "#"
# Sorts after "#" and before every digit: "<date>$" bounds every "<date>#..." sort key from above.
_AFTER_DATE = "$"


def name(value: str, what: str = "name") -> str:
    """A key part that sits between separators: non-empty and free of `#`."""
    if not value or SEP in value:
        raise ValueError(f"{what} must be non-empty and must not contain '#': {value!r}")
    return value


def external_id(value: str, what: str = "id") -> str:
    """An id from outside (host, Sage); only ever the last part of a key, so `#` is harmless."""
    if not value:
        raise ValueError(f"{what} must be non-empty")
    return value


# --- tenant partition --------------------------------------------------------------------------

def tenant_pk(tenant_id: str) -> str:
    """The partition that holds everything a tenant owns."""
    return f"TENANT#{name(tenant_id, 'tenant id')}"


def settings_sk() -> str:
    return "SETTINGS"


def tenants_gsi1pk() -> str:
    """One sparse GSI1 partition of every tenant: the scheduler and token keep-alive list it."""
    return "TENANTS"


def tenants_gsi1sk(tenant_id: str) -> str:
    return name(tenant_id, "tenant id")


def connection_sk(provider: str) -> str:
    """One connection per Sage product per tenant."""
    return f"CONN#{name(provider, 'provider')}"


def disconnected_sk(provider: str) -> str:
    """That the tenant disconnected this product, kept after the connection is forgotten."""
    return f"CONNGONE#{name(provider, 'provider')}"


# --- staged documents --------------------------------------------------------------------------

def document_sk(kind: str, host_id: str) -> str:
    return f"DOC#{name(kind, 'kind')}#{external_id(host_id, 'host id')}"


def documents_prefix(kind: str | None = None) -> str:
    return f"DOC#{name(kind, 'kind')}#" if kind else "DOC#"


def documents_by_posting_date_pk(tenant_id: str, ledger: str) -> str:
    """GSI1: a tenant's documents of one ledger by posting date ("export by posting date")."""
    return f"{tenant_pk(tenant_id)}#DOCS#{name(ledger, 'ledger')}#POSTED"


def documents_by_document_date_pk(tenant_id: str, ledger: str) -> str:
    """GSI2: the same documents by document date ("export by document date")."""
    return f"{tenant_pk(tenant_id)}#DOCS#{name(ledger, 'ledger')}#DATED"


def document_date_sk(on: date, kind: str, host_id: str) -> str:
    """Date first so a date range is one BETWEEN; kind and host id keep the key unique."""
    return f"{on.isoformat()}#{name(kind, 'kind')}#{external_id(host_id, 'host id')}"


def documents_by_staged_at_pk(tenant_id: str) -> str:
    """GSI3: a tenant's staged records (every kind) by when they were last staged or voided."""
    return f"{tenant_pk(tenant_id)}#STAGED"


def staged_at_sk(staged_at: str, kind: str, host_id: str) -> str:
    """`staged_at` is store.table.iso(): fixed-width UTC, so keys sort by time."""
    return f"{staged_at}#{name(kind, 'kind')}#{external_id(host_id, 'host id')}"


def date_range_bounds(start: date, end: date) -> tuple[str, str]:
    """BETWEEN bounds that include every document dated `start` through `end` (both inclusive)."""
    return start.isoformat(), f"{end.isoformat()}{_AFTER_DATE}"


# --- id mappings -------------------------------------------------------------------------------

def mapping_sk(kind: str, host_id: str) -> str:
    return f"MAP#{name(kind, 'kind')}#{external_id(host_id, 'host id')}"


def mappings_prefix(kind: str | None = None) -> str:
    return f"MAP#{name(kind, 'kind')}#" if kind else "MAP#"


def mapping_by_sage_id_pk(tenant_id: str, kind: str, sage_id: str) -> str:
    """GSI2 reverse lookup: Sage id -> host id (payments from Sage name the Sage invoice)."""
    return f"{tenant_pk(tenant_id)}#SAGE#{name(kind, 'kind')}#{external_id(sage_id, 'sage id')}"


# --- export ledger -----------------------------------------------------------------------------

def ledger_sk(kind: str, host_id: str) -> str:
    return f"LEDGER#{name(kind, 'kind')}#{external_id(host_id, 'host id')}"


def ledger_by_state_pk(tenant_id: str, state: str) -> str:
    """Sparse GSI1: entries that need attention (failed, skipped, stuck in flight), by state."""
    return f"{tenant_pk(tenant_id)}#LEDGER#{name(state, 'state')}"


def ledger_by_state_sk(updated_at: str, kind: str, host_id: str) -> str:
    return f"{updated_at}#{name(kind, 'kind')}#{external_id(host_id, 'host id')}"


# --- sync log and runs -------------------------------------------------------------------------

def log_sk(run_id: str, seq: str) -> str:
    """Run ids sort by time, so descending `LOG#` is newest first and `LOG#<run>#` is one run."""
    return f"LOG#{name(run_id, 'run id')}#{name(seq, 'seq')}"


def log_prefix(run_id: str | None = None) -> str:
    return f"LOG#{name(run_id, 'run id')}#" if run_id else "LOG#"


def log_by_document_pk(tenant_id: str, kind: str, host_id: str) -> str:
    """GSI2: one document's history across runs ("why was invoice 123 skipped?")."""
    return f"{tenant_pk(tenant_id)}#LOG#{name(kind, 'kind')}#{external_id(host_id, 'host id')}"


def log_by_document_sk(run_id: str, seq: str) -> str:
    return f"{name(run_id, 'run id')}#{name(seq, 'seq')}"


def run_sk(run_id: str) -> str:
    return f"RUN#{name(run_id, 'run id')}"


def runs_prefix() -> str:
    return "RUN#"


def new_sortable_id(now: datetime) -> str:
    """Time-sortable unique id (ULID-like): UTC millisecond timestamp, then randomness.
    Used for run ids and sync log sequence numbers so sort keys order by time."""
    utc = now.astimezone(UTC)
    return f"{utc:%Y%m%dT%H%M%S}{utc.microsecond // 1000:03d}Z-{secrets.token_hex(5)}"


# --- cursors and leases ------------------------------------------------------------------------

def cursor_sk(stream: str) -> str:
    return f"CURSOR#{name(stream, 'stream')}"


def lease_sk(job: str) -> str:
    return f"LEASE#{name(job, 'job')}"


# --- items outside a tenant partition ----------------------------------------------------------

def oauth_state_pk(nonce: str) -> str:
    """Global: the OAuth callback learns the tenant from the state, not the other way round."""
    return f"STATE#{external_id(nonce, 'nonce')}"


def oauth_state_sk() -> str:
    return "STATE"


def delivery_pk(event_id: str) -> str:
    """Keyed by event id alone so the delivery function's check-before-send is a strongly
    consistent GetItem (a GSI read could be stale and deliver twice)."""
    return f"DELIVERY#{external_id(event_id, 'event id')}"


def delivery_sk() -> str:
    return "DELIVERY"


def deliveries_by_state_pk(tenant_id: str, state: str) -> str:
    """Sparse GSI1: a tenant's delivery backlog (queued or failed), oldest first."""
    return f"{tenant_pk(tenant_id)}#DELIVERY#{name(state, 'state')}"


def deliveries_by_state_sk(updated_at: str, event_id: str) -> str:
    return f"{updated_at}#{external_id(event_id, 'event id')}"


def deliveries_of_tenant_pk(tenant_id: str) -> str:
    """GSI2: every delivery record of a tenant, so deleting a tenant finds them all."""
    return f"{tenant_pk(tenant_id)}#DELIVERIES"


def deliveries_of_tenant_sk(created_at: str, event_id: str) -> str:
    """GSI2's sort key: by when the event was first queued, so a tenant's deliveries list newest first."""
    return f"{created_at}#{external_id(event_id, 'event id')}"

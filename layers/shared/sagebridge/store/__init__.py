"""The only code that touches DynamoDB: one table (keys.py), one repository per aggregate.

    store = Store.from_settings(get_settings())
    claim = store.ledger.claim(tenant, "invoice", "INV-1", idempotency_key=key, payload_hash=h)
    store.transact([store.ledger.mark_exported_op(claim, sage_id),
                    store.mappings.put_op(tenant, "invoice", "INV-1", sage_id),
                    store.synclog.append_op(entry)])

Errors: ConflictError (a condition lost), ThrottledError, NotFoundError (asked for something that
must exist), ConfigurationError (no such table) from sagebridge.domain.errors; StoreError otherwise.
"""

from sagebridge.store.records import (
    Claim,
    ConnectionRecord,
    ConnectionStatus,
    Cursor,
    DateBasis,
    DeliveryRecord,
    DeliveryState,
    IdMapping,
    Lease,
    LedgerEntry,
    LedgerState,
    Outcome,
    RunRecord,
    RunStatus,
    StagedDocument,
    SyncLogEntry,
    TenantRecord,
)
from sagebridge.store.store import Store
from sagebridge.store.table import ClaimConflict, Page, StoreError, Write

__all__ = [
    "Claim",
    "ClaimConflict",
    "ConnectionRecord",
    "ConnectionStatus",
    "Cursor",
    "DateBasis",
    "DeliveryRecord",
    "DeliveryState",
    "IdMapping",
    "Lease",
    "LedgerEntry",
    "LedgerState",
    "Outcome",
    "Page",
    "RunRecord",
    "RunStatus",
    "StagedDocument",
    "Store",
    "StoreError",
    "SyncLogEntry",
    "TenantRecord",
    "Write",
]

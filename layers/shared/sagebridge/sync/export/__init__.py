"""The export engine: staged host records -> Sage, exactly once, with a sync log line for every one.

    result = export_documents(ExportRequest(tenant_id="acme"), store=store, connector=connector,
                              settings=tenant_settings)

One run, in phases so that what a record needs exists before it: parties (catalog export), then
invoices and credit notes, then payments and refunds. Within a phase the staged records are read a
page (100) at a time, with their ledger entries and the mappings they need fetched in one batch per
page, so memory stays flat and DynamoDB sees about two requests per exported document (claim and
commit). Sage reference data (tax rates) is read once per run.

Exactly once (DESIGN.md): claim the ledger entry (conditional, idempotency key = hash of tenant,
kind, host id and payload hash) -> send with Sage's idempotency_id and a reference -> commit the
ledger, the mapping and the log line in one transaction. A claim that finds an earlier attempt
in_flight (a worker died) or failed is uncertain: we look the document up in Sage by reference,
contact and amount first and adopt it if it is there. A timeout on a create is reconciled the same
way before the one resend, which carries the same idempotency_id. A POST is never blindly retried.
A product whose creates are not idempotent (the connector says so) gets no resend after a lookup
that missed: Sage's search may lag the write. The document stays failed in doubt, the host told, and
is sent again only by a run after the product's search has settled and still does not find it.

The steps, one module each: request (what is asked and answered), run (the run record, heartbeat,
cursor) and pages (a page through the steps), select (what a run reads), decide (what happens to
one record), going_live (is it in Sage already?), prepare (checks and bodies), parties and
contact_updates (contacts), documents, in_doubt and lookups (create, update, void exactly once),
allocations (credit notes against invoices), outcomes (the ledger) and journal (log, host, metrics).
"""

from typing import TYPE_CHECKING

from sagebridge.domain.lazy import imported_on_first_use
from sagebridge.sync.export.request import (
    CONTACT_HASH,
    CREDIT_NOTE_ALLOCATION,
    EXPORT_CURSOR,
    LINKED_UNPOLLED_KIND,
    PURCHASE_CREDIT_NOTE_ALLOCATION,
    SAGE_UPDATED_AT,
    ExportHooks,
    ExportRequest,
    ExportResult,
    PlannedOutcome,
    RunAborted,
    idempotency_key,
    void_hash,
)

if TYPE_CHECKING:
    from sagebridge.sync.export.run import ExportEngine, export_documents


# The engine loads on first use: an importer of the request types alone (the export scheduler)
# does not build the engine and the document models at its cold start.
__getattr__ = imported_on_first_use(__name__, dict.fromkeys(("ExportEngine", "export_documents"), f"{__name__}.run"))


__all__ = [
    "CONTACT_HASH",
    "CREDIT_NOTE_ALLOCATION",
    "EXPORT_CURSOR",
    "LINKED_UNPOLLED_KIND",
    "PURCHASE_CREDIT_NOTE_ALLOCATION",
    "SAGE_UPDATED_AT",
    "ExportEngine",
    "ExportHooks",
    "ExportRequest",
    "ExportResult",
    "PlannedOutcome",
    "RunAborted",
    "export_documents",
    "idempotency_key",
    "void_hash",
]

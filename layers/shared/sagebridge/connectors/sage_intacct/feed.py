"""What the payment poller and the catalog import read from Intacct (the `SageFeed` shape of
sync/catalog.py), polled by WHENMODIFIED: the poller reads its cursor minus an overlap, so a
record saved during a poll is read again (and deduplicated by the deliveries store).

resource names are the poller's:
- contact_payments -> ARPYMT (+ ARPYMTDETAIL: which invoice, how much), also one by id (`get`); a
  reversed receipt is reported by `deleted`, so the host hears `invoice.payment_reversed`;
- sales_invoices / sales_credit_notes -> ARINVOICE / ARADJUSTMENT with the receipts applied to
  them in order (so each receipt's outstanding-after is right);
- products / services -> ITEM (inventory / non-inventory), contacts -> CUSTOMER, tax_rates ->
  TAXDETAIL (sales).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sagebridge.connectors.base import NotFound
from sagebridge.connectors.sage_intacct import mapper
from sagebridge.connectors.sage_intacct.connector import IntacctConnector
from sagebridge.domain.kinds import DocumentKind

_DOCUMENTS = {"sales_invoices": DocumentKind.SALES_INVOICE, "sales_credit_notes": DocumentKind.SALES_CREDIT_NOTE}


class IntacctFeed:
    def __init__(self, connector: IntacctConnector) -> None:
        self.connector = connector
        self.client = connector.client

    def _since(self, since: datetime | None) -> str:
        return f"WHENMODIFIED >= {mapper.quoted(mapper.query_timestamp(since))}" if since else ""

    def _payments(self, since: datetime | None) -> list[dict[str, Any]]:
        return list(self.client.read_by_query("ARPYMT", self._since(since)))

    def changed(self, resource: str, since: datetime | None, **filters: Any) -> Iterator[Mapping[str, Any]]:
        if resource == "contact_payments":
            rows = [r for r in self._payments(since) if not mapper.is_voided(r)]
            details = self.connector.payment_details([str(r.get("RECORDNO")) for r in rows])
            return (dict(mapper.payment_record(r, details.get(str(r.get("RECORDNO")), [])).data) for r in rows)
        if resource in ("products", "services"):
            wanted = resource == "services"
            return (dict(mapper.item_record(r).data) for r in self.client.read_by_query("ITEM", self._since(since))
                    if mapper.is_service(r) == wanted)
        if resource == "contacts":
            if filters.get("contact_type_id") not in (None, "CUSTOMER"):
                return iter(())
            return (dict(mapper.customer_record(r).data)
                    for r in self.client.read_by_query("CUSTOMER", self._since(since)))
        if resource == "tax_rates":
            query = " AND ".join(q for q in ("TAXTYPE = 'Sale'", self._since(since)) if q)
            return (dict(mapper.tax_record(mapper.tax_detail(r), r).data)
                    for r in self.client.read_by_query("TAXDETAIL", query))
        return iter(())  # contact_allocations: credit memos applied in Intacct show on TOTALDUE

    def deleted(self, resource: str, since: datetime) -> Iterator[Mapping[str, Any]]:
        if resource != "contact_payments":
            return iter(())
        return ({"id": str(r.get("RECORDNO")), "deleted_at": mapper.timestamp_of(r.get("WHENMODIFIED"))}
                for r in self._payments(since) if mapper.is_voided(r))

    def get(self, resource: str, sage_id: str) -> Mapping[str, Any]:
        if resource == "contact_payments":  # one receipt, as `changed` lists it
            rows = [r for r in self.client.read_by_query("ARPYMT", f"RECORDNO = {mapper.quoted(sage_id)}")
                    if not mapper.is_voided(r)]
            if not rows:
                raise NotFound(f"receipt {sage_id} is not in Sage Intacct (or was reversed)", status=404)
            details = self.connector.payment_details([sage_id])
            return dict(mapper.payment_record(rows[0], details.get(sage_id, [])).data)
        kind = _DOCUMENTS.get(resource)
        if kind is None:
            raise NotFound(f"{resource} is not read from Sage Intacct", status=404)
        data = dict(self.connector.get_document(kind, sage_id).data)
        applied = self.client.read_by_query("ARPYMTDETAIL", f"RECORDKEY = {mapper.quoted(sage_id)}")
        data["payments_allocations"] = [
            {"amount": abs(mapper.decimal_of(d.get("TRX_PAYMENTAMOUNT"))),
             "contact_payment": {"id": str(d.get("PAYMENTKEY"))}}
            for d in sorted(applied, key=lambda d: int(d.get("RECORDNO") or 0))
        ]
        return data


__all__ = ["IntacctFeed"]

"""Valid v3.1 request bodies built from a business's seeded ids, for tests and the demo."""

from __future__ import annotations

from typing import Any


def invoice_line(ids: dict[str, str], unit_price: float = 100.0, quantity: float = 1, *,
                 tax_rate_id: str = "GB_STANDARD", tax_amount: float | None = None, ledger: str = "4000",
                 description: str = "Service visit", **extra: Any) -> dict[str, Any]:
    """A line; ``tax_amount`` defaults to what Sage computes (20% of the net for GB_STANDARD...)."""
    rates = {"GB_STANDARD": 20, "GB_LOWER": 5}
    net = round(quantity * unit_price - float(extra.get("discount_amount", 0)), 2)
    line = {"description": description, "ledger_account_id": ids[ledger], "quantity": quantity,
            "unit_price": unit_price, "tax_rate_id": tax_rate_id, **extra}
    if tax_amount is not None:
        line["tax_amount"] = tax_amount
    elif tax_rate_id in rates:
        line["tax_amount"] = round(net * rates[tax_rate_id] / 100 + 1e-9, 2)
    return line


def sales_invoice(ids: dict[str, str], reference: str = "INV-1001", *, customer: str = "ACME001",
                  date: str = "2025-03-01", lines: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"sales_invoice": {"contact_id": ids[customer], "date": date, "reference": reference,
                              "invoice_lines": lines or [invoice_line(ids)], **extra}}


def sales_credit_note(ids: dict[str, str], reference: str = "CN-1001", *, customer: str = "ACME001",
                      date: str = "2025-03-01", lines: list[dict[str, Any]] | None = None,
                      **extra: Any) -> dict[str, Any]:
    return {"sales_credit_note": {"contact_id": ids[customer], "date": date, "reference": reference,
                                  "credit_note_lines": lines or [invoice_line(ids)], **extra}}


def purchase_invoice(ids: dict[str, str], reference: str = "PINV-1", *, supplier: str = "DUNMORE",
                     date: str = "2025-03-01", due_date: str = "2025-03-31",
                     lines: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"purchase_invoice": {"contact_id": ids[supplier], "date": date, "due_date": due_date,
                                 "reference": reference, "vendor_reference": reference,
                                 "invoice_lines": lines or [invoice_line(ids, ledger="5000",
                                                                         description="Parts")], **extra}}


def purchase_credit_note(ids: dict[str, str], reference: str = "PCN-1", *, supplier: str = "DUNMORE",
                         date: str = "2025-03-01", **extra: Any) -> dict[str, Any]:
    return {"purchase_credit_note": {"contact_id": ids[supplier], "date": date, "reference": reference,
                                     "credit_note_lines": [invoice_line(ids, ledger="5000",
                                                                        description="Returned parts")], **extra}}


def customer_receipt(ids: dict[str, str], allocations: list[tuple[str, float]], *, customer: str = "ACME001",
                     date: str = "2025-03-05", total: float | None = None, **extra: Any) -> dict[str, Any]:
    """A customer payment allocated to (artefact id, amount) pairs."""
    return {"contact_payment": {
        "transaction_type_id": "CUSTOMER_RECEIPT", "contact_id": ids[customer], "bank_account_id": ids["bank"],
        "date": date, "total_amount": total if total is not None else round(sum(a for _, a in allocations), 2),
        "allocated_artefacts": [{"artefact_id": i, "amount": a} for i, a in allocations], **extra}}


def customer(name: str = "Fernhill Autos", reference: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "contact_type_ids": ["CUSTOMER"], **extra}
    if reference is not None:
        body["reference"] = reference
    return {"contact": body}

"""The canonical domain: what the host app sends, the money and validation rules, and the sync log
types every layer speaks. Imports nothing else of ours."""

# The names below load on first use (PEP 562): `import sagebridge.domain.runs` (the store does) must
# not build every document and payment model for a function that never reads one (cold start).
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sagebridge.domain.base import InboundModel, describe_problems
    from sagebridge.domain.catalog import Item, ItemType, TaxRate
    from sagebridge.domain.documents import (
        AnyDocument,
        Document,
        DocumentLine,
        ExtraTax,
        PurchaseCreditNote,
        PurchaseInvoice,
        SalesCreditNote,
        SalesInvoice,
        TaxMode,
    )
    from sagebridge.domain.hashing import canonical_json, payload_hash
    from sagebridge.domain.kinds import (
        ALL_RECORD_KINDS,
        DateBasis,
        DocumentKind,
        PartyKind,
        RecordKind,
        ledger_of,
        record_kind,
    )
    from sagebridge.domain.money import (
        CENT,
        TOLERANCE,
        Amount,
        Totals,
        line_net,
        line_tax,
        round_money,
        sum_money,
        to_decimal,
        totals_of,
        within_tolerance,
    )
    from sagebridge.domain.parties import Address, Customer, Party, Vendor
    from sagebridge.domain.payments import Allocation, CustomerPayment, CustomerRefund, Payment
    from sagebridge.domain.records import MODEL_FOR_KIND, HostRecord, parse_host_record
    from sagebridge.domain.runs import (
        LEDGER_MOVES,
        ExportOutcome,
        ExportRun,
        LedgerState,
        RunTrigger,
        SyncLogEntry,
        can_move,
    )
    from sagebridge.domain.settings import (
        CatalogImport,
        ExportType,
        IdentifyCustomerBy,
        Provider,
        TenantSettings,
        parse_tenant_settings,
    )
    from sagebridge.domain.validation import (
        SkipCode,
        SkipReason,
        computed_totals,
        document_skip_reasons,
        payment_skip_reasons,
    )

_HOME = {  # name -> the module of this package that defines it
    "ALL_RECORD_KINDS": "kinds",
    "Address": "parties",
    "Allocation": "payments",
    "Amount": "money",
    "AnyDocument": "documents",
    "CENT": "money",
    "CatalogImport": "settings",
    "Customer": "parties",
    "CustomerPayment": "payments",
    "CustomerRefund": "payments",
    "DateBasis": "kinds",
    "Document": "documents",
    "DocumentKind": "kinds",
    "DocumentLine": "documents",
    "ExportOutcome": "runs",
    "ExportRun": "runs",
    "ExportType": "settings",
    "ExtraTax": "documents",
    "HostRecord": "records",
    "IdentifyCustomerBy": "settings",
    "InboundModel": "base",
    "Item": "catalog",
    "ItemType": "catalog",
    "LEDGER_MOVES": "runs",
    "LedgerState": "runs",
    "MODEL_FOR_KIND": "records",
    "Party": "parties",
    "PartyKind": "kinds",
    "Payment": "payments",
    "Provider": "settings",
    "PurchaseCreditNote": "documents",
    "PurchaseInvoice": "documents",
    "RecordKind": "kinds",
    "RunTrigger": "runs",
    "SalesCreditNote": "documents",
    "SalesInvoice": "documents",
    "SkipCode": "skips",
    "SkipReason": "skips",
    "SyncLogEntry": "runs",
    "TOLERANCE": "money",
    "TaxMode": "documents",
    "TaxRate": "catalog",
    "TenantSettings": "settings",
    "Totals": "money",
    "Vendor": "parties",
    "can_move": "runs",
    "canonical_json": "hashing",
    "computed_totals": "validation",
    "describe_problems": "base",
    "document_skip_reasons": "validation",
    "ledger_of": "kinds",
    "line_net": "money",
    "line_tax": "money",
    "parse_host_record": "records",
    "parse_tenant_settings": "settings",
    "payload_hash": "hashing",
    "payment_skip_reasons": "validation",
    "record_kind": "kinds",
    "round_money": "money",
    "sum_money": "money",
    "to_decimal": "money",
    "totals_of": "money",
    "within_tolerance": "money",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ALL_RECORD_KINDS",
    "CENT",
    "LEDGER_MOVES",
    "MODEL_FOR_KIND",
    "TOLERANCE",
    "Address",
    "Allocation",
    "Amount",
    "AnyDocument",
    "CatalogImport",
    "Customer",
    "CustomerPayment",
    "CustomerRefund",
    "DateBasis",
    "Document",
    "DocumentKind",
    "DocumentLine",
    "ExportOutcome",
    "ExportRun",
    "ExportType",
    "ExtraTax",
    "HostRecord",
    "IdentifyCustomerBy",
    "InboundModel",
    "Item",
    "ItemType",
    "LedgerState",
    "Party",
    "PartyKind",
    "Payment",
    "Provider",
    "PurchaseCreditNote",
    "PurchaseInvoice",
    "RecordKind",
    "RunTrigger",
    "SalesCreditNote",
    "SalesInvoice",
    "SkipCode",
    "SkipReason",
    "SyncLogEntry",
    "TaxMode",
    "TaxRate",
    "TenantSettings",
    "Totals",
    "Vendor",
    "can_move",
    "canonical_json",
    "computed_totals",
    "describe_problems",
    "document_skip_reasons",
    "ledger_of",
    "line_net",
    "line_tax",
    "parse_host_record",
    "parse_tenant_settings",
    "payload_hash",
    "payment_skip_reasons",
    "record_kind",
    "round_money",
    "sum_money",
    "to_decimal",
    "totals_of",
    "within_tolerance",
]

"""A tenant's settings: which Sage, what exports when, and how host codes map onto Sage's ids.

Unknown settings are errors that name the setting; a mapping to an empty Sage id names its key.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from sagebridge.domain.base import describe_problems
from sagebridge.domain.errors import ConfigurationError
from sagebridge.domain.fields import CurrencyCode, Email, HostStatus, host_status_key
from sagebridge.domain.kinds import ALL_RECORD_KINDS, DateBasis, PartyKind, RecordKind, ledger_of


class Provider(StrEnum):
    SAGE_ACCOUNTING = "sage_accounting"
    SAGE_INTACCT = "sage_intacct"
    SAGE_200 = "sage200"
    SAGE_REGIONAL = "sage_regional"  # Sage Business Cloud Accounting, regional API v2.0.0 (AU/NZ/ZA/Asia)


class ExportType(StrEnum):
    NEW = "new"  # never re-send what was exported
    ALL = "all"  # re-send everything in the window (updates what Sage has)


# Statuses a host gives documents that are not (yet, or any more) in the books. A document in one of
# them never reaches Sage unless the tenant lists exportable statuses of its own. Host statuses are
# compared in one spelling (host_status_key): "Cancelled", "cancelled" and "CANCELLED" are one.
NOT_EXPORTABLE_BY_DEFAULT = frozenset({"draft", "quote", "estimate", "cancelled", "canceled"})


class IdentifyCustomerBy(StrEnum):
    """How to find an existing Sage customer before creating one."""

    NONE = "none"
    NAME = "name"
    EMAIL = "email"


def _non_empty_key(value: str) -> str:
    if not value.strip():
        raise ValueError("a host code cannot be empty")
    return value.strip()


def _maps_to_something(value: str) -> str:
    if not value.strip():
        raise ValueError("maps to nothing: give the Sage id it stands for")
    return value.strip()


def _http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value.strip()


HostCode = Annotated[str, AfterValidator(_non_empty_key)]
MappedSageId = Annotated[str, AfterValidator(_maps_to_something)]
OptionalSageId = Annotated[str, Field(min_length=1)] | None
Url = Annotated[str, AfterValidator(_http_url)]


class CatalogImport(BaseModel):
    """What to bring from Sage into the host app."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    items: bool = False
    tax_rates: bool = False
    customers: bool = False


class IntacctSettings(BaseModel):
    """Sage Intacct only: the dimensions every document line posts with, and the invoice (and bill)
    custom field that carries the host's location (as Zuper does). Ids are the company's own (LOCATIONID...)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    location_id: OptionalSageId = None  # LOCATIONID on every line (required in multi-entity companies)
    department_id: OptionalSageId = None  # DEPARTMENTID on every line
    class_id: OptionalSageId = None  # CLASSID on every line
    location_custom_field: OptionalSageId = None  # e.g. HOST_LOCATION: a text custom field on invoices
    # The same on AP bills: Intacct defines each custom field on one object, so APBILL's has its own name.
    bill_location_custom_field: OptionalSageId = None
    host_location: Annotated[str, Field(min_length=1, max_length=200)] | None = None  # its value
    # Host tax code -> TAXDETAIL id with TAXTYPE Purchase: where a bill's or vendor credit memo's
    # input tax posts (tax_mappings name the Sale details, whose GL account is output tax).
    purchase_tax_mappings: dict[HostCode, MappedSageId] = Field(default_factory=dict)


class TenantSettings(BaseModel):
    # Sage 200 ids are numbers; a CLI or JSON caller sending 2 for "2" means the id, not an error.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, coerce_numbers_to_str=True)

    provider: Provider
    customer_date_basis: DateBasis = DateBasis.POSTING
    vendor_date_basis: DateBasis = DateBasis.POSTING
    export_kinds: frozenset[RecordKind] = ALL_RECORD_KINDS
    # The statuses a document may be sent to Sage in (by any run). None: every status except
    # NOT_EXPORTABLE_BY_DEFAULT.
    exportable_statuses: Annotated[frozenset[HostStatus], Field(min_length=1)] | None = None
    # Checked even when left at its default: exportable_statuses must not leave the default out.
    trigger_statuses: frozenset[HostStatus] = Field(default=frozenset({"pending_payment"}), validate_default=True)
    identify_customer_by: IdentifyCustomerBy = IdentifyCustomerBy.NONE
    tax_mappings: dict[HostCode, MappedSageId] = Field(default_factory=dict)  # tax code -> Sage tax rate
    ledger_mappings: dict[HostCode, MappedSageId] = Field(default_factory=dict)  # -> Sage ledger account
    default_sales_ledger_account_id: OptionalSageId = None
    default_purchase_ledger_account_id: OptionalSageId = None
    receipt_bank_account_id: OptionalSageId = None
    receipt_payment_method: OptionalSageId = None
    # At least 5: each run costs Sage API calls, and Sage rate-limits per business.
    export_interval_minutes: int = Field(default=15, ge=5, le=1440)
    export_type: ExportType = ExportType.NEW
    retry_limit: int = Field(default=3, ge=0, le=10)
    # How far the host's document totals may differ from the totals Sage computes from the lines
    # (docs/operations.md). 0: any difference, even a penny, is a skip that names both figures.
    total_tolerance: Decimal = Field(default=Decimal("0"), ge=0, le=1, decimal_places=2)
    catalog_import: CatalogImport = CatalogImport()
    replace_host_tax_types: bool = False  # the host's tax types become Sage's
    host_callback_url: Url | None = None
    notification_email: Email | None = None
    intacct: IntacctSettings | None = None  # provider sage_intacct only
    # The business's base currency (ISO 4217). None: read from Sage (cached an hour per container).
    # Set it when Sage cannot say (an Intacct company-level login) or to override what it says.
    business_currency: CurrencyCode | None = None

    def date_basis_for(self, kind: RecordKind) -> DateBasis:
        ledger = ledger_of(kind)
        return self.customer_date_basis if ledger is PartyKind.CUSTOMER else self.vendor_date_basis

    def exports(self, kind: RecordKind) -> bool:
        return kind in self.export_kinds

    def is_trigger_status(self, status: str) -> bool:
        return host_status_key(status) in self.trigger_statuses and self.is_exportable_status(status)

    def is_exportable_status(self, status: str) -> bool:
        key = host_status_key(status)
        if self.exportable_statuses is None:
            return key not in NOT_EXPORTABLE_BY_DEFAULT
        return key in self.exportable_statuses

    @field_validator("trigger_statuses")
    @classmethod
    def _triggers_are_exportable(cls, value: frozenset[str], info: ValidationInfo) -> frozenset[str]:
        exportable = info.data.get("exportable_statuses")
        never = sorted(s for s in value if (s in NOT_EXPORTABLE_BY_DEFAULT if exportable is None
                                             else s not in exportable))
        if never:
            listed = ("the default" if exportable is None
                      else f"exportable_statuses is {', '.join(sorted(exportable))}")
            raise ValueError(f"{', '.join(never)} is not an exportable status ({listed}), so a document reaching "
                             "it could never be exported; add it to exportable_statuses or remove it from "
                             f"trigger_statuses (which is {', '.join(sorted(value))})")
        return value

    def exportable_trigger_statuses(self) -> frozenset[str]:
        """The trigger statuses a document is exported in (all of them, unless settings saved before
        the check above say otherwise)."""
        return frozenset(s for s in self.trigger_statuses if self.is_exportable_status(s))

    def ledger_account_for(self, kind: RecordKind, ledger_code: str | None) -> str | None:
        """The Sage ledger account a line posts to: its mapping, else the ledger's default."""
        if ledger_code is not None and ledger_code in self.ledger_mappings:
            return self.ledger_mappings[ledger_code]
        if ledger_of(kind) is PartyKind.VENDOR:
            return self.default_purchase_ledger_account_id
        return self.default_sales_ledger_account_id


def parse_tenant_settings(data: Mapping[str, Any]) -> TenantSettings:
    """Validate settings, raising ConfigurationError that names every bad field at once."""
    try:
        return TenantSettings.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigurationError("tenant settings: " + "; ".join(describe_problems(exc))) from None

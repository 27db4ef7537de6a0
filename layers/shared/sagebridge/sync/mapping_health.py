"""Whether a tenant's mappings still point at usable Sage records, judged without asking Sage: the
export engine applies it before sending (a document using a problem is skipped with its reason) and
the operators' mapping health check applies it to what it read from Sage."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel

from sagebridge.connectors.base import CheckedMapping, RemoteRecord
from sagebridge.domain.kinds import DocumentKind, PartyKind, RecordKind, ledger_of
from sagebridge.domain.settings import TenantSettings

ProblemKind = Literal["missing", "inactive", "not_set", "not_usable"]


class MappingProblem(BaseModel):
    setting: str  # the setting's path, as in the settings: "tax_mappings.S", "receipt_bank_account_id"
    sage_id: str | None = None  # None: not set
    problem: ProblemKind
    message: str


def mapped_ids(settings: TenantSettings) -> Iterator[tuple[str, str, str]]:
    """(setting path, sage id, what it is: tax_rate | ledger_account | bank_account) of every mapping."""
    for code, sage_id in sorted(settings.tax_mappings.items()):
        yield f"tax_mappings.{code}", sage_id, "tax_rate"
    for code, sage_id in sorted(settings.ledger_mappings.items()):
        yield f"ledger_mappings.{code}", sage_id, "ledger_account"
    for name in ("default_sales_ledger_account_id", "default_purchase_ledger_account_id"):
        if (value := getattr(settings, name)) is not None:
            yield name, value, "ledger_account"
    if settings.receipt_bank_account_id is not None:
        yield "receipt_bank_account_id", settings.receipt_bank_account_id, "bank_account"


def settings_map(settings: TenantSettings, path: str) -> Mapping[str, str]:
    """The host code -> Sage id map at a dotted settings path ("intacct.purchase_tax_mappings"):
    {} when the product's settings are not set."""
    value: Any = settings
    for name in path.split("."):
        value = getattr(value, name, None)
        if value is None:
            return {}
    return value if isinstance(value, Mapping) else {}


def declared_ids(settings: TenantSettings, declared: Sequence[CheckedMapping]) -> Iterator[tuple[str, str, str]]:
    """(setting path, sage id, what it is) of every mapping in a product's own maps (the shared
    maps' are `mapped_ids`')."""
    shared = {"tax_mappings", "ledger_mappings"}
    for check in declared:
        if check.setting not in shared:
            for code, sage_id in sorted(settings_map(settings, check.setting).items()):
                yield f"{check.setting}.{code}", sage_id, check.points_at


_WORDS = {"tax_rate": "tax rate", "ledger_account": "ledger account", "bank_account": "bank account"}


# Settings a kind of record cannot go without (documents fall back on the default ledger accounts).
_NEEDED: tuple[tuple[str, str, frozenset[RecordKind]], ...] = (
    ("default_sales_ledger_account_id", "a default sales ledger account",
     frozenset({DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE})),
    ("default_purchase_ledger_account_id", "a default purchase ledger account",
     frozenset({DocumentKind.PURCHASE_INVOICE, DocumentKind.PURCHASE_CREDIT_NOTE})),
    ("receipt_bank_account_id", "a bank account for receipts and refunds",
     frozenset({DocumentKind.CUSTOMER_PAYMENT, DocumentKind.CUSTOMER_REFUND})),
)


def mapping_problems(settings: TenantSettings, known: Mapping[str, Mapping[str, RemoteRecord]], *,
                     unsupported: frozenset[RecordKind] = frozenset(),
                     declared: Sequence[CheckedMapping] = ()) -> list[MappingProblem]:
    """The health check's judgement, without asking Sage: `known` is what = tax_rate | ledger_account
    | bank_account -> {id: record} (the export engine reads them once a run and skips what uses a
    problem). Also a default ledger account or receipt bank account the exported kinds need and that
    is not set, and what the product `declared` of its own maps (`Connector.checked_mappings`)."""
    problems = []
    for setting, what, kinds in _NEEDED:
        # A default only the product's unsupported kinds would use is not missing (Intacct: no purchases).
        if getattr(settings, setting) is None and (settings.export_kinds - unsupported) & kinds:
            problems.append(MappingProblem(setting=setting, problem="not_set",
                                           message=f"{setting} is not set: documents that need {what} "
                                                   "are skipped"))
    exported = settings.export_kinds - unsupported
    for setting, sage_id, what in mapped_ids(settings):
        if what not in known:
            continue
        judged = _judge_mapped(setting, sage_id, what, known[what].get(sage_id), exported)
        if judged is not None:
            problem, message = judged
            problems.append(MappingProblem(setting=setting, sage_id=sage_id, problem=problem, message=message))
    for check in declared:
        if check.used_by & exported and check.points_at in known:
            problems += _declared_problems(settings, check, known[check.points_at], exported,
                                           already={p.setting for p in problems})
    return problems


def _declared_problems(settings: TenantSettings, check: CheckedMapping, records: Mapping[str, RemoteRecord],
                       exported: frozenset[RecordKind], already: set[str]) -> list[MappingProblem]:
    """A product's own map (`check.setting`): ids not in Sage, inactive or of the wrong type, and
    codes it lacks that `check.codes_of` maps to a taxed rate; for a shared map, the wrong type only
    (its gone and inactive ids are the shared check's)."""
    problems = []
    entries = settings_map(settings, check.setting)
    for code, sage_id in sorted(entries.items()):
        setting, found = f"{check.setting}.{code}", records.get(sage_id)
        if setting in already:
            continue
        judged = _judge_mapped(setting, sage_id, check.points_at, found, exported)
        if judged is None and found is not None and check.type_field is not None:
            kind = found.text(check.type_field)
            if kind is not None and kind not in check.types:
                judged = "not_usable", (f"{setting} points at {_WORDS[check.points_at]} "
                                        f"{found.display_name or sage_id!r}, {check.wrong_type}: documents using it "
                                        "are skipped")
        if judged is not None:
            problem, message = judged
            problems.append(MappingProblem(setting=setting, sage_id=sage_id, problem=problem, message=message))
    if check.codes_of is not None:
        for code, sage_id in sorted(settings_map(settings, check.codes_of).items()):
            if code not in entries and _taxed(records.get(sage_id)):
                setting = f"{check.setting}.{code}"
                problems.append(MappingProblem(
                    setting=setting, problem="not_set",
                    message=f"{setting} is not set, though {check.codes_of}.{code} is taxed: "
                            f"{' and '.join(sorted(k.value.replace('_', ' ') + 's' for k in check.used_by & exported))}"
                            f" with tax code {code!r} are skipped"))
    return problems


def _taxed(found: RemoteRecord | None) -> bool:
    """A rate above zero (one gone from Sage is the shared check's to report)."""
    try:
        return found is not None and Decimal(found.text("percentage") or "1") != 0
    except InvalidOperation:
        return True


def _judge_mapped(setting: str, sage_id: str, what: str, found: RemoteRecord | None,
                  exported: frozenset[RecordKind]) -> tuple[ProblemKind, str] | None:
    """What is wrong with one mapping, given the Sage record it points at (None: not in Sage)."""
    word = _WORDS[what]
    if found is None:
        return "missing", (f"{setting} points at {word} {sage_id!r}, which is not in Sage "
                           "(deleted, or from another business)")
    name = found.display_name or sage_id
    if not found.active:
        return "inactive", (f"{setting} points at {word} {name!r}, which is inactive in Sage: "
                            "documents using it will be skipped")
    if what == "ledger_account" and (why := _not_usable(setting, found, exported)):
        return "not_usable", (f"{setting} points at ledger account {name!r}: {why}; documents "
                              "using it will be skipped")
    return None


# The ledger whose documents post to each default ledger account setting.
_SIDE_OF_DEFAULT = {"default_sales_ledger_account_id": PartyKind.CUSTOMER,
                    "default_purchase_ledger_account_id": PartyKind.VENDOR}


def _not_usable(setting: str, found: RemoteRecord, exported: frozenset[RecordKind]) -> str | None:
    """Why a ledger account cannot take the lines of the documents this setting serves (its
    connector says per ledger), or None. A code's mapping may serve either side: a problem only
    when no exported side can use it (a document on the side that cannot is skipped when sent)."""
    side = _SIDE_OF_DEFAULT.get(setting)
    sides = {side} if side is not None else {ledger_of(k) for k in exported if k in _LINE_KINDS}
    whys = [found.unusable_for[s.value] for s in sorted(sides) if s.value in found.unusable_for]
    return "; ".join(whys) if sides and len(whys) == len(sides) else None


_LINE_KINDS = frozenset({DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.PURCHASE_INVOICE,
                         DocumentKind.PURCHASE_CREDIT_NOTE})


__all__ = ["MappingProblem", "declared_ids", "mapped_ids", "mapping_problems", "settings_map"]

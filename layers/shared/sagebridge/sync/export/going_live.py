"""Going live: a document Sage Bridge never exported may be in Sage already (typed in by hand
before the connector, or history the host sends after the first run). It is looked for before
every create: linked when it is the same, skipped with a reason when Sage's copy differs or sits
on another contact, never entered twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from sagebridge.connectors.base import RemoteRecord
from sagebridge.domain.documents import Document
from sagebridge.domain.kinds import DocumentKind, PartyKind, ledger_of
from sagebridge.domain.payments import Payment
from sagebridge.domain.validation import SkipCode, SkipReason
from sagebridge.sync.export.context import STAND_IN_ID, ExportRun, Skip, date_of, label
from sagebridge.sync.export.lookups import SageLookups
from sagebridge.sync.export.parties import NEW_CONTACT, Parties
from sagebridge.sync.export.prepare import Preparation
from sagebridge.sync.export.request import EARLIEST, LATEST

# A stand-in contact id to build a body's reference and total before the contact is known.
CONTACT_STAND_IN = STAND_IN_ID
# Sage dates a document by its document date; a posting-date window may reach this much further.
POSTING_DATE_REACH = timedelta(days=62)


class GoingLive:
    """Sage's documents, listed once per kind (first run) or per kind and day, by reference."""

    def __init__(self, run: ExportRun, preparation: Preparation, parties: Parties, lookups: SageLookups) -> None:
        self.run = run
        self.preparation = preparation
        self.parties = parties
        self.lookups = lookups
        self._existing: dict[DocumentKind, dict[str, list[RemoteRecord]]] = {}
        self._listed: set[tuple[DocumentKind, date | None]] = set()  # listings done (None: the whole window)

    def check_before_create(self, record: Document[Any] | Payment) -> tuple[Skip | None, list[RemoteRecord]]:
        """Is this never-exported record in Sage already? A reason to skip it (a twin on another
        contact, a copy whose figures differ), and Sage's copies that match it. Looked up before the
        contact is resolved, so a twin on a contact Sage Bridge did not map is skipped without
        creating a second contact. The contact changes neither reference nor total: a stand-in id
        builds them."""
        built = self.preparation.build(record, CONTACT_STAND_IN)
        assert built is not None and not isinstance(built, Skip)
        kind, reference, total = DocumentKind(record.kind), built[1], built[2]
        existing = self.find_existing(kind, reference, total, date_of(record))
        skip = self._twin_elsewhere(record, existing) or (
            None if existing else self._differing_copy(record, kind, reference, total))
        return skip, existing

    def find_existing(self, kind: DocumentKind, reference: str, total: Any, on: date | None) -> list[RemoteRecord]:
        """Every Sage document with this reference, total and date, on any contact (the caller picks
        the one on its contact, or refuses a twin on another). The first run (a big first export)
        lists the kind once for its window; later runs list one day at a time, the document's date,
        once per kind and day, so a run of today's documents costs one request per kind, not one
        per document."""
        lister = getattr(self.run.connector, "list_documents", None)
        if lister is None or (on is None and not self.run.adopt):
            return self.lookups.all(kind, reference, None, total, on)
        index = self._existing.setdefault(kind, {})
        if (kind, None) in self._listed:
            pass
        elif self.run.adopt:
            start, end = self.run.result.window or (EARLIEST, LATEST)
            low = None if start == EARLIEST else start - POSTING_DATE_REACH
            high = None if end == LATEST else end + POSTING_DATE_REACH
            _index(index, lister(kind, from_date=low, to_date=high))
            self._listed.add((kind, None))
        elif (kind, on) not in self._listed:
            _index(index, lister(kind, from_date=on, to_date=on))
            self._listed.add((kind, on))
        return [remote for remote in index.get(reference, []) if self.run.mapper.is_same_document(
            remote, reference=reference, contact_id=None, total=total, on=on)]

    def _twin_elsewhere(self, record: Document[Any] | Payment, existing: list[RemoteRecord]) -> Skip | None:
        """A Sage document with this one's reference, total and date on a contact that is not (or
        would not be) this record's: creating it would post it twice, linking it could post it to
        the wrong customer. Skipped, naming the Sage document, before any contact is created."""
        mapper = self.run.mapper
        existing = [r for r in existing if mapper.remote_status(r) != "VOID"]  # a void copy is not in the books
        if not existing:
            return None
        contact = self.parties.known_contact(record)
        if contact is None or any(mapper.remote_contact_id(r) in (None, contact) for r in existing):
            return None  # no party to judge by (skipped for that), or the same contact: linked later
        twin = existing[0]
        why, fix = _why_not_linked(record, contact)
        return Skip([SkipReason(
            code=SkipCode.ALREADY_IN_SAGE_ON_ANOTHER_CONTACT, field="party_id",
            message=f"{label(record)}: Sage already has {twin.reference or twin.id} (Sage id {twin.id}) with the "
            f"same reference, total and date on contact {self._contact_name(twin)}, but {why}; not sent, so "
            f"it is not entered twice. {fix}; if it is a different document, give it another number in the host "
            f"app")])

    def hand_entered_copy(self, record: Document[Any] | Payment, *, voided: bool = False) -> Skip | None:
        """The other way round: the host voided this document (or it is in a status that is not
        exportable) before Sage Bridge ever exported it, yet Sage holds a live document under its
        number and date, typed in by the accountant. Not Sage Bridge's to void, but the books
        differ: skipped with a reason naming the Sage copy, and the host told (model N4). One
        listing per kind and day, as going live costs; payments are left alone."""
        if not isinstance(record, Document):
            return None
        built = self.preparation.build(record, CONTACT_STAND_IN)
        if built is None or isinstance(built, Skip):
            return None  # cannot say what its number would be in Sage
        kind, reference, on = DocumentKind(record.kind), built[1], date_of(record)
        self.find_existing(kind, reference, built[2], on)
        copies = self._same_number(kind, reference, on)
        if not copies:
            return None
        copy = copies[0]
        state = "was voided" if voided else f"is {record.status} (not exportable)"
        return Skip([SkipReason(
            code=SkipCode.IN_SAGE_BY_HAND, field="status",
            message=f"{label(record)} {state} in the host app and Sage Bridge never exported it, but Sage holds "
            f"{copy.reference or copy.id} (Sage id {copy.id}, total {self.run.mapper.remote_total(copy)}) on "
            f"contact {self._contact_name(copy)}, entered there by hand. Sage Bridge leaves that copy as it is: "
            "void it in Sage if it should not be in the books")])

    def _differing_copy(self, record: Document[Any] | Payment, kind: DocumentKind, reference: str,
                        total: Any) -> Skip | None:
        """Sage has a live document under this one's reference and date whose figures differ
        (entered by hand, then changed in the host app). Creating ours would enter it twice under
        one number; linking would keep Sage's figures. Skipped, both totals named, for the
        accountant to decide. Read from the listing `find_existing` made (no request of its own);
        payments are left alone (their references are the host's, not a document number)."""
        if not isinstance(record, Document):
            return None
        copies = self._same_number(kind, reference, date_of(record))
        if not copies:
            return None
        copy = copies[0]
        return Skip([SkipReason(
            code=SkipCode.ALREADY_IN_SAGE_DIFFERENT, field="totals",
            message=f"{label(record)}: Sage already has {copy.reference or copy.id} (Sage id {copy.id}) dated "
            f"{date_of(record)} on contact {self._contact_name(copy)}, with a total of "
            f"{self.run.mapper.remote_total(copy)} where the host app says {total}; not sent, so the document is "
            "not entered twice under one number. If it is the same document, correct or void the copy in Sage "
            "(then replay it); if it is a different one, give it another number in the host app")])

    def _same_number(self, kind: DocumentKind, reference: str, on: date) -> list[RemoteRecord]:
        """Live Sage documents of this kind under this reference and date, whatever their total or
        contact, from the listing `find_existing` made."""
        mapper = self.run.mapper
        return [r for r in self._existing.get(kind, {}).get(reference, [])
                if mapper.remote_status(r) != "VOID"
                # any total (its own): the same number on the same day
                and mapper.is_same_document(r, reference=reference, contact_id=None, total=mapper.remote_total(r),
                                            on=on)]

    def _contact_name(self, remote: RemoteRecord) -> str:
        name = self.run.mapper.remote_contact_name(remote)
        contact_id = self.run.mapper.remote_contact_id(remote)
        return f"'{name}' (Sage id {contact_id})" if name else f"Sage id {contact_id}"


def _why_not_linked(record: Document[Any] | Payment, contact: str) -> tuple[str, str]:
    """Why Sage's twin on another contact is not linked, and what the accountant can do."""
    party = f"{'vendor' if ledger_of(record.kind) is PartyKind.VENDOR else 'customer'} {record.party_id}"
    if contact == NEW_CONTACT:
        return (f"{party} is not linked to that contact and would be created as a new one",
                "If it is the same document, let Sage Bridge find the existing contact (tenant setting "
                "identify_customer_by = name or email, with the same name or email in the host app) and replay it")
    return (f"{party} is linked to another Sage contact (Sage id {contact})",
            f"If it is the same document, delete or void the copy in Sage and replay it (it is then entered "
            f"on {party}'s contact)")


def _index(index: dict[str, list[RemoteRecord]], listed: Iterator[RemoteRecord]) -> None:
    for remote in listed:
        ref = remote.reference
        if ref:
            index.setdefault(ref, []).append(remote)

"""Looking a document up in Sage by its reference: before a resend (was an earlier attempt
committed?) and before a create (is it in Sage already?)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from sagebridge.connectors.base import RemoteRecord
from sagebridge.domain.kinds import DocumentKind
from sagebridge.sync.export.context import ExportRun
from sagebridge.sync.export.request import PAYMENT_KINDS


class SageLookups:
    """One lookup by reference, filtered by what must match."""

    def __init__(self, run: ExportRun) -> None:
        self.run = run

    def find(self, kind: DocumentKind, reference: str, contact_id: str | None, total: Any,
             on: date | None) -> RemoteRecord | None:
        found = self.all(kind, reference, contact_id, total, on)
        return found[0] if found else None

    def all(self, kind: DocumentKind, reference: str, contact_id: str | None, total: Any,
            on: date | None) -> list[RemoteRecord]:
        """Sage's documents with this reference, total and date (and contact, unless None)."""
        return [remote for remote in self._by_reference(kind, reference)
                if self.run.mapper.is_same_document(remote, reference=reference, contact_id=contact_id, total=total,
                                                    on=on)]

    def in_doubt(self, kind: DocumentKind, reference: str, contact_id: str, total: Any,
                 on: date | None) -> tuple[RemoteRecord | None, list[RemoteRecord]]:
        """An earlier attempt may have reached Sage: the copy we would create (same reference,
        contact, amount and date), else every document of the kind under this reference and contact,
        whatever its amount or date: the host may have changed the document since that attempt, and
        the copy Sage holds is still ours. One lookup, as `find`. Payments keep the strict match
        (a connector may still be completing a payment it finds by reference)."""
        mapper = self.run.mapper
        ours: list[RemoteRecord] = []
        for remote in self._by_reference(kind, reference):
            if mapper.is_same_document(remote, reference=reference, contact_id=contact_id, total=total, on=on):
                return remote, []
            if (kind not in PAYMENT_KINDS and (remote.reference or "") == reference
                    and mapper.remote_contact_id(remote) in (None, contact_id)):
                ours.append(remote)
        return None, ours

    def _by_reference(self, kind: DocumentKind, reference: str) -> Iterator[RemoteRecord]:
        """Sage's records of this kind found by reference (one lookup); for a payment kind, only
        those of its own transaction type."""
        mapper = self.run.mapper
        for remote in self.run.connector.find_documents_by_reference(kind, reference):
            if kind in PAYMENT_KINDS and mapper.remote_transaction_type(remote) not in (
                    None, mapper.PAYMENT_TYPE[kind]):
                continue
            yield remote

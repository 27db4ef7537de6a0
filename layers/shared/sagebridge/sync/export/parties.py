"""Customers and vendors: the Sage contact each document needs, found in the run's memory or
mapping, identified in Sage (none / name / email) or created, and brought up to date when the
host app changed the party since Sage last got it. New mappings are written once a page."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sagebridge.connectors.base import (
    AuthError,
    NotConnected,
    NotSupported,
    Payload,
    RateLimited,
    RecordInvalid,
    RemoteRecord,
    SageError,
    UncertainWrite,
    creates_idempotent,
    search_settle,
)
from sagebridge.domain.documents import Document
from sagebridge.domain.errors import ConflictError
from sagebridge.domain.kinds import PartyKind, ledger_of
from sagebridge.domain.parties import Party
from sagebridge.domain.payments import Payment
from sagebridge.domain.records import parse_host_record
from sagebridge.domain.settings import ExportType, IdentifyCustomerBy
from sagebridge.domain.validation import SkipCode, SkipReason
from sagebridge.store import Claim, ClaimConflict, IdMapping, LedgerEntry, LedgerState, Outcome, StagedDocument, Write
from sagebridge.sync.export.contact_updates import ContactUpdates
from sagebridge.sync.export.context import (
    PARTY_CACHE_SIZE,
    STAND_IN_ID,
    ExportRun,
    LruDict,
    Skip,
    failure_code,
    label,
    party_hash,
)
from sagebridge.sync.export.in_doubt import IN_DOUBT_CODE
from sagebridge.sync.export.journal import Journal
from sagebridge.sync.export.outcomes import Outcomes
from sagebridge.sync.export.request import CONTACT_HASH, PARTY_KINDS, idempotency_key

PARTY_VALUES = frozenset(k.value for k in PARTY_KINDS)
# What `known_contact` says of a party that would get a new contact.
NEW_CONTACT = ""
PartyKey = tuple[PartyKind, str]


class _Unread:
    """A ledger entry not read yet (None is a read that found nothing)."""


UNREAD = _Unread()


class Parties:
    """The contacts of one run: remembered (bounded), identified, created or updated."""

    def __init__(self, run: ExportRun, journal: Journal, outcomes: Outcomes) -> None:
        self.run = run
        self.journal = journal
        self.outcomes = outcomes
        self.updates = ContactUpdates(run, journal)
        self._parties = LruDict(PARTY_CACHE_SIZE)  # (party kind, host id) -> Sage contact id
        self._failures = LruDict(PARTY_CACHE_SIZE)  # (party kind, host id) -> why not in Sage
        self._identified = LruDict(PARTY_CACHE_SIZE)  # (party kind, host id) -> found by going live
        self._staged: dict[tuple[str, str], StagedDocument] = {}  # the page's parties, by id
        self._staged_asked: set[tuple[str, str]] = set()  # what _staged was read for
        # Unmapped parties the page's documents name: their ledger entries (a give-up), read with the page.
        self._entries: dict[tuple[str, str], LedgerEntry] = {}
        self._entries_asked: set[tuple[str, str]] = set()

    # ---- the page's reads

    def needs_mapping(self, record: Document[Any] | Payment) -> bool:
        return (ledger_of(record.kind), record.party_id) not in self._parties

    def needs_staged(self, record: Document[Any] | Payment) -> bool:
        """Its current version is compared with Sage's once a run (changed since Sage last got it?)."""
        return record.party is None and (ledger_of(record.kind), record.party_id) not in self.updates.checked

    def read_page(self, staged_wanted: set[tuple[str, str]], mapped_wanted: set[tuple[str, str]],
                  maps: dict[tuple[str, str], IdMapping]) -> None:
        """The page's staged parties and the ledger entries of its unmapped ones, one batch each;
        remember the page's party mappings."""
        tenant, store = self.run.tenant, self.run.store
        self._staged = store.documents.find_many(tenant, staged_wanted) if staged_wanted else {}
        self._staged_asked = staged_wanted
        unmapped = {p for p in mapped_wanted if p[0] in PARTY_VALUES and p not in maps}
        self._entries = store.ledger.find_many(tenant, unmapped) if unmapped else {}
        self._entries_asked = unmapped
        for (kind, host_id), mapping in maps.items():
            if kind in PARTY_VALUES:
                self._parties[(PartyKind(kind), host_id)] = mapping.sage_id
                self.updates.mappings[(PartyKind(kind), host_id)] = mapping

    def take_writes(self) -> list[Write]:
        """New parties' mappings and log lines, to be written with the page."""
        return self.updates.take_writes()

    def contact_id(self, kind: PartyKind, host_id: str) -> str | None:
        return self._parties.get((kind, host_id))

    # ---- the contact a document needs

    def contact_for(self, record: Document[Any] | Payment) -> str | Skip:
        """The Sage contact of the record's customer or vendor: remembered, identified or created;
        a known contact is updated first if the party changed since Sage last got it (once a run)."""
        key = (ledger_of(record.kind), record.party_id)
        known = self._parties.get(key)
        if known is not None and key in self.updates.checked:
            return _body_id(str(known))
        party, staged = self.party_of(record)
        if known is not None:
            if party is None:
                self.updates.checked[key] = True  # nothing staged to compare with: Sage keeps what it has
            else:
                self.updates.refresh(party, str(known))
            return str(known)
        if party is None:
            return Skip(party_missing_reasons(record))
        contact = self.resolve(party, staged=staged)
        return contact if contact is not None else Skip(party_missing_reasons(
            record, self._failures.get((party.kind, party.host_id))))

    def party_of(self, record: Document[Any] | Payment) -> tuple[Party | None, StagedDocument | None]:
        """The record's customer or vendor: embedded, or staged on its own (and that staged record)."""
        if record.party is not None:
            return record.party, None
        # The usual order from a host app: customer.upserted first, then documents naming it by id.
        return self._staged_party(record)

    def sent_currency(self, record: Document[Any] | Payment) -> str | None:
        """The currency the host app sent for the record's customer or vendor: the embedded party's,
        else the one staged on its own (a document naming its party by id, or embedding it bare)."""
        if record.party is not None and record.party.currency:
            return record.party.currency
        party, _ = self._staged_party(record)
        return party.currency if party is not None else None

    def _staged_party(self, record: Document[Any] | Payment) -> tuple[Party | None, StagedDocument | None]:
        ledger = ledger_of(record.kind)
        ref = (ledger.value, record.party_id)
        if ref in self._staged_asked:  # read with the page
            staged = self._staged.get(ref)
        else:
            staged = self.run.store.documents.find(self.run.tenant, ledger.value, record.party_id)
        if staged is None or staged.voided:
            return None, staged
        return cast(Party, parse_host_record(ledger, staged.canonical_json)), staged

    def known_contact(self, record: Document[Any] | Payment) -> str | None:
        """The Sage contact this record's party has or would get, without creating one: its mapping,
        or the contact `identify_customer_by` finds (remembered for `resolve`); NEW_CONTACT when it
        would be created; None when no party is staged (the record is skipped for that)."""
        key = (ledger_of(record.kind), record.party_id)
        if key in self._parties:
            return str(self._parties[key])
        party, _ = self.party_of(record)
        if party is None:
            return None
        if (party.kind, party.host_id) not in self._identified:
            self._identified[(party.kind, party.host_id)] = self._identify(party)
        found = self._identified[(party.kind, party.host_id)]
        return found.id if found is not None else NEW_CONTACT

    # ---- catalog export: one customer or vendor

    def export(self, staged: StagedDocument, party: Party, entry: LedgerEntry | None = None) -> None:
        if self.run.gave_up(entry, party_hash(party)):
            return  # gave up on this version and said so; a change or a replay tries again
        mapping = self.run.mappings.get((party.kind.value, party.host_id))
        if mapping is None:
            self.resolve(party, staged=staged, entry=entry)
            return
        checked = (party.kind, party.host_id) in self.updates.checked
        outcome = Outcome.UNCHANGED if checked else self.updates.refresh(party, mapping.sage_id)
        if outcome is Outcome.UNCHANGED:
            if self.run.export_type is ExportType.ALL or self.run.request.documents:
                self.journal.log_now(staged.kind, staged.host_id, party.name, Outcome.UNCHANGED,
                                     sage_id=mapping.sage_id, message="already in Sage and unchanged since it was "
                                     "last sent")
            self.journal.count(Outcome.UNCHANGED, logged=self.run.export_type is ExportType.ALL
                               or bool(self.run.request.documents))

    # ---- identify or create

    def resolve(self, party: Party, *, staged: StagedDocument | None = None,
                entry: LedgerEntry | _Unread | None = UNREAD) -> str | None:
        """Identify the party in Sage (none / name / email) or create it; remember the mapping. None
        when it is not in Sage: failed this run (logged as Failed, the host told) or, for this
        version, given up earlier; `_failures` says why, for the documents that name it."""
        key = (party.kind, party.host_id)
        if key in self._parties:
            return str(self._parties[key])
        if key in self._failures:
            return None  # failed earlier in this run: not tried again for each of its documents
        h = party_hash(party)
        entry = self._entry(party) if isinstance(entry, _Unread) else entry
        if self.run.gave_up(entry, h):
            assert entry is not None
            self._failures[key] = entry.reason or f"Sage Bridge gave up on {party.kind.value} '{party.name}'"
            return None
        found = self._identified.pop(key) if key in self._identified else self._identify(party)
        if self.run.dry_run:
            return self._plan(party, found)
        reference = self.run.mapper.contact_reference(party.kind, party.host_id)
        outcome = Outcome.LINKED
        if found is None:
            body = self._contact_body(party)
            key_hash = idempotency_key(self.run.tenant, party.kind.value, party.host_id,
                                       staged.payload_hash if staged else h)
            sent_at = self.run.now()
            try:
                found = self._sent_before(party, entry, reference)
                if found is None:
                    found, outcome = self._create_contact(party, body, key_hash, reference)
            except _StillInDoubt as wait:
                self._in_doubt(party, h, wait.since)
                return None
            except (AuthError, NotConnected, RateLimited):
                raise  # the connection, not this party: the run stops
            except SageError as exc:  # an earlier create still in doubt stays so (a failed lookup proves nothing)
                doubt = entry.in_doubt_since if entry is not None and entry.state is LedgerState.FAILED else None
                self._failed(party, h, exc, sent_at=sent_at, in_doubt_since=doubt)
                return None
        if entry is not None and entry.state is not LedgerState.EXPORTED:
            self._settled(party, h, found.id)  # failed before: no longer an open failure
        self._linked(party, found, outcome, reference)
        return found.id

    def _entry(self, party: Party) -> LedgerEntry | None:
        ref = (party.kind.value, party.host_id)
        if ref in self._entries_asked:
            return self._entries.get(ref)
        return self.run.store.ledger.find(self.run.tenant, *ref)

    def _plan(self, party: Party, found: RemoteRecord | None) -> str:
        """A dry run: what would happen, and the contact id its documents' bodies are built with:
        the one found, or for a contact it would create an id the product's mapper takes (its
        documents' bodies show the stand-in; `known_contact` still says the contact is new)."""
        key = (party.kind, party.host_id)
        outcome = Outcome.LINKED if found is not None else Outcome.CREATED
        self.journal.plan_party(party, outcome, f"would link to the existing Sage contact '{found.display_name}' "
                                f"(Sage id {found.id})" if found else "would create a Sage contact",
                                None if found else self._contact_body(party))
        self._parties[key] = found.id if found is not None else NEW_CONTACT
        self.updates.checked[key] = True
        return found.id if found is not None else STAND_IN_ID

    def _linked(self, party: Party, found: RemoteRecord, outcome: Outcome, reference: str) -> None:
        """Remember the contact; its mapping and log line go with the page's other parties in one
        BatchWriteItem (docs/performance.md: a first export no longer pays a request per new
        customer). Until then `_parties` has the id; if the run dies first, the next one finds the
        contact again (same idempotency_id, or by its unique reference in `_create_contact`) and
        links it: the usual recovery, nothing new."""
        key = (party.kind, party.host_id)
        message = {Outcome.CREATED: f"created in Sage (reference {reference})",
                   Outcome.LINKED: f"found in Sage as '{found.display_name}' "
                                   f"and linked"}[outcome]
        self.updates.writes += [
            self.run.store.mappings.put_op(self.run.tenant, party.kind.value, party.host_id, found.id,
                                           {"reference": reference, CONTACT_HASH: party_hash(party)}),
            self.journal.log_op(party.kind.value, party.host_id, found.display_name or party.account_name, outcome,
                                sage_id=found.id, message=message),
        ]
        self.journal.count(outcome)
        self._parties[key] = found.id
        self.updates.checked[key] = True

    def _contact_body(self, party: Party) -> Payload:
        return self.run.mapper.contact_body(party, business_currency=self.run.business_currency)

    def _identify(self, party: Party) -> RemoteRecord | None:
        run = self.run
        how = IdentifyCustomerBy(run.settings.identify_customer_by)
        contact_type = run.mapper.CONTACT_TYPE[party.kind]
        if how is IdentifyCustomerBy.NAME:
            # The account name Sage Bridge would give it (the business), then the person's name, which
            # is how contacts were named before a company was used.
            hits = [h for n in dict.fromkeys((party.account_name, party.name))
                    for h in run.connector.find_contacts(name=n, contact_type=contact_type)]
        elif how is IdentifyCustomerBy.EMAIL and party.email:
            hits = [h for h in run.connector.find_contacts(email=party.email, contact_type=contact_type)]
        else:
            return None
        hits = [h for h in hits if run.mapper.contact_matches(h, party)]
        return hits[0] if hits else None

    def _sent_before(self, party: Party, entry: LedgerEntry | None, reference: str) -> RemoteRecord | None:
        """An earlier create of this party lost its answer on a product without idempotent creates:
        Sage is looked up by the party's reference before anything is sent again (a resend would
        be a twin, or refused as one); while Sage's search may still lag that create a miss proves
        nothing, so nothing is sent (`_StillInDoubt`)."""
        if entry is None or entry.state is not LedgerState.FAILED or entry.in_doubt_since is None:
            return None
        connector = self.run.connector
        hits = connector.find_contacts(reference=reference, contact_type=self.run.mapper.CONTACT_TYPE[party.kind])
        if hits:
            return hits[0]
        if self.run.now() < entry.in_doubt_since + search_settle(connector):
            raise _StillInDoubt(entry.in_doubt_since)
        return None  # settled and still not there: the create never landed, send it

    def _create_contact(self, party: Party, body: Payload, key: str, reference: str) -> tuple[RemoteRecord, Outcome]:
        connector, contact_type = self.run.connector, self.run.mapper.CONTACT_TYPE[party.kind]
        try:
            return connector.create_contact(body, idempotency_key=key), Outcome.CREATED
        except (UncertainWrite, RecordInvalid) as exc:
            # A lost answer, or Sage's unique-reference rule refusing a twin of one we made before:
            # either way the contact may exist; adopt it by its reference.
            hits = connector.find_contacts(reference=reference, contact_type=contact_type)
            if hits:
                return hits[0], Outcome.LINKED if isinstance(exc, RecordInvalid) else Outcome.CREATED
            if isinstance(exc, RecordInvalid) or not creates_idempotent(connector):
                raise  # no key to make a resend safe: a later run looks the contact up by reference again
            return connector.create_contact(body, idempotency_key=key), Outcome.CREATED

    # ---- when Sage does not have it

    def _failed(self, party: Party, h: str, exc: SageError, *, sent_at: datetime | None = None,
                in_doubt_since: datetime | None = None) -> None:
        """Sage did not create the party: recorded on its ledger entry like a document's failure. A
        refusal (or a product that cannot) gives up on this version at once; anything else is
        retried on later runs up to `retry_limit`. The host hears on the first failure and when it
        gives up, operators once when it gives up; a change or a replay tries again. A create whose
        answer was lost, on a product without idempotent creates, is in doubt instead."""
        if isinstance(exc, UncertainWrite) and sent_at is not None and not creates_idempotent(self.run.connector):
            self._in_doubt(party, h, sent_at, cause=exc.message, sent=True)
            return
        name = f"{party.kind.value} '{party.name}'"
        claim = self._claim_failure(party, h)
        permanent = isinstance(exc, RecordInvalid | NotSupported)
        attempts = self.run.attempts(claim) if claim is not None else 1
        will_retry = not permanent and attempts <= self.run.settings.retry_limit
        code = "not_supported" if isinstance(exc, NotSupported) else failure_code(exc)
        if permanent:
            message = (f"Sage refused to create {name}: {exc.message} (not retried: Sage will refuse this version "
                       "again; change it in the host app and it is sent again)")
        else:
            message = f"{name} could not be sent to Sage: {exc.message}" + (
                "" if will_retry else f" (gave up after {attempts} attempts)")
        self._failures[(party.kind, party.host_id)] = message
        self._record_failure(party, claim, h, code, message, attempts, will_retry, in_doubt_since)

    def _in_doubt(self, party: Party, h: str, since: datetime, *, cause: str | None = None,
                  sent: bool = False) -> None:
        """The party's create went out at `since` and its answer was lost; Sage's search does not
        show it (yet): failed in doubt, never given up, the host told once per version, with the
        time it is looked for again. Its documents are skipped as waiting for it, with this reason."""
        name = f"{party.kind.value} '{party.name}'"
        reference = self.run.mapper.contact_reference(party.kind, party.host_id)
        after = since + search_settle(self.run.connector)
        lost = f" ({cause})" if cause else ""
        message = (f"{name} was sent to Sage and the answer was lost{lost}; Sage's search does not show reference "
                   f"{reference} yet, and Sage could not tell a second create from the first, so it was not sent "
                   f"again: the first run after {after.isoformat(timespec='seconds')} looks for it again and creates "
                   "it only if Sage still does not have it")
        claim = self._claim_failure(party, h)
        # A look that sent nothing does not count as an attempt; never given up while in doubt.
        attempts = 1 if claim is None else self.run.attempts(claim) - (0 if sent else 1)
        attempts = min(max(attempts, 1), self.run.settings.retry_limit)
        self._failures[(party.kind, party.host_id)] = message
        self._record_failure(party, claim, h, IN_DOUBT_CODE, message, attempts, True, since)

    def unexpected(self, party: Party, message: str) -> None:
        """A bug or a surprise while exporting the party: given up on this version, the host told."""
        h = party_hash(party)
        claim = self._claim_failure(party, h)
        attempts = self.run.attempts(claim) if claim is not None else 1
        self._record_failure(party, claim, h, "internal_error", message, attempts, False)

    def _claim_failure(self, party: Party, h: str) -> Claim | None:
        try:
            return self.run.claim(party.kind.value, party.host_id, h)
        except ClaimConflict:
            return None  # another run holds it right now: log this run's failure only

    def _record_failure(self, party: Party, claim: Claim | None, h: str, code: str, message: str,
                        attempts: int, will_retry: bool, in_doubt_since: datetime | None = None) -> None:
        kind = party.kind.value
        self.outcomes.write_failure(kind, party.host_id, party.name, claim, code, message, attempts, will_retry,
                                    in_doubt_since=in_doubt_since)
        if not will_retry:
            self.journal.remember_failure(kind, party.host_id, message)
        self.journal.deliver_failed(kind, party.host_id, party.name, h, code, message, attempts, will_retry)

    def _settled(self, party: Party, h: str, sage_id: str) -> None:
        """A party that failed before is in Sage now: its ledger entry says so."""
        try:
            self.run.store.ledger.mark_exported(self.run.claim(party.kind.value, party.host_id, h), sage_id)
        except ConflictError:
            pass  # settled by another run


class _StillInDoubt(Exception):
    """A lookup missed a party whose create is in doubt, before Sage's search has settled."""

    def __init__(self, since: datetime) -> None:
        super().__init__(since.isoformat())
        self.since = since


def _body_id(contact: str) -> str:
    """The contact id a document's body is built with: a dry run's would-be contact has none yet."""
    return STAND_IN_ID if contact == NEW_CONTACT else contact


def party_missing_reasons(record: Document[Any] | Payment, failed: str | None = None) -> list[SkipReason]:
    word = "customer" if ledger_of(record.kind) is PartyKind.CUSTOMER else "vendor"
    if failed is not None:  # it failed (this run or, given up, before): say why
        return [SkipReason(
            code=SkipCode.PARTY_MISSING, field="party_id",
            message=f"{word.capitalize()} '{record.party_id}' of {label(record)} is not in Sage, so it was not "
            f"sent: {failed}")]
    return [SkipReason(
        code=SkipCode.PARTY_MISSING, field="party_id",
        message=f"{word.capitalize()} '{record.party_id}' of {label(record)} is not in Sage and was not sent "
        "with it (or Sage refused to create it; see the log line of the party)",
    )]

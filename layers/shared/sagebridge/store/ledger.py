"""The export ledger (TENANT#t / LEDGER#kind#host_id): the exactly-once state machine of DESIGN.md.

    (absent) | pending | failed | skipped | exported with another hash | stale in_flight
        --claim--> in_flight --mark_exported / mark_skipped / mark_failed--> exported | skipped | failed

A claim is a conditional update, so of any number of racing workers exactly one wins. Each claim gets
a fresh `claim_id` (a fencing token): only the holder of the current claim can settle it, so a
worker whose stale claim was taken over cannot overwrite the new holder's outcome. Entries that need
attention (failed, skipped, in_flight) carry sparse GSI1 keys and are listed without a Scan."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta

from sagebridge.store import keys
from sagebridge.store.records import Claim, LedgerEntry, LedgerState
from sagebridge.store.table import (
    ClaimConflict,
    Item,
    Page,
    Table,
    Write,
    delete,
    iso,
    missing,
    parse_iso,
    update,
)

DEFAULT_CLAIM_TIMEOUT = timedelta(minutes=15)  # longer than the export worker's Lambda timeout
LEDGER_PREFIX = "LEDGER#"  # keys.ledger_sk's
_LISTED_STATES = frozenset({LedgerState.FAILED, LedgerState.SKIPPED, LedgerState.IN_FLIGHT})
NewClaim = tuple[str, str, str, str]  # kind, host_id, payload_hash, idempotency_key


class Ledger:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, tenant_id: str, kind: str, host_id: str) -> LedgerEntry:
        found = self.find(tenant_id, kind, host_id)
        if found is None:
            raise missing(f"ledger entry {kind}/{host_id} of tenant {tenant_id}")
        return found

    def find(self, tenant_id: str, kind: str, host_id: str) -> LedgerEntry | None:
        item = self._table.get(keys.tenant_pk(tenant_id), keys.ledger_sk(kind, host_id))
        return _entry(item) if item else None

    def find_many(self, tenant_id: str, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], LedgerEntry]:
        """Entries of many (kind, host_id) at once (BatchGetItem): {(kind, host_id): entry}, absent
        ones left out. The export engine reads a page of documents' states in one request."""
        pk = keys.tenant_pk(tenant_id)
        items = self._table.batch_get([(pk, keys.ledger_sk(kind, host_id)) for kind, host_id in refs])
        return {(e.kind, e.host_id): e for e in map(_entry, items)}

    def claim(
        self,
        tenant_id: str,
        kind: str,
        host_id: str,
        *,
        idempotency_key: str,
        payload_hash: str,
        claim_timeout: timedelta = DEFAULT_CLAIM_TIMEOUT,
        force: bool = False,
    ) -> Claim:
        """Take the document for export. Allowed from absent, pending, failed, skipped (nothing
        reached Sage), exported with a different payload hash (the document changed; `force`
        also re-exports an unchanged one) and in_flight older than `claim_timeout` (a worker died:
        Claim.uncertain tells the caller to look in Sage before sending). Refused with ClaimConflict
        (a ConflictError; `.current` is the LedgerEntry found) when a live claim holds it or it is
        already exported unchanged."""
        now, claim_id = self._table.now(), uuid.uuid4().hex
        exported_clause = "#state = :exported" if force else "(#state = :exported AND exported_hash <> :hash)"
        condition = (
            "attribute_not_exists(pk) OR #state IN (:pending, :failed, :skipped) "
            f"OR {exported_clause} OR (#state = :in_flight AND claimed_at < :stale_before)"
        )
        write = update(
            (keys.tenant_pk(tenant_id), keys.ledger_sk(kind, host_id)),
            set_=_claimed(tenant_id, kind, host_id, idempotency_key, payload_hash, claim_id, now),
            add={"attempts": 1},
            condition=condition,
            names={"#state": "state"},
            values={
                ":pending": LedgerState.PENDING.value, ":failed": LedgerState.FAILED.value,
                ":skipped": LedgerState.SKIPPED.value, ":exported": LedgerState.EXPORTED.value,
                ":in_flight": LedgerState.IN_FLIGHT.value, ":stale_before": iso(now - claim_timeout),
                **({} if force else {":hash": payload_hash}),
            },
            what=f"ledger entry {kind}/{host_id} of tenant {tenant_id}",
        )
        try:
            old = self._table.write(write, ReturnValues="ALL_OLD",
                                    ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClaimConflict as exc:
            current = _entry(exc.current) if exc.current else None
            state = current.state.value if current else "absent"
            raise ClaimConflict(f"{write.what} is {state}: not claimable", current) from exc
        previous = _entry(old) if old else None
        entry = LedgerEntry(
            tenant_id=tenant_id, kind=kind, host_id=host_id, state=LedgerState.IN_FLIGHT,
            idempotency_key=idempotency_key, payload_hash=payload_hash,
            exported_hash=previous.exported_hash if previous else None,
            sage_id=previous.sage_id if previous else None,
            attempts=(previous.attempts if previous else 0) + 1,
            claim_id=claim_id, claimed_at=now, updated_at=now,
        )
        return Claim(entry=entry, previous=previous)

    def claim_new(self, tenant_id: str, wanted: Sequence[NewClaim]) -> dict[tuple[str, str], Claim]:
        """Claim many documents that have no ledger entry yet, in one TransactWriteItems per 100
        (Table.transact_each: refused ones are left out and the rest sent again). Each claim is
        conditional on the entry still being absent, so of racing workers exactly one wins each
        document, as with `claim`; the claims it returns are the ones `claim` would have returned
        for an absent entry (no previous, first attempt). {(kind, host_id): claim} of those won."""
        if not wanted:
            return {}
        now, pk = self._table.now(), keys.tenant_pk(tenant_id)
        writes, claims = [], []
        for kind, host_id, payload_hash, idempotency_key in wanted:
            claim_id = uuid.uuid4().hex
            writes.append(update(
                (pk, keys.ledger_sk(kind, host_id)),
                set_={**_claimed(tenant_id, kind, host_id, idempotency_key, payload_hash, claim_id, now),
                      "attempts": 1},
                condition="attribute_not_exists(pk)", what=f"ledger entry {kind}/{host_id} of tenant {tenant_id}"))
            claims.append(Claim(entry=LedgerEntry(
                tenant_id=tenant_id, kind=kind, host_id=host_id, state=LedgerState.IN_FLIGHT,
                idempotency_key=idempotency_key, payload_hash=payload_hash, attempts=1,
                claim_id=claim_id, claimed_at=now, updated_at=now), previous=None))
        won = self._table.transact_each(writes)
        return {(c.entry.kind, c.entry.host_id): c for c, ok in zip(claims, won, strict=True) if ok}

    def release_new(self, claims: Sequence[Claim]) -> None:
        """Give back claims from `claim_new` that nothing was sent under: the entries are deleted
        (they were absent before), each only while this claim still holds it."""
        writes = [delete(
            (keys.tenant_pk(c.entry.tenant_id), keys.ledger_sk(c.entry.kind, c.entry.host_id)),
            condition="#state = :in_flight AND claim_id = :claim_id", names={"#state": "state"},
            values={":in_flight": LedgerState.IN_FLIGHT.value, ":claim_id": c.entry.claim_id},
            what=f"ledger entry {c.entry.kind}/{c.entry.host_id} of tenant {c.entry.tenant_id}") for c in claims]
        self._table.transact_each(writes)

    def mark_exported_op(self, claim: Claim, sage_id: str) -> Write:
        """Settle a claim as exported, recording the Sage id and the payload hash that Sage now
        holds. Use in a transaction with the mapping and the sync log entry (DESIGN step 3)."""
        return self._settle(claim, LedgerState.EXPORTED, {
            "sage_id": sage_id, "exported_hash": claim.entry.payload_hash,
            "exported_at": iso(self._table.now()), "attempts": 0, "reason": None,
        })

    def mark_exported(self, claim: Claim, sage_id: str) -> LedgerEntry:
        return self._run(self.mark_exported_op(claim, sage_id))

    def mark_skipped_op(self, claim: Claim, reason: str, *, waiting: bool = False,
                        waits_for: str | None = None) -> Write:
        """Settle a claim as skipped (validation said no; nothing was sent). `reason` is human.
        `waiting`: nothing to fix, the host has yet to move the document on (a draft): not listed
        among the entries that need attention, and no attempt counted against the retry limit."""
        if waiting:
            return self._settle(claim, LedgerState.SKIPPED, {"reason": reason, "attempts": 0, "waits_for": waits_for},
                                listed=False)
        return self._settle(claim, LedgerState.SKIPPED, {"reason": reason, "waits_for": None})

    def mark_skipped(self, claim: Claim, reason: str) -> LedgerEntry:
        return self._run(self.mark_skipped_op(claim, reason))

    def mark_failed_op(self, claim: Claim, reason: str, *, attempts: int | None = None,
                       gave_up: bool = False, in_doubt_since: datetime | None = None) -> Write:
        """Settle a claim as failed (Sage refused or we gave up); replayable. `attempts`: the
        attempts at this version (a changed document starts again at 1); `gave_up`: no run retries
        this version by itself; `in_doubt_since`: when the send whose outcome is unknown went out."""
        fields: dict[str, object] = {"reason": reason, "gave_up": True if gave_up else None,
                                     "in_doubt_since": iso(in_doubt_since) if in_doubt_since else None}
        if attempts is not None:
            fields["attempts"] = attempts
        return self._settle(claim, LedgerState.FAILED, fields)

    def mark_failed(self, claim: Claim, reason: str, *, attempts: int | None = None,
                    gave_up: bool = False) -> LedgerEntry:
        return self._run(self.mark_failed_op(claim, reason, attempts=attempts, gave_up=gave_up))

    def list_by_state(
        self, tenant_id: str, state: LedgerState, *, limit: int = 100, next_token: str | None = None
    ) -> Page[LedgerEntry]:
        """Failed, skipped or in_flight entries, least recently updated first (replay, stuck claims)."""
        if LedgerState(state) not in _LISTED_STATES:
            raise ValueError(f"only {sorted(s.value for s in _LISTED_STATES)} entries are listable")
        partition = keys.ledger_by_state_pk(tenant_id, LedgerState(state).value)
        items, token = self._table.query_page(
            "gsi1pk = :p", {":p": partition}, partition=("gsi1pk", partition), index="GSI1",
            limit=limit, next_token=next_token,
        )
        return Page([_entry(i) for i in items], token)

    def document_states(self, tenant_id: str) -> Iterator[LedgerEntry]:
        """Every entry of the tenant, one per record, in its current state: only kind, host id,
        state (and whether a skip waits) and updated_at are read, so do not settle what this yields.
        The status figures count these: a document skipped by five runs is one entry. Reads the
        tenant's whole ledger, 1,000 entries a page, projected to those attributes."""
        pk = keys.tenant_pk(tenant_id)
        for item in self._table.query_all(
                "pk = :p AND begins_with(sk, :l)", {":p": pk, ":l": LEDGER_PREFIX}, partition=("pk", pk), limit=1000,
                projection="tenant_id, kind, host_id, #state, gsi1pk, updated_at, waits_for",
                names={"#state": "state"}):
            yield _entry(item)

    def _settle(self, claim: Claim, state: LedgerState, fields: dict[str, object], *, listed: bool = True) -> Write:
        e, now = claim.entry, iso(self._table.now())
        index = _listed(e.tenant_id, state, now, e.kind, e.host_id) if listed else {"gsi1pk": None, "gsi1sk": None}
        return update(
            (keys.tenant_pk(e.tenant_id), keys.ledger_sk(e.kind, e.host_id)),
            set_={"state": state.value, "updated_at": now, "claim_id": None, **fields, **index},
            condition="#state = :in_flight AND claim_id = :claim_id AND idempotency_key = :key",
            names={"#state": "state"},
            values={":in_flight": LedgerState.IN_FLIGHT.value, ":claim_id": e.claim_id,
                    ":key": e.idempotency_key},
            what=f"ledger entry {e.kind}/{e.host_id} of tenant {e.tenant_id}",
        )

    def _run(self, write: Write) -> LedgerEntry:
        # ConflictError: the claim was taken over (or settled) by someone else.
        return _entry(self._table.write_existing(write, ReturnValues="ALL_NEW"))


def _claimed(tenant_id: str, kind: str, host_id: str, idempotency_key: str, payload_hash: str, claim_id: str,
             now: datetime) -> dict[str, object]:
    """The attributes a claim sets (besides counting the attempt)."""
    return {
        "tenant_id": tenant_id, "kind": kind, "host_id": host_id,
        "state": LedgerState.IN_FLIGHT.value, "idempotency_key": idempotency_key,
        "payload_hash": payload_hash, "claim_id": claim_id,
        "claimed_at": iso(now), "updated_at": iso(now), "reason": None, "gave_up": None,
        **_listed(tenant_id, LedgerState.IN_FLIGHT, iso(now), kind, host_id),
    }


def _listed(tenant_id: str, state: LedgerState, now: str, kind: str, host_id: str) -> dict[str, str | None]:
    """Sparse GSI1 keys: present only in the states someone has to look at."""
    if state in _LISTED_STATES:
        return {"gsi1pk": keys.ledger_by_state_pk(tenant_id, state.value),
                "gsi1sk": keys.ledger_by_state_sk(now, kind, host_id)}
    return {"gsi1pk": None, "gsi1sk": None}


def _entry(item: Item) -> LedgerEntry:
    return LedgerEntry(
        tenant_id=item["tenant_id"], kind=item["kind"], host_id=item["host_id"],
        state=LedgerState(item.get("state", LedgerState.PENDING)),
        idempotency_key=item.get("idempotency_key"), payload_hash=item.get("payload_hash"),
        exported_hash=item.get("exported_hash"), sage_id=item.get("sage_id"),
        attempts=int(item.get("attempts", 0)), reason=item.get("reason"), claim_id=item.get("claim_id"),
        claimed_at=parse_iso(item.get("claimed_at")), updated_at=parse_iso(item.get("updated_at")),
        gave_up=bool(item.get("gave_up")), in_doubt_since=parse_iso(item.get("in_doubt_since")),
        # A waiting skip is the one settled state kept out of the attention index (mark_skipped_op).
        waiting=item.get("state") == LedgerState.SKIPPED.value and not item.get("gsi1pk"),
        waits_for=item.get("waits_for") if item.get("state") == LedgerState.SKIPPED.value else None,
    )

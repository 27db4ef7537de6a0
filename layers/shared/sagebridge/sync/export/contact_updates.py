"""A mapped party the host app changed: its Sage contact is updated, at most once a run, and only
when the version differs from the one Sage last got (the mapping's contact hash)."""

from __future__ import annotations

from typing import Any

from sagebridge.connectors.base import (
    AuthError,
    NotFound,
    NotSupported,
    RateLimited,
    RecordInvalid,
    RemoteRecord,
    SageError,
)
from sagebridge.domain.parties import Party
from sagebridge.host.outbound import ExportFailed
from sagebridge.store import IdMapping, Outcome, Write
from sagebridge.sync.export.context import (
    PARTY_CACHE_SIZE,
    ExportRun,
    LruDict,
    failure_code,
    party_hash,
    put_again_if_lost,
)
from sagebridge.sync.export.journal import Journal
from sagebridge.sync.export.request import CONTACT_HASH, SAGE_UPDATED_AT


class ContactUpdates:
    """Which parties were compared with Sage this run, their mappings, and the page's writes."""

    def __init__(self, run: ExportRun, journal: Journal) -> None:
        self.run = run
        self.journal = journal
        self.checked = LruDict(PARTY_CACHE_SIZE)  # parties compared with Sage this run
        self.mappings = LruDict(PARTY_CACHE_SIZE)  # (party kind, host id) -> IdMapping
        self.writes: list[Write] = []  # new parties' mappings and log lines, written per page

    def take_writes(self) -> list[Write]:
        writes, self.writes = self.writes, []
        return writes

    def refresh(self, party: Party, sage_id: str) -> Outcome:
        """Bring a mapped Sage contact up to date with the party's current version, at most once a
        run. No request when the version is the one Sage last got (the mapping's contact hash). A
        mapping without one (linked from Sage by the catalog import, or made before updates flowed)
        takes this version as its baseline: only a later change in the host app is sent."""
        key = (party.kind, party.host_id)
        self.checked[key] = True
        mapping = self.mappings.get(key) or self.run.store.mappings.find(self.run.tenant, party.kind.value,
                                                                         party.host_id)
        extra = dict(mapping.extra) if mapping is not None else {}
        h = party_hash(party)
        last = extra.get(CONTACT_HASH)
        if last == h:
            return Outcome.UNCHANGED
        if last is None:
            if not self.run.dry_run:
                self.remember(party, sage_id, {**extra, CONTACT_HASH: h})
            return Outcome.UNCHANGED
        return self._update(party, sage_id, extra, h)

    def _update(self, party: Party, sage_id: str, extra: dict[str, Any], h: str) -> Outcome:
        name = f"{party.kind.value} '{party.name}'"
        try:
            body = self.run.mapper.contact_update_body(party, business_currency=self.run.business_currency)
            if self.run.dry_run:
                self.journal.plan_party(party, Outcome.UPDATED, f"would update Sage contact {sage_id} (changed in "
                                        "the host app since it was last sent)", body)
                return Outcome.UPDATED
            remote = put_again_if_lost(lambda: self.run.connector.update_contact(sage_id, body))
        except NotSupported as exc:
            return self._not_updated(party, sage_id, extra, h, Outcome.SKIPPED, "contact_update_not_supported",
                                     f"{name} changed in the host app but was not updated in Sage: {exc.message}")
        except NotFound:
            return self._not_updated(party, sage_id, extra, h, Outcome.SKIPPED, "contact_missing_in_sage",
                                     f"{name} changed in the host app but its Sage contact {sage_id} no "
                                     "longer exists (deleted in Sage); relink it in the mappings")
        except (AuthError, RateLimited):
            raise
        except RecordInvalid as exc:  # this version will be refused again: wait for the next change
            return self._not_updated(party, sage_id, extra, h, Outcome.FAILED, failure_code(exc),
                                     f"Sage refused the update of {name}: {exc.message}", report=True)
        except SageError as exc:  # transient: the next run tries again (no hash recorded)
            return self._not_updated(party, sage_id, extra, None, Outcome.FAILED, failure_code(exc),
                                     f"{name} could not be updated in Sage: {exc.message}")
        self._updated(party, sage_id, {**extra, CONTACT_HASH: h}, remote)
        return Outcome.UPDATED

    def _updated(self, party: Party, sage_id: str, extra: dict[str, Any], remote: RemoteRecord) -> None:
        if remote.version:
            extra[SAGE_UPDATED_AT] = remote.version
        self.remember(party, sage_id, extra)
        self.writes.append(self.journal.log_op(party.kind.value, party.host_id, party.name, Outcome.UPDATED,
                                               sage_id=sage_id, message="updated in Sage (changed in the host app "
                                               "since it was last sent)"))
        self.journal.count(Outcome.UPDATED)

    def _not_updated(self, party: Party, sage_id: str, extra: dict[str, Any], h: str | None, outcome: Outcome,
                     code: str, message: str, *, report: bool = False) -> Outcome:
        """Log why a changed party's contact was not updated; with `h`, do not try this version again."""
        self.journal.count(outcome)
        self.journal.log_now(party.kind.value, party.host_id, party.name, outcome, sage_id=sage_id,
                             reason_code=code, message=message)
        if report:
            self.journal.remember_failure(party.kind.value, party.host_id, message)
        if outcome is Outcome.FAILED:  # the host hears too, once per version and kind of news
            will_retry = h is None
            self.journal.deliver(ExportFailed(kind=party.kind.value, host_id=party.host_id, number=party.name,
                                              run_id=self.run.run_id, reason_code=code, reason=message, attempts=1,
                                              will_retry=will_retry),
                                 dedupe_key=f"failed\n{party.kind.value}\n{party.host_id}\n{party_hash(party)}\n"
                                            f"update {will_retry}")
        if h is not None:
            self.remember(party, sage_id, {**extra, CONTACT_HASH: h})
        return outcome

    def remember(self, party: Party, sage_id: str, extra: dict[str, Any]) -> None:
        """The party's mapping with a new `extra`, written with the page's other party writes."""
        tenant = self.run.tenant
        self.writes.append(self.run.store.mappings.put_op(tenant, party.kind.value, party.host_id, sage_id, extra))
        self.mappings[(party.kind, party.host_id)] = IdMapping(tenant, party.kind.value, party.host_id, sage_id,
                                                               extra)

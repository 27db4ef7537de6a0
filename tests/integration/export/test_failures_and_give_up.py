"""How one document's export fails and gives up: the host hears on the first failure (will_retry
true/false), a version that gave up is not re-posted or re-notified on later runs, and only a
replay or a changed document tries it again."""

from __future__ import annotations

from typing import Any

from local.sandboxes.host_app.outbox import InMemoryOutbox
from sagebridge.domain import DocumentKind
from sagebridge.domain.runs import RunTrigger

from .conftest import TENANT, document, line

SI = DocumentKind.SALES_INVOICE


def failed_events(outbox: InMemoryOutbox) -> list[dict[str, Any]]:
    return [body["event"]["data"] for body in outbox.sent if body["event_type"] == "export.failed"]


def log_of(store, host_id: str) -> list[Any]:
    return store.synclog.newest(TENANT, kind="sales_invoice", host_id=host_id, limit=50).items


def test_defect_07_a_refused_document_gives_up_at_once_and_is_not_reposted_or_reemailed(
        export, host, sandbox, store):
    host.stage(document(SI, 1))
    refusal = sandbox.faults.error(422, times=None, method="POST", path="/sales_invoices")
    outbox, mails = InMemoryOutbox(), []
    options = {"outbox": outbox, "notify": mails.append}

    first = export(engine_options=options, include_retries=True)
    assert first.counts["failed"] == 1 and refusal.fired == 1
    told = failed_events(outbox)
    assert len(told) == 1 and told[0]["will_retry"] is False and told[0]["attempts"] == 1, told
    assert len(mails) == 1 and "INV-00001" in mails[0].problems[0]

    # Sage will refuse this version again: later runs of every kind leave it alone and stay quiet.
    for trigger in (RunTrigger.SCHEDULE, RunTrigger.SCHEDULE, RunTrigger.OPERATOR, RunTrigger.SCHEDULE):
        export(engine_options=options, include_retries=True, triggered_by=trigger)
    assert refusal.fired == 1, "the refused version was posted to Sage again"
    assert len(failed_events(outbox)) == 1 and len(mails) == 1
    assert [e.outcome.value for e in log_of(store, "INV-1")] == ["failed"]

    # A replay tries it again (still refused: told and emailed again for the replay's attempt).
    export(engine_options=options, triggered_by=RunTrigger.REPLAY, documents=(("sales_invoice", "INV-1"),))
    assert refusal.fired == 2

    # The host fixes the document (a new version): sent again, and created once Sage accepts it.
    sandbox.faults.clear()
    host.stage(document(SI, 1, lines=[line("100.00", description="Labour, corrected")]))
    fixed = export(engine_options=options, include_retries=True)
    assert fixed.counts["created"] == 1 and sandbox.created_count("sales_invoices") == 1


def test_defect_07_a_transient_failure_tells_the_host_at_once_retries_then_gives_up_once(
        export, host, sandbox, store, clock):
    host.stage(document(SI, 1))
    outage = sandbox.faults.error(500, times=None, method="POST", path="/sales_invoices")
    outbox, mails = InMemoryOutbox(), []
    options = {"outbox": outbox, "notify": mails.append}

    export(engine_options=options, include_retries=True)
    told = failed_events(outbox)
    assert [(e["will_retry"], e["attempts"]) for e in told] == [(True, 1)], told  # told on the first failure
    assert mails == []

    for _ in range(7):  # retry_limit is 3: attempts 2 and 3 retry, the 4th gives up, then nothing
        export(engine_options=options, include_retries=True)
    posted = outage.fired
    assert [(e["will_retry"], e["attempts"]) for e in failed_events(outbox)] == [(True, 1), (False, 4)]
    assert len(mails) == 1, [m.problems for m in mails]
    export(engine_options=options, include_retries=True)
    assert outage.fired == posted, "a version that gave up was posted again"
    outcomes = [e.outcome.value for e in log_of(store, "INV-1")]
    assert outcomes == ["failed"] * 4 and "gave up after 4 attempts" in log_of(store, "INV-1")[0].reason

    # Sage is back and the host changes the document: a fresh version starts with fresh attempts.
    # A 500 may follow a commit, and the new version has a new idempotency key: it is sent once
    # Sage's search has had the connector's settle time to show the earlier attempt, if any.
    sandbox.faults.clear()
    host.stage(document(SI, 1, lines=[line("100.00", description="Labour, corrected")]))
    assert export(engine_options=options, include_retries=True).counts["created"] == 0
    clock.advance(minutes=5)
    assert export(engine_options=options, include_retries=True).counts["created"] == 1


class _Buggy:
    """The real connector, except that creating one document hits a bug (an unexpected exception)."""

    def __init__(self, inner: Any, reference: str) -> None:
        self.inner, self.reference, self.tries = inner, reference, 0

    def create_document(self, kind: Any, body: Any, **options: Any) -> Any:
        if body.get("reference") == self.reference:
            self.tries += 1
            raise KeyError("tax_rate")  # e.g. a mapper bug on an odd document
        return self.inner.create_document(kind, body, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_defect_19_an_unexpected_error_fails_one_document_and_the_run_goes_on(
        host, sandbox, store, connector, settings, clock):
    from sagebridge.sync.export import ExportEngine, ExportRequest

    host.stage(document(SI, 1))
    host.stage(document(SI, 2))
    buggy = _Buggy(connector, "INV-00001")
    outbox, mails = InMemoryOutbox(), []

    def run() -> Any:
        clock.advance(seconds=1)
        engine = ExportEngine(store=store, connector=buggy, settings=settings, outbox=outbox, notify=mails.append)
        return engine.run(ExportRequest(tenant_id=TENANT, include_retries=True))

    result = run()
    assert result.status.value == "succeeded" and result.counts["failed"] == 1
    assert [i["reference"] for i in sandbox.accountant().list("sales_invoices")] == ["INV-00002"]
    [entry] = log_of(store, "INV-1")
    assert (entry.outcome.value, entry.reason_code) == ("failed", "internal_error")
    assert "unexpected error" in entry.reason and "KeyError" in entry.reason and "Traceback" not in entry.reason
    assert [(e["host_id"], e["will_retry"]) for e in failed_events(outbox)] == [("INV-1", False)]
    assert len(mails) == 1

    # Later runs leave it alone (no crash loop, no new mail) until the document changes.
    run()
    assert buggy.tries == 1 and len(mails) == 1 and len(log_of(store, "INV-1")) == 1
    host.stage(document(SI, 1, lines=[line("100.00", description="Labour, corrected")]))
    run()
    assert buggy.tries == 2


def test_defect_07_a_void_sage_cannot_do_is_emailed_once_even_on_export_type_all(export, host, sandbox, store):
    host.stage(document(SI, 1))
    export()
    books = sandbox.accountant()
    [invoice] = books.list("sales_invoices")
    books.record_customer_payment(invoice["id"], "50.00")
    host.void("sales_invoice", "INV-1")
    outbox, mails = InMemoryOutbox(), []

    for _ in range(3):
        export(engine_options={"outbox": outbox, "notify": mails.append}, export_type="all", include_retries=True)

    assert len(mails) == 1 and "paid or allocated" in mails[0].problems[0]
    assert outbox.types().count("document.skipped") == 1
    assert books.get("sales_invoices", invoice["id"])["status"]["id"] != "VOID"


# ---- a customer Sage will not create: given up once, like a document (the "silence" rule)

def party_failed_events(outbox: InMemoryOutbox, kind: str = "customer") -> list[dict[str, Any]]:
    return [e for e in failed_events(outbox) if e["kind"] == kind]


def skipped_reasons(store, host_id: str) -> list[str]:
    return [e.reason for e in log_of(store, host_id) if e.outcome.value == "skipped"]


def test_silence_a_customer_sage_refuses_gives_up_once_and_its_documents_say_why(export, host, sandbox, store):
    from .conftest import customer

    host.stage(customer(1))
    host.stage(document(SI, 1, embed_party=False))
    host.stage(document(SI, 2, embed_party=False))
    refusal = sandbox.faults.error(422, times=None, method="POST", path="/contacts")
    outbox, mails = InMemoryOutbox(), []
    options = {"outbox": outbox, "notify": mails.append}

    first = export(engine_options=options, include_retries=True)
    assert refusal.fired == 1, "the contact create was tried again for the second document of the run"
    told = party_failed_events(outbox)
    assert [(e["host_id"], e["will_retry"]) for e in told] == [("CUST-1", False)], told
    assert len(mails) == 1 and sum("CUST-1" in p for p in mails[0].problems) == 1, mails[0].problems
    assert first.counts["skipped"] == 2
    for invoice in ("INV-1", "INV-2"):
        [reason] = skipped_reasons(store, invoice)
        assert "Customer 'CUST-1'" in reason and "Sage refused to create customer" in reason, reason
    assert store.ledger.get(TENANT, "customer", "CUST-1").gave_up

    # Later runs (scheduled, operator) leave this version of the customer alone and stay quiet.
    for trigger in (RunTrigger.SCHEDULE, RunTrigger.OPERATOR, RunTrigger.SCHEDULE):
        export(engine_options=options, include_retries=True, triggered_by=trigger)
        export(engine_options=options, kinds=frozenset({"customer"}), triggered_by=trigger)
    assert refusal.fired == 1, "the refused customer was posted to Sage again"
    assert len(party_failed_events(outbox)) == 1 and len(mails) == 1

    # A replay tries it again.
    export(engine_options=options, triggered_by=RunTrigger.REPLAY, documents=(("customer", "CUST-1"),))
    assert refusal.fired == 2

    # The host fixes the customer: sent again, and its documents follow once Sage accepts it.
    sandbox.faults.clear()
    host.stage(customer(1, phone="01234 567890"))
    fixed = export(engine_options=options, include_retries=True)
    assert fixed.counts["created"] == 3, fixed.counts  # the customer and both invoices
    assert store.ledger.get(TENANT, "customer", "CUST-1").state.value == "exported"


def test_silence_a_customer_sage_cannot_take_now_is_retried_then_given_up_once(export, host, sandbox, store):
    host.stage(document(SI, 1))
    host.stage(document(SI, 2))
    outage = sandbox.faults.error(500, times=None, method="POST", path="/contacts")
    outbox, mails = InMemoryOutbox(), []
    options = {"outbox": outbox, "notify": mails.append}

    export(engine_options=options, include_retries=True)
    per_run = outage.fired
    assert per_run <= 2, "the contact create was tried again for the second document of the run"
    assert [(e["will_retry"], e["attempts"]) for e in party_failed_events(outbox)] == [(True, 1)]
    assert mails == []

    for _ in range(6):  # retry_limit is 3: attempts 2 and 3 retry, the 4th gives up, then nothing
        export(engine_options=options, include_retries=True)
    assert outage.fired == 4 * per_run, "a customer that gave up was posted again"
    assert [(e["will_retry"], e["attempts"]) for e in party_failed_events(outbox)] == [(True, 1), (False, 4)]
    assert len(mails) == 1

    sandbox.faults.clear()
    # A replay of its documents (the customer came with them) tries the customer again.
    replay = export(engine_options=options, triggered_by=RunTrigger.REPLAY,
                    documents=(("sales_invoice", "INV-1"), ("sales_invoice", "INV-2")))
    assert replay.counts["created"] == 3, replay.counts
    assert store.ledger.get(TENANT, "customer", "CUST-1").state.value == "exported"


class _BuggyContacts:
    """A connector whose contact create hits a bug (not a Sage refusal)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.tries = inner, 0

    def create_contact(self, body: dict[str, Any], **options: Any) -> Any:
        self.tries += 1
        raise KeyError("boom")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_silence_a_catalog_customer_hitting_an_unexpected_error_gives_up_once(
        host, sandbox, store, connector, settings, clock):
    from sagebridge.sync.export import ExportEngine, ExportRequest

    from .conftest import customer

    host.stage(customer(1))
    buggy = _BuggyContacts(connector)
    outbox, mails = InMemoryOutbox(), []

    def run() -> Any:
        clock.advance(seconds=1)
        engine = ExportEngine(store=store, connector=buggy, settings=settings, outbox=outbox, notify=mails.append)
        return engine.run(ExportRequest(tenant_id=TENANT, kinds=frozenset({"customer"}), include_retries=True))

    assert run().counts["failed"] == 1
    assert [(e["host_id"], e["will_retry"]) for e in party_failed_events(outbox)] == [("CUST-1", False)]
    assert len(mails) == 1
    entry = store.ledger.get(TENANT, "customer", "CUST-1")
    assert entry.state.value == "failed" and "unexpected error" in (entry.reason or "")

    for _ in range(3):
        run()
    assert buggy.tries == 1 and len(mails) == 1 and len(party_failed_events(outbox)) == 1

    host.stage(customer(1, phone="01234 567890"))  # changed: tried again
    run()
    assert buggy.tries == 2

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
        export, host, sandbox, store):
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
    sandbox.faults.clear()
    host.stage(document(SI, 1, lines=[line("100.00", description="Labour, corrected")]))
    assert export(engine_options=options, include_retries=True).counts["created"] == 1

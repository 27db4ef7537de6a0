"""Trigger exports that coalesce: a burst of documents reaching a trigger status becomes one run,
not one run per document, and no trigger is ever lost.

One item per tenant (TENANT#t / TRIGGERS#export) holds the triggers still waiting (a string set,
one element per webhook event) and `queued_at`, set while a job is queued or its run is going.
- The webhook adds its trigger. If a job was queued less than STALE_AFTER ago, that job's run will
  read the trigger: nothing more is queued. Otherwise it sets `queued_at` and queues one job, at
  once (no SQS delay: a single trigger is not held back; the rest of a burst joins the run's next
  round, which grows with the burst).
- The job's run exports its own documents and every waiting trigger's, removes those it exported,
  and looks again: triggers that arrived during the run are exported by the same job before it
  ends. Only when none is left does it clear `queued_at` (conditionally on the set being empty), so
  the next trigger queues a job again.
- A trigger stays in the set until a run exported it: a run that dies leaves its triggers for the
  job's redelivery or the next trigger's job. A `queued_at` no run will clear (a job dropped or
  lost) stops coalescing after STALE_AFTER: the next trigger queues a job again.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sagebridge.domain.errors import ConflictError
from sagebridge.host.jobs import DocumentRef
from sagebridge.store import keys
from sagebridge.store.table import Table, iso, serialize

TRIGGERS_SK = "TRIGGERS#export"
# A queued job runs within seconds; a `queued_at` this old belongs to a job that will not come.
STALE_AFTER = timedelta(minutes=2)
# A trigger job that finds another export of the tenant running waits this long and tries again
# (rather than the queue's 30-minute visibility timeout).
LEASE_HELD_RETRY_SECONDS = 15


def trigger_element(kind: str, host_id: str, event_id: str) -> str:
    return json.dumps([kind, host_id, event_id], separators=(",", ":"))


def document_of(element: str) -> DocumentRef:
    kind, host_id, _event = json.loads(element)
    return DocumentRef(kind=kind, host_id=host_id)


class PendingTriggers:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _update(self, tenant_id: str, expression: str, **params: Any) -> dict[str, Any]:
        """One UpdateItem of the tenant's triggers item (ConflictError when its condition fails)."""
        return self._table.call("update_item", f"export triggers of tenant {tenant_id}", TableName=self._table.name,
                                Key=serialize({"pk": keys.tenant_pk(tenant_id), "sk": TRIGGERS_SK}),
                                UpdateExpression=expression, **params)

    def add(self, tenant_id: str, element: str) -> bool:
        """Record a trigger. True: no job is queued for it, the caller queues one (`queued_at` is
        set now); False: a job queued moments ago will export it."""
        now = self._table.now()
        values = {":trigger": {"SS": [element]}, ":fresh": {"S": iso(now - STALE_AFTER)}}
        try:
            self._update(tenant_id, "ADD waiting :trigger", ConditionExpression="queued_at > :fresh",
                         ExpressionAttributeValues=values)
            return False
        except ConflictError:
            pass
        self._update(tenant_id, "ADD waiting :trigger SET queued_at = :now, tenant_id = :tenant",
                     ExpressionAttributeValues={":trigger": {"SS": [element]}, ":now": {"S": iso(now)},
                                                ":tenant": {"S": tenant_id}})
        return True

    def not_queued(self, tenant_id: str) -> None:
        """The job could not be queued: the next trigger (the host's retry) queues one."""
        self._update(tenant_id, "REMOVE queued_at")

    def waiting(self, tenant_id: str) -> set[str]:
        item = self._table.get(keys.tenant_pk(tenant_id), TRIGGERS_SK)
        return set(item.get("waiting") or ()) if item else set()

    def exported(self, tenant_id: str, elements: set[str]) -> bool:
        """Drop the triggers a run exported. True when none is left (and `queued_at` is cleared:
        the next trigger queues a job); False when more arrived meanwhile (still queued)."""
        if elements:
            answer = self._update(
                tenant_id, "DELETE waiting :done SET queued_at = :now",
                ExpressionAttributeValues={":done": {"SS": sorted(elements)}, ":now": {"S": iso(self._table.now())}},
                ReturnValues="ALL_NEW")
            if answer.get("Attributes", {}).get("waiting"):
                return False
        try:
            self._update(tenant_id, "REMOVE queued_at", ConditionExpression="attribute_not_exists(waiting)")
        except ConflictError:
            return False
        return True


__all__ = ["LEASE_HELD_RETRY_SECONDS", "STALE_AFTER", "PendingTriggers", "document_of",
           "trigger_element"]

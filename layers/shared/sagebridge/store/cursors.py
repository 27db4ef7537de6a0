"""Cursors (TENANT#t / CURSOR#stream): how far a poll got ("last successful poll"). A cursor only
moves forward, so a slow, late poller can never rewind a faster one."""

from __future__ import annotations

from sagebridge.store import keys
from sagebridge.store.records import Cursor
from sagebridge.store.table import Item, Table, iso, parse_iso, put


class Cursors:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, tenant_id: str, stream: str) -> Cursor | None:
        """None when the stream was never polled."""
        item = self._table.get(keys.tenant_pk(tenant_id), keys.cursor_sk(stream))
        return _cursor(item) if item else None

    def set(self, tenant_id: str, stream: str, position: str) -> Cursor:
        """Move the cursor to `position` (an equal position just records the poll time).
        ConflictError if the stored position is already further on. Positions compare as strings:
        use ISO-8601 UTC timestamps or zero-padded numbers."""
        now = self._table.now()
        self._table.write(put(
            {"pk": keys.tenant_pk(tenant_id), "sk": keys.cursor_sk(stream), "tenant_id": tenant_id,
             "stream": stream, "position": position, "updated_at": iso(now)},
            condition="attribute_not_exists(pk) OR #position <= :position",
            names={"#position": "position"}, values={":position": position},
            what=f"cursor {stream} of tenant {tenant_id}",
        ))
        return Cursor(tenant_id, stream, position, now)


def _cursor(item: Item) -> Cursor:
    updated = parse_iso(item["updated_at"])
    assert updated
    return Cursor(item["tenant_id"], item["stream"], item["position"], updated)

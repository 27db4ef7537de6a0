"""What the payment poller and the catalog import read from Sage Accounting (`Feed`, connectors/base.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sagebridge.connectors.sage_accounting.client import SageAccountingClient


class SageAccountingFeed:
    """SageFeed over a tenant's Sage Accounting client: every page, 200 a page."""

    def __init__(self, client: SageAccountingClient) -> None:
        self.client = client

    def changed(self, resource: str, since: datetime | None, **filters: Any) -> Iterator[Mapping[str, Any]]:
        # since None: everything (a first catalog import)
        return self.client.iterate(resource, updated_or_created_since=since, attributes="all", **filters)

    def deleted(self, resource: str, since: datetime) -> Iterator[Mapping[str, Any]]:
        return self.client.iterate(resource, deleted_since=since)

    def get(self, resource: str, sage_id: str) -> Mapping[str, Any]:
        return self.client.get(resource, sage_id)


__all__ = ["SageAccountingFeed"]

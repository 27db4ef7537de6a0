"""`Store`: the app table and one repository per aggregate, built around one lazily created client."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sagebridge.store.connections import Connections
from sagebridge.store.cursors import Cursors
from sagebridge.store.deliveries import Deliveries
from sagebridge.store.documents import Documents
from sagebridge.store.leases import Leases
from sagebridge.store.ledger import Ledger
from sagebridge.store.mappings import Mappings
from sagebridge.store.oauth_states import OAuthStates
from sagebridge.store.runs import Runs
from sagebridge.store.synclog import SyncLog
from sagebridge.store.table import Clock, DynamoDBClient, Table, Write, utc_now
from sagebridge.store.tenants import Tenants

if TYPE_CHECKING:
    from sagebridge.settings import Settings
    from sagebridge.store.aws import AwsClients


class Store:
    """Everything Sage Bridge keeps in DynamoDB.

    `Store.from_settings(get_settings())` in a Lambda (the client is created on first use);
    `Store(table_name, client=..., clock=...)` in tests. Writes that must happen together are built
    with the repositories' `*_op` methods and run with `transact`."""

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        *,
        client_factory: Callable[[], DynamoDBClient] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.table = Table(table_name, client, client_factory=client_factory, clock=clock)
        self.tenants = Tenants(self.table)
        self.connections = Connections(self.table)
        self.documents = Documents(self.table)
        self.mappings = Mappings(self.table)
        self.ledger = Ledger(self.table)
        self.synclog = SyncLog(self.table)
        self.runs = Runs(self.table)
        self.cursors = Cursors(self.table)
        self.leases = Leases(self.table)
        self.oauth_states = OAuthStates(self.table)
        self.deliveries = Deliveries(self.table)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clients: AwsClients | None = None, clock: Clock = utc_now
    ) -> Store:
        """The deployed table. The client comes from `clients` (shared with the other adapters;
        the local stack overrides it) or is created on first use."""
        factory = (lambda: clients.dynamodb) if clients is not None else None
        return cls(settings.table_name, client_factory=factory, clock=clock)

    def transact(self, writes: Sequence[Write], *, token: str | None = None) -> None:
        """Run writes all-or-nothing (at most 100). Any failed condition cancels all of them and
        raises ConflictError. `token` makes a retried transaction idempotent for 10 minutes."""
        self.table.transact(writes, token)

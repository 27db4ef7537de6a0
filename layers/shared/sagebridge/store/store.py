"""`Store`: the app table and one repository per aggregate, built around one lazily created client."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sagebridge.domain.errors import ConflictError
from sagebridge.store.connections import Connections
from sagebridge.store.cursors import Cursors
from sagebridge.store.deliveries import Deliveries
from sagebridge.store.documents import Documents
from sagebridge.store.leases import Leases
from sagebridge.store.ledger import Ledger
from sagebridge.store.mappings import Mappings
from sagebridge.store.oauth_states import OAuthStates
from sagebridge.store.records import ConnectionRecord
from sagebridge.store.runs import Runs
from sagebridge.store.settings_history import SettingsHistory
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
        self.settings_history = SettingsHistory(self.table)

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

    def save_login_connection(self, record: ConnectionRecord, *, what: str,
                              same_books: Callable[[ConnectionRecord], bool] = lambda _other: True) -> None:
        """Save the connection of a product a tenant connects to by typing a login in. Refused
        (ConflictError naming the other tenant, for the operator) when another tenant's connection
        holds the same books (`same_books` narrows a business id to the books, e.g. an Intacct
        entity): two tenants exporting into one set of books take each other's documents for their own."""
        others = [r for r in self.connections.of_business(record.provider, record.business_id or "",
                                                          (t.tenant_id for t in self.tenants.iter_all()))
                  if r.tenant_id != record.tenant_id and same_books(r)]
        if others:
            raise ConflictError(f"{what} was not connected: {record.business_name or record.business_id} is already "
                                f"connected to tenant {others[0].tenant_id}, and two tenants exporting into the same "
                                "books would post each other's documents. Disconnect that tenant first.")
        for _ in range(5):
            existing = self.connections.find(record.tenant_id, record.provider)
            try:
                self.connections.save(record, expected_version=existing.version if existing else None)
                return
            except ConflictError:
                continue
        raise ConflictError(f"could not save the {what} connection of tenant {record.tenant_id}: it keeps changing")

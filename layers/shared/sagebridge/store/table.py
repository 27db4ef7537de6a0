"""The one place that calls DynamoDB: serialisation, ClientError -> domain error mapping, single and
transactional writes, paged queries and batch deletes. Repositories build requests; this runs them."""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from botocore.exceptions import ClientError

from sagebridge.domain.errors import (
    ConfigurationError,
    ConflictError,
    NotFoundError,
    SageBridgeError,
    ThrottledError,
)

DynamoDBClient = Any  # botocore's generated client; no stubs are installed in the layer
Item = dict[str, Any]
Clock = Callable[[], datetime]
T = TypeVar("T")

THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
MAX_TRANSACTION_ITEMS = 100
_BATCH_SIZE = 25
_BATCH_GET_SIZE = 100

_codec: tuple[Any, Any, type] | None = None


def _types() -> tuple[Any, Any, type]:
    """boto3's (serializer, deserializer, Binary), on first use: importing boto3 (and s3transfer
    with it) costs ~20 ms of a cold start that the handlers' imports no longer pay up front."""
    global _codec
    if _codec is None:
        from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

        _codec = (TypeSerializer(), TypeDeserializer(), Binary)
    return _codec


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """One fixed format (UTC, milliseconds) so timestamps stored as strings also sort and compare."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def iso_or_none(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None


def parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def epoch_seconds(moment: datetime) -> int:
    return int(moment.timestamp())


class StoreError(SageBridgeError):
    """DynamoDB refused a request for a reason that is not a conflict, throttling or missing table
    (usually a bug: a malformed request). The ClientError is the __cause__."""


class ClaimConflict(ConflictError):
    """A conditional write lost; `current` is what DynamoDB found (None if absent): the raw item,
    or the repository's record where the repository says so (Ledger.claim: a LedgerEntry)."""

    def __init__(self, message: str, current: Any = None) -> None:
        super().__init__(message)
        self.current = current


@dataclass(frozen=True, slots=True)
class Write:
    """One write, runnable alone (`Table.write`) or with others in a transaction
    (`Table.transact`). `action` is the TransactWriteItems member name; `params` are the low-level
    request parameters without TableName."""

    action: Literal["Put", "Update", "Delete", "ConditionCheck"]
    params: dict[str, Any]
    what: str = ""  # for error messages: which write lost


@dataclass(frozen=True, slots=True)
class IfAbsent:
    """In `update(set_=...)`: set the attribute only if the item does not have it yet."""

    value: Any


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing. `next_token` is opaque; pass it back to get the next page (None:
    no more). A page may hold fewer items than asked for when a filter dropped some."""

    items: list[T] = field(default_factory=list)
    next_token: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def serialize(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python -> DynamoDB attribute values. Floats are refused by TypeSerializer: money is Decimal."""
    serializer = _types()[0]
    return {k: serializer.serialize(v) for k, v in values.items() if v is not None}


def deserialize(item: Mapping[str, Any]) -> Item:
    _, deserializer, binary = _types()
    out = {k: deserializer.deserialize(v) for k, v in item.items()}
    # Binary attributes come back wrapped; callers get the bytes.
    return {k: (v.value if isinstance(v, binary) else v) for k, v in out.items()}  # type: ignore[attr-defined]


def plain(value: Any) -> Any:
    """Deserialised value -> JSON-able Python: whole Decimals to int, sets to sorted lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return sorted(plain(v) for v in value)
    return value


def translate(exc: ClientError, what: str = "") -> SageBridgeError:
    """Map a ClientError onto the error every layer speaks."""
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    message = f"{what}: {code}" if what else code
    if code == "ConditionalCheckFailedException":
        current = exc.response.get("Item")
        return ClaimConflict(message, deserialize(current) if current else None)
    if code == "TransactionCanceledException":
        reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
        detail = f"{message} {reasons}"
        if any(r in ("ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded")
               for r in reasons):
            return ThrottledError(detail)
        if any(r in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons):
            return ConflictError(detail)
        return StoreError(detail)
    if code in THROTTLING_CODES:
        return ThrottledError(message)
    if code == "ResourceNotFoundException":
        return ConfigurationError(f"{message}: the table does not exist (TABLE_NAME?)")
    return StoreError(f"{message}: {error.get('Message', '')}")


def encode_token(last_key: Mapping[str, Any] | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key, sort_keys=True).encode()).decode()


def decode_token(token: str, partition: tuple[str, str]) -> dict[str, Any]:
    """A next_token back into an ExclusiveStartKey, refusing one minted for another partition
    (another tenant): paging must never cross tenants."""
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("next_token is not valid") from exc
    attr, value = partition
    if not isinstance(key, dict) or key.get(attr) != {"S": value}:
        raise ValueError("next_token does not belong to this listing")
    return key


class Table:
    """The app table: a lazily created (or injected) low-level client, its name and a clock."""

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        *,
        client_factory: Callable[[], DynamoDBClient] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        if not table_name:
            raise ConfigurationError("table name is empty")
        self.name = table_name
        self.clock = clock
        self._client = client
        self._client_factory = client_factory or _default_client
        self._lock = threading.Lock()

    @property
    def client(self) -> DynamoDBClient:
        # Created on first use, not at import or construction: cold starts that never touch
        # DynamoDB don't pay for it, and tests inject their own.
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._client_factory()
        return self._client

    def now(self) -> datetime:
        moment = self.clock()
        if moment.tzinfo is None:
            raise ValueError("the clock must return timezone-aware datetimes")
        return moment.astimezone(UTC)

    def call(self, operation: str, what: str = "", **params: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self.client, operation)(**params)
        except ClientError as exc:
            raise translate(exc, what or operation) from exc
        return response

    def get(self, pk: str, sk: str) -> Item | None:
        # Strongly consistent: state machines (ledger, leases, tokens) read their own writes.
        response = self.call(
            "get_item", TableName=self.name, Key=serialize({"pk": pk, "sk": sk}), ConsistentRead=True
        )
        item = response.get("Item")
        return deserialize(item) if item else None

    def write(self, write: Write, **extra: Any) -> dict[str, Any]:
        """Run one write alone; `extra` adds single-call-only parameters such as ReturnValues."""
        operation = {"Put": "put_item", "Update": "update_item", "Delete": "delete_item"}[write.action]
        response = self.call(operation, write.what, TableName=self.name, **write.params, **extra)
        attributes = response.get("Attributes")
        return deserialize(attributes) if attributes else {}

    def write_existing(self, write: Write, **extra: Any) -> dict[str, Any]:
        """Like `write`, but when the condition lost because the item is absent, NotFoundError
        (the caller asked for something that must exist); otherwise ConflictError as usual."""
        try:
            return self.write(write, ReturnValuesOnConditionCheckFailure="ALL_OLD", **extra)
        except ClaimConflict as exc:
            if exc.current is None:
                raise missing(write.what or "item") from exc
            raise

    def transact(self, writes: Sequence[Write], token: str | None = None) -> None:
        """All-or-nothing: any failing condition cancels every write (-> ConflictError)."""
        if not writes:
            return
        if len(writes) > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"a transaction holds at most {MAX_TRANSACTION_ITEMS} writes")
        items = [self._transact_item(w) for w in writes]
        params: dict[str, Any] = {"TransactItems": items}
        if token:
            params["ClientRequestToken"] = token
        what = "transaction(" + ", ".join(w.what or w.action for w in writes) + ")"
        self.call("transact_write_items", what, **params)

    def transact_each(self, writes: Sequence[Write]) -> list[bool]:
        """Conditional writes many at once: transactions of up to MAX_TRANSACTION_ITEMS (distinct
        items), a cancelled one sent again without the writes whose condition failed. Answers, per
        write, whether it was written; a cancellation for another reason (throttling, a conflicting
        transaction) raises as `transact` does."""
        done = [False] * len(writes)
        for start in range(0, len(writes), MAX_TRANSACTION_ITEMS):
            chunk = list(range(start, min(start + MAX_TRANSACTION_ITEMS, len(writes))))
            while chunk:
                refused = self._send_transaction([self._transact_item(writes[i]) for i in chunk])
                if refused is not None:
                    exc, reasons = refused
                    failed = {chunk[j] for j, code in enumerate(reasons) if code == "ConditionalCheckFailed"}
                    if not failed:
                        raise translate(exc, "transaction of conditional writes") from exc
                    chunk = [i for i in chunk if i not in failed]
                    continue
                for i in chunk:
                    done[i] = True
                chunk = []
        return done

    def transact_groups(self, groups: Sequence[Sequence[Write]]) -> list[bool]:
        """Several all-or-nothing groups of writes in one TransactWriteItems: each group stands or
        falls as if it were a transaction of its own (`transact`, ConflictError: False). A group
        whose condition failed is left out and the others sent again; any other cancellation
        (a conflicting transaction, throttling) sends each group alone instead. Answers, per
        group, whether it was written; an error that is not a conflict raises as `transact` does."""
        if len(groups) == 1 or sum(map(len, groups)) > MAX_TRANSACTION_ITEMS:
            return [self._transact_or_false(g) for g in groups]
        owner = [i for i, g in enumerate(groups) for _ in g]
        items = [self._transact_item(w) for g in groups for w in g]
        refused = self._send_transaction(items)
        if refused is None:
            return [True] * len(groups)
        _, reasons = refused
        if len(reasons) != len(items) or not set(reasons) <= {"None", "ConditionalCheckFailed"}:
            return [self._transact_or_false(g) for g in groups]
        lost = {owner[j] for j, code in enumerate(reasons) if code == "ConditionalCheckFailed"}
        if not lost:
            return [self._transact_or_false(g) for g in groups]
        kept = [i for i in range(len(groups)) if i not in lost]
        done = dict(zip(kept, self.transact_groups([groups[i] for i in kept]) if kept else [], strict=True))
        return [done.get(i, False) for i in range(len(groups))]

    def _transact_item(self, write: Write) -> dict[str, Any]:
        return {write.action: {"TableName": self.name, **write.params}}

    def _send_transaction(self, items: list[dict[str, Any]]) -> tuple[ClientError, list[str]] | None:
        """One TransactWriteItems as it is: None when written; else the error and, when DynamoDB
        cancelled it, each item's cancellation code ("None" for an item that did not cause it;
        no codes for any other error, e.g. throttling)."""
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                return exc, []
            return exc, [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
        return None

    def _transact_or_false(self, writes: Sequence[Write]) -> bool:
        try:
            self.transact(writes)
        except ConflictError:
            return False
        return True

    def query_page(
        self,
        key_condition: str,
        values: Mapping[str, Any],
        *,
        partition: tuple[str, str],
        names: Mapping[str, str] | None = None,
        index: str | None = None,
        filter_expression: str | None = None,
        newest_first: bool = False,
        limit: int = 50,
        next_token: str | None = None,
        projection: str | None = None,
    ) -> tuple[list[Item], str | None]:
        """One page of a Query. `partition` is (key attribute, value) of the partition queried; it
        guards next_token. With a filter, DynamoDB applies Limit before filtering. `projection`:
        only these attributes come back (a ProjectionExpression; its #names go in `names`)."""
        params: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeValues": serialize(values),
            "ScanIndexForward": not newest_first,
            "Limit": limit,
        }
        if names:
            params["ExpressionAttributeNames"] = dict(names)
        if index:
            params["IndexName"] = index
        else:
            params["ConsistentRead"] = True
        if filter_expression:
            params["FilterExpression"] = filter_expression
        if projection:
            params["ProjectionExpression"] = projection
        if next_token:
            params["ExclusiveStartKey"] = decode_token(next_token, partition)
        response = self.call("query", "query", **params)
        items = [deserialize(i) for i in response.get("Items", [])]
        return items, encode_token(response.get("LastEvaluatedKey"))

    def query_all(self, key_condition: str, values: Mapping[str, Any], **kwargs: Any) -> Iterator[Item]:
        """Every item of a Query, page after page."""
        token: str | None = None
        while True:
            items, token = self.query_page(key_condition, values, next_token=token, **kwargs)
            yield from items
            if not token:
                return

    def batch_get(self, keys: Sequence[tuple[str, str]]) -> list[Item]:
        """Get up to any number of items by (pk, sk), 100 per BatchGetItem, strongly consistent,
        retrying what DynamoDB leaves unprocessed. Absent items are simply not returned; order is
        not kept (callers index by key). Used by the export engine to read a page's ledger entries
        and mappings in one request instead of one per document."""
        found: list[Item] = []
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _BATCH_GET_SIZE):
            wanted = [serialize({"pk": pk, "sk": sk}) for pk, sk in unique[start : start + _BATCH_GET_SIZE]]
            pending: dict[str, Any] = {self.name: {"Keys": wanted, "ConsistentRead": True}}
            for attempt in range(10):
                response = self.call("batch_get_item", "batch get", RequestItems=pending)
                found += [deserialize(i) for i in response.get("Responses", {}).get(self.name, [])]
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 2.0))  # unprocessed = throttled: back off
            else:
                raise ThrottledError("batch get: keys left unprocessed after 10 tries")
        return found

    def batch_put(self, writes: Sequence[Write]) -> int:
        """Run unconditional-in-effect Puts 25 per BatchWriteItem, retrying what DynamoDB leaves
        unprocessed. BatchWriteItem takes no conditions, so a Put's ConditionExpression is dropped:
        only for items whose condition is a duplicate guard (a sync log line with a fresh seq) or
        that have none (mappings)."""
        if any(w.action != "Put" for w in writes):
            raise ValueError("batch_put takes Puts only")
        for start in range(0, len(writes), _BATCH_SIZE):
            requests = [{"PutRequest": {"Item": w.params["Item"]}} for w in writes[start : start + _BATCH_SIZE]]
            pending: dict[str, Any] = {self.name: requests}
            for attempt in range(10):
                response = self.call("batch_write_item", "batch put", RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 2.0))  # unprocessed = throttled: back off
            else:
                raise ThrottledError("batch put: items left unprocessed after 10 tries")
        return len(writes)

    def batch_delete(self, keys: Sequence[tuple[str, str]]) -> int:
        """Delete by (pk, sk) in batches of 25, retrying what DynamoDB leaves unprocessed."""
        for start in range(0, len(keys), _BATCH_SIZE):
            requests = [
                {"DeleteRequest": {"Key": serialize({"pk": pk, "sk": sk})}}
                for pk, sk in keys[start : start + _BATCH_SIZE]
            ]
            pending: dict[str, Any] = {self.name: requests}
            for attempt in range(10):
                response = self.call("batch_write_item", "batch delete", RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 2.0))  # unprocessed = throttled: back off
            else:
                raise ThrottledError("batch delete: items left unprocessed after 10 tries")
        return len(keys)


def put(
    item: Mapping[str, Any],
    *,
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    what: str = "",
) -> Write:
    """A Put of `item` (None values left out), optionally conditional."""
    params: dict[str, Any] = {"Item": serialize(item)}
    _add_condition(params, condition, dict(names or {}), dict(values or {}))
    return Write("Put", params, what)


def update(
    key: tuple[str, str],
    *,
    set_: Mapping[str, Any] | None = None,
    add: Mapping[str, int] | None = None,
    remove: Sequence[str] = (),
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    what: str = "",
) -> Write:
    """An Update. Attribute names in set_/add/remove are aliased (#s0, #a0, #r0) so DynamoDB's
    reserved words (state, status, version, owner...) never bite; a None in set_ removes the
    attribute. `condition` refers to its own #names/:values given in `names`/`values`."""
    all_names, all_values = dict(names or {}), dict(values or {})
    sets, adds, removes = [], [], []
    for i, (attr, value) in enumerate((set_ or {}).items()):
        all_names[f"#s{i}"] = attr
        if value is None:
            removes.append(f"#s{i}")
        elif isinstance(value, IfAbsent):
            all_values[f":s{i}"] = value.value
            sets.append(f"#s{i} = if_not_exists(#s{i}, :s{i})")
        else:
            all_values[f":s{i}"] = value
            sets.append(f"#s{i} = :s{i}")
    for i, (attr, amount) in enumerate((add or {}).items()):
        all_names[f"#a{i}"], all_values[f":a{i}"] = attr, amount
        adds.append(f"#a{i} :a{i}")
    for i, attr in enumerate(remove):
        all_names[f"#r{i}"] = attr
        removes.append(f"#r{i}")
    clauses = [f"{verb} {', '.join(parts)}" for verb, parts in
               (("SET", sets), ("ADD", adds), ("REMOVE", removes)) if parts]
    params: dict[str, Any] = {"Key": serialize({"pk": key[0], "sk": key[1]}),
                              "UpdateExpression": " ".join(clauses)}
    _add_condition(params, condition, all_names, all_values)
    return Write("Update", params, what)


def delete(
    key: tuple[str, str],
    *,
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    what: str = "",
) -> Write:
    params: dict[str, Any] = {"Key": serialize({"pk": key[0], "sk": key[1]})}
    _add_condition(params, condition, dict(names or {}), dict(values or {}))
    return Write("Delete", params, what)


def _add_condition(
    params: dict[str, Any], condition: str | None, names: dict[str, str], values: dict[str, Any]
) -> None:
    if condition:
        params["ConditionExpression"] = condition
    if names:
        params["ExpressionAttributeNames"] = names
    if values:
        params["ExpressionAttributeValues"] = serialize(values)


def _default_client() -> DynamoDBClient:
    from sagebridge.store.aws import new_client  # boto3 is imported there, by the first use of a Store

    client: DynamoDBClient = new_client("dynamodb")
    return client


def missing(what: str) -> NotFoundError:
    return NotFoundError(f"{what} not found")

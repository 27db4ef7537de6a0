"""The table helper without a network: ClientError mapping (botocore Stubber), expressions, tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber

from sagebridge.domain.errors import ConfigurationError, ConflictError, NotFoundError, ThrottledError
from sagebridge.store import ClaimConflict, Store, StoreError
from sagebridge.store.table import IfAbsent, decode_token, encode_token, serialize, update


@pytest.fixture
def stubbed():
    client = boto3.client("dynamodb", region_name="eu-west-2")
    with Stubber(client) as stubber:
        yield Store("app", client, clock=lambda: datetime(2024, 1, 1, tzinfo=UTC)), stubber


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException",
                                  "RequestLimitExceeded"])
def test_throttling_becomes_throttled_error(stubbed, code):
    store, stubber = stubbed
    stubber.add_client_error("get_item", service_error_code=code, http_status_code=400)
    with pytest.raises(ThrottledError):
        store.tenants.find("acme")


def test_lost_condition_becomes_conflict_error(stubbed):
    store, stubber = stubbed
    stubber.add_client_error("put_item", service_error_code="ConditionalCheckFailedException")
    with pytest.raises(ConflictError):
        store.tenants.create("acme", {})


def test_lost_condition_on_an_absent_item_becomes_not_found(stubbed):
    store, stubber = stubbed
    stubber.add_client_error("update_item", service_error_code="ConditionalCheckFailedException")
    with pytest.raises(NotFoundError):
        store.tenants.set_enabled("acme", False)


def test_lost_condition_carries_what_was_found(stubbed):
    store, stubber = stubbed
    stubber.add_client_error(
        "update_item", service_error_code="ConditionalCheckFailedException",
        response_meta={},
        modeled_fields={"Item": serialize({"tenant_id": "acme", "kind": "invoice", "host_id": "1",
                                           "state": "exported", "sage_id": "s1"})},
    )
    with pytest.raises(ClaimConflict) as lost:
        store.ledger.claim("acme", "invoice", "1", idempotency_key="k", payload_hash="h")
    assert lost.value.current.sage_id == "s1"


@pytest.mark.parametrize(("reasons", "error"), [
    (["None", "ConditionalCheckFailed"], ConflictError),
    (["TransactionConflict", "None"], ConflictError),
    (["ThrottlingError"], ThrottledError),
    (["ValidationError"], StoreError),
])
def test_cancelled_transactions(stubbed, reasons, error):
    store, stubber = stubbed
    stubber.add_client_error(
        "transact_write_items", service_error_code="TransactionCanceledException",
        modeled_fields={"CancellationReasons": [{"Code": r} for r in reasons]},
    )
    with pytest.raises(error):
        store.transact([store.mappings.put_op("acme", "customer", "C1", "s1")])


def test_missing_table_and_other_errors(stubbed):
    store, stubber = stubbed
    stubber.add_client_error("get_item", service_error_code="ResourceNotFoundException")
    stubber.add_client_error("get_item", service_error_code="ValidationException", service_message="bad key")
    with pytest.raises(ConfigurationError):
        store.tenants.find("acme")
    with pytest.raises(StoreError, match="bad key"):
        store.tenants.find("acme")


def test_the_client_is_created_on_first_use_only():
    made = []
    store = Store("app", client_factory=lambda: made.append(1) or object())
    assert made == []
    assert store.table.client is store.table.client
    assert made == [1]


def test_update_aliases_every_name_and_removes_nones():
    w = update(("P", "S"), set_={"state": "x", "reason": None, "created_at": IfAbsent("t")},
               add={"attempts": 1}, condition="#v = :v", names={"#v": "version"}, values={":v": 2})
    p = w.params
    assert p["UpdateExpression"] == "SET #s0 = :s0, #s2 = if_not_exists(#s2, :s2) ADD #a0 :a0 REMOVE #s1"
    assert p["ExpressionAttributeNames"] == {"#v": "version", "#s0": "state", "#s1": "reason",
                                             "#s2": "created_at", "#a0": "attempts"}
    assert ":s1" not in p["ExpressionAttributeValues"]
    assert p["ConditionExpression"] == "#v = :v"


def test_money_is_never_float():
    assert serialize({"a": Decimal("1.10")}) == {"a": {"N": "1.10"}}
    with pytest.raises(TypeError):
        serialize({"a": 1.1})


def test_next_tokens_are_bound_to_their_partition():
    key = {"pk": {"S": "TENANT#a"}, "sk": {"S": "MAP#x"}}
    token = encode_token(key)
    assert decode_token(token, ("pk", "TENANT#a")) == key
    with pytest.raises(ValueError):
        decode_token(token, ("pk", "TENANT#b"))
    assert encode_token(None) is None

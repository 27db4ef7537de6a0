"""The container's AWS clients (sagebridge.store.aws): one boto3 session for all of them (a cold
start builds botocore's loaders and credential chain once), and the hot DynamoDB client without
client-side parameter validation, with standard retries."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.validate import ParamValidationDecorator

from sagebridge.store import aws
from sagebridge.store.aws import AwsClients
from sagebridge.store.table import Table


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    monkeypatch.setattr(aws, "_session", None)
    made: list[Any] = []
    real = boto3.session.Session

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(boto3.session, "Session", counted)
    return made


def test_every_client_of_a_container_comes_from_one_session(sessions):
    clients = AwsClients()
    made = [clients.dynamodb, clients.kms, clients.sqs, clients.sns, clients.secretsmanager,
            AwsClients().sqs, Table("app").client]
    assert len(sessions) == 1
    assert {c.meta.service_model.service_name for c in made} == {"dynamodb", "kms", "sqs", "sns", "secretsmanager"}


def test_the_dynamodb_client_skips_parameter_validation_and_retries_throttling(sessions):
    for client in (AwsClients().dynamodb, Table("app").client):
        # botocore wraps the serializer in a validator unless the Config turns validation off.
        assert not isinstance(client._serializer, ParamValidationDecorator)
        assert client.meta.config.retries["mode"] == "standard"
    assert isinstance(AwsClients().sqs._serializer, ParamValidationDecorator)  # only the hot client


def test_a_changed_aws_environment_gets_a_session_of_its_own(sessions, monkeypatch):
    """A session keeps the credentials and endpoints it first saw: the local stack and tests that
    point AWS elsewhere between invocations must not reach the old place."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    first = AwsClients().sqs
    assert first.meta.endpoint_url == "http://127.0.0.1:4566"
    AwsClients().kms
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4567")
    assert AwsClients().sqs.meta.endpoint_url == "http://127.0.0.1:4567"
    assert len(sessions) == 2


def test_the_dynamodb_client_reads_every_kind_of_attribute_value_as_botocore_would(sessions):
    """The deployed DynamoDB client takes plain attribute values (strings, numbers, booleans, nulls
    and their sets) from a response as they came instead of walking their shape: what it answers
    must be what botocore's own parser answers, binary, map and list values included."""
    import json

    from botocore.parsers import create_parser

    client = AwsClients().dynamodb
    output = client.meta.service_model.operation_model("Query").output_shape
    item = {"pk": {"S": "TENANT#a"}, "n": {"N": "12.50"}, "yes": {"BOOL": True}, "none": {"NULL": True},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "blob": {"B": "aGVsbG8="},
            "blobs": {"BS": ["aGk="]}, "map": {"M": {"s": {"S": "x"}, "b": {"B": "aGk="}, "l": {"L": [{"N": "1"}]}}},
            "list": {"L": [{"S": "y"}, {"M": {"n": {"N": "3"}}}, {"B": "aGk="}]}}
    body = json.dumps({"Items": [item], "Count": 1, "ScannedCount": 1,
                       "LastEvaluatedKey": {"pk": {"S": "TENANT#a"}}}).encode()

    def parsed(parser: Any) -> Any:
        return parser.parse({"body": body, "headers": {}, "status_code": 200,
                             "context": {"operation_name": "Query"}}, output)

    ours = client._endpoint._response_parser_factory.create_parser("json")
    theirs = create_parser("json")
    assert type(ours) is not type(theirs)  # the client does use its own parser
    assert parsed(ours) == parsed(theirs)
    assert parsed(ours)["Items"][0]["blob"] == {"B": b"hello"}

"""bench/coldstart_shipped.py's AWS endpoint: each request is answered at once with an error that is
not retried, so a function's first invocation is measured with its first AWS request sent once (as
on success in production), even through the store's DynamoDB client with 5 attempts."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from bench.coldstart_shipped import ENDPOINT, ENV, aws_endpoint
from sagebridge.store.aws import client_config


def test_a_dynamodb_request_is_refused_once_and_not_retried():
    with aws_endpoint() as server:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        dynamodb = boto3.client("dynamodb", endpoint_url=url, region_name="eu-west-2", aws_access_key_id="testing",
                                aws_secret_access_key="testing", config=client_config("dynamodb"))
        with pytest.raises(ClientError) as refused:
            dynamodb.get_item(TableName="bench-app", Key={"pk": {"S": "t"}, "sk": {"S": "t"}})
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        assert server.requests == 1


def test_every_aws_url_of_the_children_points_at_the_endpoint():
    assert ENV["AWS_ENDPOINT_URL"] == ENDPOINT
    assert all(v.startswith(ENDPOINT) for k, v in ENV.items() if k.endswith("_QUEUE_URL"))

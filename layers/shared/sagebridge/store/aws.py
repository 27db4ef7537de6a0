"""Lazily created boto3 clients, one per service, shared by the adapters of this package.

Only `sagebridge.store` imports boto3 (DESIGN.md): KMS, SQS, SNS and Secrets Manager adapters take
their client from here, so handlers stay importable without AWS and tests inject their own clients.
Endpoints come from boto3's own environment (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`), which
is how the local stack points the same code at DynamoDB Local and moto.
"""

from __future__ import annotations

import os
import threading
from typing import Any

# A boto3 session loads botocore's loaders, endpoint rules and credential chain: a cold start pays
# for that once per container, not once per client. A session keeps the credentials and endpoints it
# first saw, so it is kept per AWS_* environment (one in Lambda; the local stack and tests change it).
# Sessions are not thread-safe, so clients are created under one lock (the clients themselves are).
_session: Any = None
_session_env: tuple[tuple[str, str], ...] = ()
_session_lock = threading.Lock()


def new_client(service: str) -> Any:
    """A client of the container's one boto3 session, configured as the hot path needs it."""
    global _session, _session_env
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
    with _session_lock:
        if _session is None or env != _session_env:
            import boto3  # deferred: a cold start pays for boto3 only when a function needs AWS

            _session, _session_env = boto3.session.Session(botocore_session=_botocore_session()), env
        return _session.client(service, config=client_config(service))


def _botocore_session() -> Any:
    """botocore's session with the response parser below for every client it makes."""
    import botocore.session
    from botocore.parsers import PROTOCOL_PARSERS, ResponseParserFactory

    class Parsers(ResponseParserFactory):
        def create_parser(self, protocol_name: str) -> Any:
            if protocol_name == "json":
                return _json_parser(PROTOCOL_PARSERS["json"])(**self._defaults)
            return super().create_parser(protocol_name)

    session = botocore.session.Session()
    session.register_component("response_parser_factory", Parsers())
    return session


_PLAIN_VALUES = frozenset({"S", "N", "BOOL", "NULL", "SS", "NS"})


def _json_parser(base: type) -> type:
    """botocore's JSON response parser, except that a DynamoDB attribute value holding a string,
    number, boolean, null or set of those is taken as it came: botocore would walk the ten members
    of its shape for each one to build the same dict, and that walk was most of the CPU of reading a
    page of staged documents. Binary, map and list values (and any other shape) are parsed as before."""

    class Parser(base):  # type: ignore[misc, valid-type]
        def _handle_structure(self, shape: Any, value: Any) -> Any:
            if shape.name == "AttributeValue" and isinstance(value, dict) and value.keys() <= _PLAIN_VALUES:
                return value
            return super()._handle_structure(shape, value)

    return Parser


def client_config(service: str) -> Any:
    from botocore.config import Config

    if service == "dynamodb":
        # Standard retries (throttling, transient 5xx) and no client-side parameter validation: the
        # store builds every request from typed code, and validation was the largest single cost of
        # an exported document's CPU (docs/performance.md). DynamoDB still refuses a bad request.
        return Config(retries={"mode": "standard", "max_attempts": 5}, parameter_validation=False)
    return None


class AwsClients:
    """Creates each client on first use; `override` lets tests and the local stack inject theirs."""

    def __init__(self, **overrides: Any) -> None:
        self._clients: dict[str, Any] = dict(overrides)
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        existing = self._clients.get(service)
        if existing is not None:
            return existing
        with self._lock:
            if service not in self._clients:
                self._clients[service] = new_client(service)
            return self._clients[service]

    def override(self, service: str, client: Any) -> None:
        self._clients[service] = client

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def kms(self) -> Any:
        return self.client("kms")

    @property
    def sqs(self) -> Any:
        return self.client("sqs")

    @property
    def sns(self) -> Any:
        return self.client("sns")

    @property
    def secretsmanager(self) -> Any:
        return self.client("secretsmanager")

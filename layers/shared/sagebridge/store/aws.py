"""Lazily created boto3 clients, one per service, shared by the adapters of this package.

Only `sagebridge.store` imports boto3 (DESIGN.md): KMS, SQS, SNS and Secrets Manager adapters take
their client from here, so handlers stay importable without AWS and tests inject their own clients.
Endpoints come from boto3's own environment (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`), which
is how the local stack points the same code at DynamoDB Local and moto.
"""

from __future__ import annotations

import threading
from typing import Any


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
                import boto3  # deferred: a cold start pays for boto3 only when a function needs AWS

                self._clients[service] = boto3.session.Session().client(service)
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

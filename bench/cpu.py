"""CPU per exported document on the export worker, at the loopback setup: the Sage Accounting sandbox
served by uvicorn on 127.0.0.1 in a thread of its own, DynamoDB Local in its own process, and the
worker (`handle_export_job`, then the metrics flush the handler's decorator does) in the main thread
and its commit threads. CPU is the process's less the sandbox thread's (`pthread_getcpuclockid`), so
neither the sandbox's work nor DynamoDB Local's counts: only what the Lambda would bill. Steady state
(customers mapped), Powertools at INFO into /dev/null, EMF lines into /dev/null. The store's DynamoDB
client is the one the Lambda gets (sagebridge.store.aws). The other figures run the same export with
the hot path as it was before issue 20 (`as_before`), and with only parameter validation back on.
Best of `repeat` runs each, alternating."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.common import REGION, TENANT, Figure, World, dynamodb_endpoint, quiet_logs
from bench.pipeline import steady_world
from local.dynamodb_local import free_port
from local.runtime import environment
from sagebridge.connectors.sage_accounting.client import SageAccountingClient, SageAccountingConnector
from sagebridge.host.jobs import ExportJob
from sagebridge.observability import metrics
from sagebridge.store import Store
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job

GOAL_MS = 4.0


def lambda_dynamodb_client(*, validate: bool = False, stock_parser: bool = False) -> Any:
    """The DynamoDB client a deployed function creates, pointed at DynamoDB Local."""
    try:
        from sagebridge.store.aws import client_config, new_client
    except ImportError:  # a layer from before sagebridge.store.aws.new_client (the "before" figure)
        from bench.common import dynamodb_client

        return dynamodb_client()
    # The environment a function would have, only while its client is created (endpoint and
    # credentials are read then), so nothing else in this process sees it.
    with environment(dict(AWS_ENDPOINT_URL_DYNAMODB=dynamodb_endpoint(), AWS_ACCESS_KEY_ID="testing",
                          AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)):
        if not validate:
            return new_client("dynamodb")
        import boto3
        from botocore.config import Config

        try:
            from sagebridge.store.aws import _botocore_session
        except ImportError:  # a layer from before the lighter response parser
            stock_parser = True
        config = client_config("dynamodb").merge(Config(parameter_validation=True))
        session = boto3.session.Session() if stock_parser else boto3.session.Session(
            botocore_session=_botocore_session())
        return session.client("dynamodb", config=config)


class Loopback:
    """The world's sandbox served over real HTTP on 127.0.0.1 (uvicorn in a daemon thread)."""

    def __init__(self, world: World) -> None:
        from local.stack import _UvicornThread

        self.port = free_port()
        self.server = _UvicornThread(world.sandbox, self.port)
        self.server.start()
        self.http = httpx.Client(timeout=30)
        path = urlsplit(world.connector.client.base_url).path
        self.connector = SageAccountingConnector(SageAccountingClient(
            self.http, token_provider=lambda **_: world.token, business_id=world.sandbox.lead_business_id,
            base_url=f"http://127.0.0.1:{self.port}{path}", sleep=lambda _s: None, jitter=lambda: 0.0))

    def cpu(self) -> float:
        """CPU seconds of the sandbox's thread so far (not the worker's: taken out of the figure)."""
        ident = self.server.thread.ident
        assert ident is not None
        return time.clock_gettime(time.pthread_getcpuclockid(ident))

    def close(self) -> None:
        self.http.close()
        self.server.stop()


def cpu_per_document(n: int, client_factory: Callable[[], Any]) -> tuple[float, int, float]:
    """(worker CPU ms per exported document, documents exported, wall seconds) of one export job."""
    world = steady_world(n)
    loop = Loopback(world)
    try:
        store = Store(world.store.table.name, client_factory())
        deps = WorkerDeps(store=store, connector_for=lambda _t, _s: loop.connector)
        job = ExportJob(tenant_id=TENANT, trigger="admin", requested_by="bench")
        sage0 = world.sage_requests
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            wall0, cpu0, sandbox0 = time.perf_counter(), time.process_time(), loop.cpu()
            handle_export_job(job, deps)
            metrics.flush_metrics()  # what @metrics.log_metrics does after the handler
            cpu = time.process_time() - cpu0 - (loop.cpu() - sandbox0)
            wall = time.perf_counter() - wall0
        exported = world.sage_requests - sage0 - 1  # less the run's tax-rate read
        return cpu * 1000 / max(1, exported), exported, wall
    finally:
        loop.close()
        world.close()


@contextlib.contextmanager
def as_before() -> Iterator[None]:
    """The hot path as it was before issue 20 (in this process, so both arms share the machine's
    load): a metric value per Sage request (Powertools' own provider), the request log line at info,
    each document claimed by its own UpdateItem just before its POST, each commit a TransactWriteItems
    of its own, botocore's parameter validation on and its stock response parser (the client is
    made by the caller)."""
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    from sagebridge.connectors import http
    from sagebridge.sync.export import outcomes

    shipped_provider, shipped_level = metrics.provider, http.request_log_level
    shipped_ahead, shipped_group = outcomes.Outcomes.claim_ahead, getattr(outcomes, "COMMIT_GROUP", 1)
    outcomes.Outcomes.claim_ahead = lambda self, documents: None  # type: ignore[method-assign]
    outcomes.COMMIT_GROUP = 1
    metrics.provider = AmazonCloudWatchEMFProvider(
        namespace="SageBridge", service="sagebridge", metric_set=metrics.metric_set,
        dimension_set=metrics.dimension_set, metadata_set=metrics.metadata_set,
        default_dimensions=metrics.default_dimensions)
    http.request_log_level = lambda status, ms, write=False: logging.INFO  # type: ignore[assignment]
    try:
        yield
    finally:
        metrics.provider, http.request_log_level = shipped_provider, shipped_level  # type: ignore[assignment]
        outcomes.Outcomes.claim_ahead, outcomes.COMMIT_GROUP = shipped_ahead, shipped_group  # type: ignore[method-assign]


def run(n: int = 500, repeat: int = 3) -> list[Figure]:
    quiet_logs()
    shipped: list[tuple[float, int, float]] = []
    before: list[tuple[float, int, float]] = []
    validating: list[tuple[float, int, float]] = []
    for _ in range(repeat):  # alternating, so the machine's load falls on every arm alike
        shipped.append(cpu_per_document(n, lambda_dynamodb_client))
        with as_before():
            before.append(cpu_per_document(n, lambda: lambda_dynamodb_client(validate=True, stock_parser=True)))
        validating.append(cpu_per_document(n, lambda: lambda_dynamodb_client(validate=True)))
    best, old, with_validation = min(shipped), min(before), min(validating)
    return [
        Figure("CPU per exported document, worker, loopback (ms)", best[0], f"<= {GOAL_MS:.0f}",
               f"{best[1]} documents, {best[2]:.1f} s wall; as deployed"),
        Figure("  before issue 20 / now", old[0] / best[0], ">= 1",
               f"{old[0]:.2f} ms with a metric and an info line per request, a claim and a commit request "
               "per document, validation on"),
        Figure("  only validation back on / now", with_validation[0] / best[0], ">= 1",
               f"{with_validation[0]:.2f} ms"),
    ]

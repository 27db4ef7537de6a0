"""Figure 8: reading every customer of an Intacct company, our client against `sageintacctsdk` (the
SDK most Python integrations use; bench/requirements.txt pins it), both pointed at the same
Intacct sandbox served by uvicorn on a loopback port (real HTTP for both, no transport patches).

The SDK hard-codes its first URL (https://api.intacct.com/ia/xml/xmlgw.phtml, the getAPISession
call); its `requests.post` is wrapped only to send that URL to the loopback server instead. After
login both use the session <endpoint> the sandbox answers, which is already the loopback one.
Each run is a fresh login plus the read: ours `reads.query_all` (query, then the remaining pages
as several functions in one request), the SDK `customers.get_all()` (a count query, then one
query per page of 2,000). Requests are counted by the sandbox (login included for both); time is
best of `repeat`, alternating.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
from typing import Any
from unittest import mock

import httpx

from bench.common import Figure, quiet_logs, timer
from local.sandboxes.sage_intacct import (
    DEFAULT_COMPANY,
    DEFAULT_PASSWORD,
    DEFAULT_SENDER_ID,
    DEFAULT_SENDER_PASSWORD,
    DEFAULT_USER,
    SageIntacctSandbox,
    schema,
)
from sagebridge.connectors.sage_intacct import reads
from sagebridge.connectors.sage_intacct.client import IntacctClient, IntacctCredentials, SessionCache

FIELDS = ["CUSTOMERID", "NAME", "STATUS", "RECORDNO"]
PUBLIC_ENDPOINT = "https://api.intacct.com/ia/xml/xmlgw.phtml"


class LoopbackServer:
    """uvicorn serving the sandbox on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off",
                                access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/ia/xml/xmlgw.phtml"

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the loopback Intacct sandbox did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def ours(box: SageIntacctSandbox, endpoint: str) -> tuple[int, int, float]:
    """(customers read, requests, seconds) with our client: a fresh login, then the pages."""
    before = len(box.request_log)
    elapsed = timer()
    with httpx.Client(timeout=60) as http:
        client = IntacctClient(http, IntacctCredentials(DEFAULT_SENDER_ID, DEFAULT_SENDER_PASSWORD,
                                                        DEFAULT_COMPANY, DEFAULT_USER, DEFAULT_PASSWORD),
                               endpoint=endpoint, sessions=SessionCache())
        read = sum(1 for _ in reads.query_all(client, "CUSTOMER", FIELDS))
    seconds = elapsed()
    return read, len(box.request_log) - before, seconds


def _sdk_post(endpoint: str) -> Any:
    import requests

    real_post = requests.post

    def post(url: str, *args: Any, **kwargs: Any) -> Any:
        return real_post(endpoint if url == PUBLIC_ENDPOINT else url, *args, **kwargs)

    return post


def sdk(box: SageIntacctSandbox, endpoint: str) -> tuple[int, int, float]:
    """(customers read, requests, seconds) with sageintacctsdk: connect, then customers.get_all()."""
    from sageintacctsdk import SageIntacctSDK

    before = len(box.request_log)
    with mock.patch("sageintacctsdk.apis.api_base.requests.post", _sdk_post(endpoint)):
        elapsed = timer()
        connection = SageIntacctSDK(sender_id=DEFAULT_SENDER_ID, sender_password=DEFAULT_SENDER_PASSWORD,
                                    user_id=DEFAULT_USER, company_id=DEFAULT_COMPANY, user_password=DEFAULT_PASSWORD)
        read = len(connection.customers.get_all(fields=FIELDS))
        seconds = elapsed()
    return read, len(box.request_log) - before, seconds


def _measure(box: SageIntacctSandbox, endpoint: str, repeat: int) -> tuple[tuple[int, int, float],
                                                                          tuple[int, int, float]]:
    """(ours, SDK) as (read, requests of the first run, best seconds), alternating `repeat` times."""
    our_runs, sdk_runs = [], []
    for _ in range(repeat):
        our_runs.append(ours(box, endpoint))
        sdk_runs.append(sdk(box, endpoint))
    def best(runs: list[tuple[int, int, float]]) -> tuple[int, int, float]:
        return runs[0][0], runs[0][1], min(r[2] for r in runs)

    return best(our_runs), best(sdk_runs)


def run(customers: int = 10_000, repeat: int = 3, latency: float = 0.05) -> list[Figure]:
    quiet_logs()
    box = SageIntacctSandbox()
    box.accountant().add_customers(max(0, customers - box.accountant().count("CUSTOMER")))  # exactly `customers`
    schema()  # compiled before timing (a second, once per process)
    gc.collect()
    gc.freeze()  # the seeded company and the schema are not garbage: keep them out of the timed collections
    with LoopbackServer(box) as server:
        try:
            (read, requests_ours, t_ours), (sdk_read, requests_sdk, t_sdk) = _measure(box, server.endpoint, repeat)
            box.faults.latency(latency, times=None)  # every request, as figure 1b: Sage's own time
            (_, _, t_ours_slow), (_, _, t_sdk_slow) = _measure(box, server.endpoint, repeat)
        except Exception as exc:  # the SDK asks for something the sandbox does not serve
            gc.unfreeze()
            return [Figure("Intacct read: requests ours / SDK", float("nan"), "<= 0.5",
                           f"sageintacctsdk failed against the sandbox: {type(exc).__name__}: {exc}"[:300])]
    gc.unfreeze()
    assert read == sdk_read == customers, f"ours read {read}, the SDK {sdk_read}, of {customers}"
    return [
        Figure("Intacct read: requests ours / SDK", requests_ours / requests_sdk, "<= 0.5",
               f"{read} customers incl. login: {requests_ours} vs {requests_sdk} requests"),
        Figure("Intacct read: time ours / SDK", t_ours / t_sdk, "<= 0.5",
               f"{t_ours:.2f}s vs {t_sdk:.2f}s, best of {repeat}, loopback uvicorn"),
        Figure(f"Intacct read: time ours / SDK, {latency * 1000:.0f} ms per request", t_ours_slow / t_sdk_slow,
               "<= 0.5", f"{t_ours_slow:.2f}s vs {t_sdk_slow:.2f}s, best of {repeat}"),
    ]

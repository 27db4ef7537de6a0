"""Figure 8: reading every customer of an Intacct company, our client against `sageintacctsdk` (the
SDK most Python integrations use; bench/requirements.txt pins it), both pointed at the same
in-process Intacct sandbox. The SDK posts with `requests.post` to Intacct's public URL, so for the
run that call is routed to the sandbox through the same in-process transport; nothing else of the
SDK is touched. Requests are counted by the sandbox; time is best of `repeat`, alternating."""

from __future__ import annotations

from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import httpx

from bench.common import Figure, quiet_logs, timer
from local.sandboxes.sage_intacct import (
    DEFAULT_COMPANY,
    DEFAULT_PASSWORD,
    DEFAULT_SENDER_ID,
    DEFAULT_SENDER_PASSWORD,
    DEFAULT_USER,
    ENDPOINT,
    HOST,
    SageIntacctSandbox,
)
from sagebridge.connectors.sage_intacct.client import IntacctClient, IntacctCredentials, SessionCache


class _RequestsResponse:
    """The little of requests.Response that the SDK reads."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.text = response.text
        self.content = response.content
        self.headers = response.headers


def _sdk_post(http: httpx.Client) -> Any:
    def post(url: str, headers: dict[str, str] | None = None, data: bytes | None = None, **_: Any) -> Any:
        path = urlsplit(url).path  # api.intacct.com or the session endpoint: both to the sandbox
        return _RequestsResponse(http.post(HOST + path, headers=headers, content=data))

    return post


def ours(box: SageIntacctSandbox, http: httpx.Client) -> tuple[int, int, float]:
    """(customers read, requests, seconds) with our client: a fresh login, then the pages."""
    client = IntacctClient(http, IntacctCredentials(DEFAULT_SENDER_ID, DEFAULT_SENDER_PASSWORD, DEFAULT_COMPANY,
                                                    DEFAULT_USER, DEFAULT_PASSWORD),
                           endpoint=ENDPOINT, sessions=SessionCache())
    before = len(box.request_log)
    elapsed = timer()
    read = sum(1 for _ in client.read_by_query("CUSTOMER", fields="CUSTOMERID,NAME,STATUS,RECORDNO"))
    return read, len(box.request_log) - before, elapsed()


def sdk(box: SageIntacctSandbox, http: httpx.Client) -> tuple[int, int, float]:
    """(customers read, requests, seconds) with sageintacctsdk: connect, then customers.get_all()."""
    from sageintacctsdk import SageIntacctSDK

    before = len(box.request_log)
    with mock.patch("sageintacctsdk.apis.api_base.requests.post", _sdk_post(http)):
        elapsed = timer()
        connection = SageIntacctSDK(sender_id=DEFAULT_SENDER_ID, sender_password=DEFAULT_SENDER_PASSWORD,
                                    user_id=DEFAULT_USER, company_id=DEFAULT_COMPANY, user_password=DEFAULT_PASSWORD)
        read = len(connection.customers.get_all(fields=["CUSTOMERID", "NAME", "STATUS", "RECORDNO"]))
        seconds = elapsed()
    return read, len(box.request_log) - before, seconds


def run(customers: int = 10_000, repeat: int = 3) -> list[Figure]:
    quiet_logs()
    box = SageIntacctSandbox()
    box.accountant().add_customers(customers)
    with httpx.Client(transport=box.sync_transport(), timeout=60) as http:
        our_runs, sdk_runs = [], []
        for _ in range(repeat):
            our_runs.append(ours(box, http))
            try:
                sdk_runs.append(sdk(box, http))
            except Exception as exc:  # the SDK asks for something the sandbox does not serve
                return [Figure("Intacct read: requests ours / SDK", float("nan"), "<= 0.5",
                               f"sageintacctsdk failed against the sandbox: {type(exc).__name__}: {exc}"[:300])]
    read, requests_ours, _ = our_runs[0]
    sdk_read, requests_sdk, _ = sdk_runs[0]
    t_ours, t_sdk = min(r[2] for r in our_runs), min(r[2] for r in sdk_runs)
    assert read == sdk_read and read >= customers, f"ours read {read}, the SDK {sdk_read}"
    return [
        Figure("Intacct read: requests ours / SDK", requests_ours / requests_sdk, "<= 0.5",
               f"{read} customers: {requests_ours} vs {requests_sdk} requests"),
        Figure("Intacct read: time ours / SDK", t_ours / t_sdk, "<= 0.5",
               f"{t_ours:.2f}s vs {t_sdk:.2f}s, best of {repeat}"),
    ]

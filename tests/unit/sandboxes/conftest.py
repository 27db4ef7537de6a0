"""Fixtures for the Sage Accounting sandbox tests: a frozen clock and an authorised client."""

from __future__ import annotations

import httpx
import pytest
import pytest_socket

from local.sandboxes.sage_accounting import API_BASE_URL, SageAccountingSandbox, SandboxClock


@pytest.fixture(autouse=True)
def _no_network():
    # In-process ASGI needs an event loop, whose self-pipe is an AF_UNIX socket pair: allow only that.
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock.frozen_at("2025-03-03T09:00:00+00:00")


@pytest.fixture
def sandbox(clock: SandboxClock) -> SageAccountingSandbox:
    return SageAccountingSandbox(clock=clock)


@pytest.fixture
def ids(sandbox: SageAccountingSandbox) -> dict[str, str]:
    return sandbox.ids


def api_client(sandbox: SageAccountingSandbox, access_token: str, business_id: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {access_token}"}
    if business_id:
        headers["X-Business"] = business_id
    return httpx.Client(transport=sandbox.sync_transport(), base_url=API_BASE_URL, headers=headers)


@pytest.fixture
def make_client(sandbox: SageAccountingSandbox):
    """make_client(access_token, business_id=None) -> httpx.Client on the sandbox API."""
    clients: list[httpx.Client] = []

    def make(access_token: str, business_id: str | None = None) -> httpx.Client:
        clients.append(api_client(sandbox, access_token, business_id))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def api(sandbox: SageAccountingSandbox, make_client):
    return make_client(sandbox.issue_tokens()["access_token"], sandbox.lead_business_id)

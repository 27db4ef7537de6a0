"""Sage Business Cloud Accounting v3.1 sandbox: an in-memory ASGI fake of Sage ID OAuth and the API.

URLs (one ASGI app serves all of them; the host name is only a convention for in-process use):
    API base       http://sage-accounting.local/v3.1            (``API_BASE_URL``)
    authorize      http://sage-accounting.local/oauth2/auth/central?filter=apiv3.1   (``AUTHORIZE_URL``)
    token          http://sage-accounting.local/token           (``TOKEN_URL``, form-encoded POST)
    revoke         http://sage-accounting.local/revoke          (``REVOKE_URL``, token=<refresh token>)
Live equivalents: https://api.accounting.sage.com/v3.1, https://www.sageone.com/oauth2/auth/central,
https://oauth.accounting.sage.com/token and /revoke.

Use in process::

    sandbox = SageAccountingSandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))
    tokens = sandbox.issue_tokens()                      # or run the OAuth flow (auto_approve=True)
    client = httpx.Client(transport=sandbox.sync_transport(), base_url=API_BASE_URL,
                          headers={"Authorization": f"Bearer {tokens['access_token']}",
                                   "X-Business": sandbox.lead_business_id})
    # async: httpx.AsyncClient(transport=sandbox.transport(), base_url=API_BASE_URL, ...)

or serve it: ``uvicorn --factory local.sandboxes.sage_accounting:create_app``.

Event loops need an AF_UNIX socket pair, so under pytest-socket use ``--allow-unix-socket`` (or
``disable_socket(allow_unix_socket=True)``); no network socket is ever opened.
"""

from .accountant import Accountant
from .app import (
    API_BASE_URL,
    AUTHORIZE_URL,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    HOST,
    REVOKE_URL,
    TOKEN_URL,
    SageAccountingSandbox,
    SyncASGITransport,
)
from .clock import SandboxClock, VirtualSeconds
from .faults import Fault, Faults
from .oauth import ACCESS_TOKEN_SECONDS, CODE_SECONDS, REFRESH_TOKEN_SECONDS, s256


def create_app() -> SageAccountingSandbox:
    """uvicorn factory: real-time clock, two businesses, the default client."""
    return SageAccountingSandbox()


__all__ = [
    "ACCESS_TOKEN_SECONDS",
    "API_BASE_URL",
    "AUTHORIZE_URL",
    "CODE_SECONDS",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "HOST",
    "REFRESH_TOKEN_SECONDS",
    "REVOKE_URL",
    "TOKEN_URL",
    "Accountant",
    "Fault",
    "Faults",
    "SageAccountingSandbox",
    "SandboxClock",
    "SyncASGITransport",
    "VirtualSeconds",
    "create_app",
    "s256",
]

"""Sage 200 accounts API v1 sandbox: an in-memory ASGI fake of Sage ID OAuth and the API.

URLs (one ASGI app serves all of them; the host name is only a convention for in-process use):
    API base    http://sage200.local/uk/sage200extra/accounts/v1   (``API_BASE_URL``)
    authorize   http://sage200.local/authorize                      (``AUTHORIZE_URL``; audience s200ukipd/sage200)
    token       http://sage200.local/oauth/token                    (``TOKEN_URL``, form POST, client_secret_post)
    revoke      http://sage200.local/oauth/revoke                   (``REVOKE_URL``)
Live equivalents: https://api.columbus.sage.com/uk/sage200extra/accounts/v1, https://id.sage.com/authorize,
https://id.sage.com/oauth/token.

Use in process::

    sandbox = Sage200Sandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))
    tokens = sandbox.issue_tokens()                      # or run the OAuth flow (auto_approve=True)
    http = httpx.Client(transport=sandbox.sync_transport())
    # every call: Authorization, Ocp-Apim-Subscription-Key (sandbox.subscription_key), X-Site, X-Company

Sage ID knobs: ``rotate_refresh_tokens`` (False: a refresh hands the same refresh token back) and
``report_refresh_expiry`` (True: token answers carry ``refresh_token_expires_in`` on the sandbox clock).

Rate limit: on by default (``RATE_LIMIT_PER_MINUTE`` per subscription key, an assumption); knobs
``rate_limit_per_minute`` (None: off) and ``rate_limit_retry_after`` (False: 429 without Retry-After).

Test helpers: ``sandbox.faults`` (latency, error, rate_limit, drop_after_commit: the Sage Accounting
sandbox's), ``sandbox.accountant()``, ``sandbox.requests`` / ``request_count()``, ``sandbox.clock``.
"""

from local.sandboxes.sage_accounting.clock import SandboxClock
from local.sandboxes.sage_accounting.faults import Fault, Faults

from .accountant import Accountant
from .app import (
    API_BASE_URL,
    API_PATH,
    AUTHORIZE_URL,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SUBSCRIPTION_KEY,
    HOST,
    RATE_LIMIT_PER_MINUTE,
    REVOKE_URL,
    TOKEN_URL,
    Sage200Sandbox,
    SyncASGITransport,
)
from .oauth import ACCESS_TOKEN_SECONDS, AUDIENCE, REFRESH_TOKEN_DAYS


def create_app() -> Sage200Sandbox:
    """uvicorn factory: real-time clock, one company, the default client, consent given at once.
    Token answers say when the grant ends (`report_refresh_expiry`): the stack's app runs on its own
    clock, so this is how moving the sandbox clock shows it the 14/3-day warnings."""
    return Sage200Sandbox(companies=("Demo Garage Ltd",), auto_approve=True, report_refresh_expiry=True)


__all__ = [
    "ACCESS_TOKEN_SECONDS",
    "API_BASE_URL",
    "API_PATH",
    "AUDIENCE",
    "AUTHORIZE_URL",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_SUBSCRIPTION_KEY",
    "HOST",
    "RATE_LIMIT_PER_MINUTE",
    "REFRESH_TOKEN_DAYS",
    "REVOKE_URL",
    "TOKEN_URL",
    "Accountant",
    "Fault",
    "Faults",
    "Sage200Sandbox",
    "SandboxClock",
    "SyncASGITransport",
    "create_app",
]

"""Sage Business Cloud Accounting regional API v2.0.0 sandbox (Australia, New Zealand, South Africa, Asia;
formerly Sage One Accounting): an in-memory ASGI fake of ``[base]/api/2.0.0/{Service}/{Method}[/{id}]``.

URLs (one ASGI app; the host name is only a convention in process):
    API base   http://sage-regional.local/api/2.0.0   (``API_BASE_URL``)
Live: https://accounting.sageone.com.au/api/2.0.0 (AU), https://accounting.sageone.co.za/api/2.0.0 (ZA)
(``LIVE_BASE_URLS``; NZ and Asia hosts are unknown). The reference is ../shared/specs/sage-accounting-regional/.

Use in process::

    sandbox = SageRegionalSandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))
    http = httpx.Client(transport=sandbox.sync_transport(), base_url=API_BASE_URL,
                        auth=sandbox.basic_auth(), headers={"Content-Type": "application/json"},
                        params={"apikey": DEFAULT_API_KEY})
    http.get("/Company/Get")                                    # the login's companies
    http.post("/TaxInvoice/Save", params={"companyid": sandbox.lead_company_id,
              "useSystemDocumentNumber": "true"}, json={...})

Credentials: the integrator's API key (``DEFAULT_API_KEY``, braces optional) on every call; HTTP Basic with
the Sage login (``DEFAULT_USERNAME`` / ``DEFAULT_PASSWORD``), who sees every company the sandbox was built
with (``add_login`` / ``add_company(logins=...)`` for others); ``companyid`` on every company call.

Knobs (constructor arguments; defaults are what the reference says or recommends, FIDELITY.md cites each):
    rate_limit_per_minute=100, rate_limit_block_seconds=3600, rate_limit_extends_block=True,
    requests_per_day=None (5,000 documented, "not currently enforced"), failed_logins_per_hour=20,
    login_block_seconds=86400, rate_limit_seconds (an elapsed-seconds source, e.g. ``VirtualSeconds``, shared
    with a client's pacer; the sandbox clock's jumps then no longer count), exceeded_reason_header=False,
    require_content_type_on_get=True, require_orderby_to_skip=True, refuse_unknown_fields=True,
    created_status=201, inline_receipt_allocations=True, allocation_header_aliases=True, list_lines=False,
    change_filters=True (False refuses $filter/$orderby on Created/Modified),
    midpoint_rounding="half_up", void_by_status=False, reject_duplicate_document_numbers=False,
    auto_allocate=True, region="AU" (the seeded tax types: AU, NZ, ZA, ASIA).

Test helpers: ``sandbox.accountant()`` (read back what Sage holds, record receipts and allocations),
``sandbox.throttled`` (429s served: "rate", "login"), ``sandbox.requests`` / ``request_count()``,
``sandbox.faults`` (the Sage Accounting sandbox's: latency, error, rate_limit, drop_after_commit,
error_after_commit; a fault's ``path`` is "/{Service}/{Method}" and ``business_id`` the companyid),
``sandbox.clock``, ``sandbox.ids`` (seeded IDs of the lead company).
"""

from ..sage_accounting.clock import SandboxClock, VirtualSeconds
from ..sage_accounting.faults import Fault, Faults
from .accountant import Accountant
from .app import (
    API_BASE_URL,
    API_PATH,
    DEFAULT_API_KEY,
    DEFAULT_COMPANIES,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    HOST,
    LIVE_BASE_URLS,
    SERVICES,
    SageRegionalSandbox,
    SyncASGITransport,
)
from .gate import (
    FAILED_LOGINS_PER_HOUR,
    LOGIN_BLOCK_MESSAGE,
    LOGIN_BLOCK_SECONDS,
    REQUEST_BLOCK_MESSAGE,
    REQUEST_BLOCK_SECONDS,
    REQUESTS_PER_MINUTE,
)
from .query import MAX_RESULTS


def create_app() -> SageRegionalSandbox:
    """uvicorn factory: real-time clock, the default login, API key and companies."""
    return SageRegionalSandbox()


__all__ = [
    "API_BASE_URL",
    "API_PATH",
    "DEFAULT_API_KEY",
    "DEFAULT_COMPANIES",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "FAILED_LOGINS_PER_HOUR",
    "HOST",
    "LIVE_BASE_URLS",
    "LOGIN_BLOCK_MESSAGE",
    "LOGIN_BLOCK_SECONDS",
    "MAX_RESULTS",
    "REQUESTS_PER_MINUTE",
    "REQUEST_BLOCK_MESSAGE",
    "REQUEST_BLOCK_SECONDS",
    "SERVICES",
    "Accountant",
    "Fault",
    "Faults",
    "SageRegionalSandbox",
    "SandboxClock",
    "SyncASGITransport",
    "VirtualSeconds",
    "create_app",
]

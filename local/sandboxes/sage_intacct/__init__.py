"""Sage Intacct sandbox: an in-memory ASGI fake of the Web Services XML gateway (dtdversion 3.0).

URLs (one ASGI app; host names are only a convention in process):
    endpoint          http://sage-intacct.local/ia/xml/xmlgw.phtml   (``ENDPOINT``; the first call)
    session endpoint  <origin>/session/ia/xml/xmlgw.phtml            (what getAPISession answers)
Live equivalent: https://api.intacct.com/ia/xml/xmlgw.phtml, then the session's <endpoint>.

Use in process::

    sandbox = SageIntacctSandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))
    http = httpx.Client(transport=sandbox.sync_transport())
    client = IntacctClient(http, IntacctCredentials(DEFAULT_SENDER_ID, DEFAULT_SENDER_PASSWORD,
                           DEFAULT_COMPANY, DEFAULT_USER, DEFAULT_PASSWORD), endpoint=ENDPOINT)

or serve it: ``uvicorn --factory local.sandboxes.sage_intacct:create_app``. Each company
authorises Web Services sender IDs (the seed company the default sender):
``sandbox.accountant().remove_sender_authorisation()`` makes its sign-ins fail as a real tenant's
would (XL03000006). At most two requests per company are served at once (``max_concurrent``). Faults, clock and
the transport are the Sage Accounting sandbox's (`sandbox.faults.error(...)`, `rate_limit_storm`,
`drop_after_commit`, `latency`); a fault's ``path`` matches the request's function names
("create_invoice", "readByQuery") and ``business_id`` its company id.
"""

from ..sage_accounting.clock import SandboxClock
from ..sage_accounting.faults import Fault, Faults
from .accountant import Accountant
from .app import (
    DEFAULT_COMPANY,
    DEFAULT_PASSWORD,
    DEFAULT_SENDER_ID,
    DEFAULT_SENDER_PASSWORD,
    DEFAULT_USER,
    ENDPOINT,
    HOST,
    SESSION_PATH,
    SageIntacctSandbox,
    schema,
)
from .seed import LOCATION_FIELD


def create_sandbox() -> SageIntacctSandbox:
    """A real-time sandbox with the default sender, company and user."""
    return SageIntacctSandbox()


create_app = create_sandbox  # uvicorn --factory

__all__ = [
    "DEFAULT_COMPANY",
    "DEFAULT_PASSWORD",
    "DEFAULT_SENDER_ID",
    "DEFAULT_SENDER_PASSWORD",
    "DEFAULT_USER",
    "ENDPOINT",
    "HOST",
    "LOCATION_FIELD",
    "SESSION_PATH",
    "Accountant",
    "Fault",
    "Faults",
    "SageIntacctSandbox",
    "SandboxClock",
    "create_app",
    "create_sandbox",
    "schema",
]

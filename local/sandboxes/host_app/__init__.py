"""A fake host app: sends signed webhooks to Sage Bridge from fixture data and receives Sage Bridge's
deliveries at a callback URL, verifying and recording them (with switchable failure modes)."""

from local.sandboxes.host_app.app import HostApp, create_app
from local.sandboxes.host_app.fixtures import DEMO_SECRET, DEMO_TENANT, example_events
from local.sandboxes.host_app.sender import WebhookSender, http_api_event, resign

__all__ = [
    "DEMO_SECRET", "DEMO_TENANT", "HostApp", "WebhookSender", "create_app", "example_events",
    "http_api_event", "resign",
]

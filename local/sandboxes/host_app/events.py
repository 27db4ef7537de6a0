"""Write events/: one signed HTTP API v2 event per inbound webhook type and an SQS event for
host_delivery.

    python -m local.sandboxes.host_app.events            # regenerate (fixed timestamp, reproducible)
    python -m local.sandboxes.host_app.events --resign   # fresh timestamps: usable for 5 minutes

The stored files are signed with DEMO_SECRET at a fixed time, so they are reproducible and a test
can tell when they are stale; the webhook function refuses them as too old (that is the point of
the tolerance). `--resign` rewrites them with the current time for `sam local invoke`; `resign()` does
the same in memory for `python -m local.invoke` and tests.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from local.sandboxes.host_app.fixtures import DEMO_SECRET, DEMO_TENANT, OCCURRED_AT, example_events
from local.sandboxes.host_app.sender import encode, http_api_event, resign
from sagebridge.host.outbound import DocumentLink, InvoicePartPaid, build_event, delivery_message
from sagebridge.security.signing import SIGNATURE_HEADER, sign

ROOT = Path(__file__).resolve().parents[3]
EVENTS_DIR = ROOT / "events"
SIGNED_AT = int(datetime.fromisoformat(OCCURRED_AT.replace("Z", "+00:00")).timestamp())


def webhook_file_name(event_type: str) -> str:
    return f"webhook_{event_type.replace('.', '_')}.json"


def webhook_http_events(*, timestamp: int = SIGNED_AT) -> dict[str, dict[str, Any]]:
    """File name -> signed HTTP API v2 event."""
    out = {}
    for event_type, event in example_events().items():
        body = encode(event)
        api_event = http_api_event(DEMO_TENANT, body, {SIGNATURE_HEADER: sign(body, DEMO_SECRET, timestamp=timestamp)})
        # Fixed request metadata so the files are reproducible.
        api_event["requestContext"].update(requestId=f"example-{event_type}", time="01/May/2024:10:15:00 +0000",
                                           timeEpoch=timestamp * 1000)
        out[webhook_file_name(event_type)] = api_event
    return out


def host_delivery_sqs_event() -> dict[str, Any]:
    """An SQS event holding one queued delivery (invoice.part_paid), as the Lambda poller passes it."""
    event = build_event(
        DEMO_TENANT,
        InvoicePartPaid(
            invoice=DocumentLink(kind="sales_invoice", host_id="INV-1001", sage_id="a1b2c3", number="INV-1001"),
            total_amount=Decimal("120.00"), outstanding_amount=Decimal("70.00"),
        ),
        occurred_at=datetime(2024, 5, 3, 9, 0, tzinfo=UTC),
    )
    return {"Records": [{
        "messageId": "8f1c2a4e-0000-4000-8000-000000000001",
        "receiptHandle": "AQEBexample-receipt-handle",
        "body": json.dumps(delivery_message(event), separators=(",", ":")),
        "attributes": {
            "ApproximateReceiveCount": "1", "SentTimestamp": "1714726800000",
            "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1714726800001",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-2:123456789012:sage-bridge-HostDeliveryQueue",
        "awsRegion": "eu-west-2",
    }]}


def all_files(*, timestamp: int = SIGNED_AT) -> dict[str, dict[str, Any]]:
    return {**webhook_http_events(timestamp=timestamp), "host_delivery.json": host_delivery_sqs_event()}


def render(event: dict[str, Any]) -> str:
    return json.dumps(event, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.sandboxes.host_app.events", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resign", action="store_true", help="sign with the current time (valid 5 minutes)")
    parser.add_argument("--out", type=Path, default=EVENTS_DIR)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, event in all_files().items():
        if args.resign and name.startswith("webhook_"):
            event = resign(event, DEMO_SECRET)
        (args.out / name).write_text(render(event))
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m local.notifications`: what the running local stack told its operators.

In AWS, operators get the notification topic's messages by email; locally the topic lives in moto,
which keeps every message published to it. This prints them, oldest first (`--tenant` to filter).
"""

from __future__ import annotations

import argparse
import sys

import httpx

from local import runtime


def notifications(moto_endpoint: str) -> list[str]:
    """Every message published to the stack's SNS topics, oldest first."""
    data = httpx.get(f"{moto_endpoint}/moto-api/data.json", timeout=30).json()
    out = []
    for topic in data.get("sns", {}).get("Topic", []):
        for sent in topic.get("sent_notifications", []):
            out.append(str(sent[1]))  # (message id, message, subject, attributes, group id)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.notifications", description=__doc__)
    parser.add_argument("--tenant", help="only this tenant's")
    args = parser.parse_args(argv)
    try:
        messages = notifications(runtime.read_outputs()["moto_endpoint"])
    except runtime.LocalStackNotRunning as exc:
        print(f"local.notifications: {exc}", file=sys.stderr)
        return 2
    except (httpx.HTTPError, ValueError) as exc:
        print(f"local.notifications: moto did not answer ({type(exc).__name__})", file=sys.stderr)
        return 2
    shown = [m for m in messages if not args.tenant or f"Tenant: {args.tenant}\n" in m]
    for message in shown:
        print(message.rstrip() + "\n" + "-" * 72)
    if not shown:
        print("no notifications yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())

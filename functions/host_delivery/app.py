"""Placeholder for the host_delivery handler (the real one replaces this file)."""

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise NotImplementedError("host_delivery: handler not written yet")

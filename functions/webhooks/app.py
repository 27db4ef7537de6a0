"""Placeholder for the webhooks handler (the real one replaces this file)."""

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise NotImplementedError("webhooks: handler not written yet")

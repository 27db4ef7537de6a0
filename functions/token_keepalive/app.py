"""Placeholder for the token_keepalive handler (the real one replaces this file)."""

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise NotImplementedError("token_keepalive: handler not written yet")

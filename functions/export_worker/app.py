"""Placeholder for the export_worker handler (the real one replaces this file)."""

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise NotImplementedError("export_worker: handler not written yet")

"""Placeholder for the export_scheduler handler (the real one replaces this file)."""

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise NotImplementedError("export_scheduler: handler not written yet")

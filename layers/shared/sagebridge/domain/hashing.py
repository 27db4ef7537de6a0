"""A stable fingerprint of a model, used to decide that a document is unchanged since its export."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel

# Bookkeeping metadata: bumping it without changing the content does not change the document.
DEFAULT_IGNORED = frozenset({"version", "updated_at"})


def _decimal_text(value: Decimal) -> str:
    # 10.1, 10.10 and 1.01E+1 are one amount; -0 is 0.
    return "0" if value == 0 else format(value.normalize(), "f")


def _canonical(value: Any, ignored: Collection[str]) -> Any:
    if isinstance(value, BaseModel):
        # Unset optional fields are left out, so adding one to a model keeps old hashes.
        return _canonical({k: v for k, v in value if v is not None}, ignored)
    if isinstance(value, dict):
        return {str(_canonical(k, ignored)): _canonical(v, ignored) for k, v in value.items()
                if k not in ignored}
    if isinstance(value, list | tuple):
        return [_canonical(v, ignored) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_canonical(v, ignored) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def canonical_json(model: BaseModel, *, ignore: Collection[str] = DEFAULT_IGNORED) -> str:
    """Sorted keys, no spaces, Decimals as plain strings; fields named in `ignore` left out at any depth."""
    return json.dumps(
        _canonical(model, ignore), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def payload_hash(model: BaseModel, *, ignore: Collection[str] = DEFAULT_IGNORED) -> str:
    """sha256 hex of the canonical JSON: equal hashes mean nothing Sage cares about changed."""
    return hashlib.sha256(canonical_json(model, ignore=ignore).encode()).hexdigest()

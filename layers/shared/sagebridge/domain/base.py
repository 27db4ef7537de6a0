"""The base every inbound model shares: unknown fields are errors that name the field."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


class InboundModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)  # built on first use: a cold
    # start pays only for the models its function validates (docs/performance.md, cold start)


def field_reasons(exc: ValidationError, *, whole: str = "(document)",
                  unknown: str = "is not a known field") -> list[tuple[str, str]]:
    """(dotted field path, reason) per pydantic error: the one wording every refusal uses, whether
    it answers a webhook, a settings change or a staged record."""
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        # Union members and validator wrappers show up in loc as names like "function-after[...]":
        # they say how we validate, not where the field is.
        parts = [str(p) for p in err["loc"] if not (isinstance(p, str) and "[" in p)]
        if err["type"] == "extra_forbidden":
            reason = unknown
        elif err["type"] == "missing":
            reason = "is required"
        else:
            reason = str(err["msg"]).removeprefix("Value error, ")
        out.append((".".join(parts) or whole, reason))
    return out


def describe_problems(exc: ValidationError) -> list[str]:
    """One line per problem, naming the field by its path ('tax_mappings.T9: maps to nothing...')."""
    return [f"{where}: {reason}" for where, reason in field_reasons(exc)]

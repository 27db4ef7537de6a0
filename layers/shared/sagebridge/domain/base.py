"""The base every inbound model shares: unknown fields are errors that name the field."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


class InboundModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def describe_problems(exc: ValidationError) -> list[str]:
    """One line per problem, naming the field by its path ('tax_mappings.T9: maps to nothing...')."""
    problems = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(document)"
        if err["type"] == "extra_forbidden":
            reason = "is not a known field"
        elif err["type"] == "missing":
            reason = "is required"
        else:
            reason = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {reason}")
    return problems

"""JSON Schemas of the host contract, generated from the pydantic models (the models are the truth).

    python -m sagebridge.host.schemas            # write docs/schemas/
    python -m sagebridge.host.schemas --check    # exit 1 if docs/schemas/ is stale (CI)

Inbound schemas describe what we accept (validation mode); outbound ones what we send
(serialization mode: amounts are strings there).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from sagebridge.host.inbound import EVENT_MODELS as INBOUND_MODELS
from sagebridge.host.inbound import InboundEvent
from sagebridge.host.jobs import ExportJob
from sagebridge.host.outbound import EVENT_MODELS as OUTBOUND_MODELS
from sagebridge.host.outbound import OutboundEvent

DEFAULT_OUT = Path(__file__).resolve().parents[4] / "docs" / "schemas"
_BASE = "https://sage-bridge.example/schemas/"


def _with_id(schema: dict[str, Any], name: str, title: str) -> dict[str, Any]:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": _BASE + name, "title": title,
            **{k: v for k, v in schema.items() if k != "title"}}


def _model_schema(model: type[BaseModel], mode: str) -> dict[str, Any]:
    return model.model_json_schema(mode=mode)  # type: ignore[arg-type]


def generate() -> dict[str, dict[str, Any]]:
    """Relative file name -> schema."""
    out: dict[str, dict[str, Any]] = {}
    for event_type, model in INBOUND_MODELS.items():
        name = f"inbound/{event_type}.json"
        out[name] = _with_id(_model_schema(model, "validation"), name, f"Inbound {event_type}")
    name = "inbound/any.json"
    out[name] = _with_id(TypeAdapter(InboundEvent).json_schema(mode="validation"), name,
                         "Any inbound webhook event (discriminated on type)")
    for outbound_type, outbound_model in OUTBOUND_MODELS.items():
        name = f"outbound/{outbound_type}.json"
        out[name] = _with_id(_model_schema(outbound_model, "serialization"), name, f"Outbound {outbound_type}")
    name = "outbound/any.json"
    out[name] = _with_id(TypeAdapter(OutboundEvent).json_schema(mode="serialization"), name,
                         "Any outbound delivery event (discriminated on type)")
    name = "jobs/export_job.json"
    out[name] = _with_id(ExportJob.model_json_schema(mode="validation"), name, "Export job message")
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def stale_files(out: Path = DEFAULT_OUT) -> list[str]:
    """Files that differ from what the models generate, are missing, or should not be there."""
    wanted = {name: render(schema) for name, schema in generate().items()}
    problems = [name for name, text in wanted.items()
                if not (out / name).exists() or (out / name).read_text() != text]
    present = {str(p.relative_to(out)) for p in out.rglob("*.json")} if out.exists() else set()
    return sorted(problems + [name for name in present - set(wanted)])


def write(out: Path = DEFAULT_OUT) -> list[Path]:
    written = []
    for name, schema in generate().items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(schema))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sagebridge.host.schemas", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="fail if the files are stale, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.out)
        if stale:
            print("stale JSON Schemas (run `python -m sagebridge.host.schemas`): " + ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    for path in write(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

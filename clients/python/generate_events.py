"""Write sagebridge_host/events.py: TypedDicts of every event in docs/schemas (inbound and outbound).

    python clients/python/generate_events.py           # write
    python clients/python/generate_events.py --check   # exit 1 if events.py is stale (a test runs this)
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCHEMAS = HERE.parents[1] / "docs" / "schemas"
OUT = HERE / "sagebridge_host" / "events.py"


class Writer:
    def __init__(self) -> None:
        self.classes: dict[str, str] = {}

    def type_of(self, schema: dict[str, Any], defs: dict[str, Any], prefix: str) -> str:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            return self.define(prefix + name, defs[name], defs, prefix)
        if "const" in schema:
            return f"Literal[{json.dumps(schema['const'])}]"
        if "enum" in schema:
            return "Literal[" + ", ".join(json.dumps(v) for v in schema["enum"]) + "]"
        for key in ("anyOf", "oneOf"):
            if key in schema:
                parts = list(dict.fromkeys(self.type_of(s, defs, prefix) for s in schema[key]))
                return " | ".join(parts)
        kind = schema.get("type")
        if kind == "array":
            return f"list[{self.type_of(schema.get('items', {}), defs, prefix)}]"
        if kind == "object" and "properties" in schema:
            return self.define(prefix + schema.get("title", "Object").replace(" ", ""), schema, defs, prefix)
        return {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None",
                "object": "dict[str, Any]"}.get(kind or "", "Any")

    def define(self, name: str, schema: dict[str, Any], defs: dict[str, Any], prefix: str) -> str:
        if "enum" in schema and "properties" not in schema:
            return "Literal[" + ", ".join(json.dumps(v) for v in schema["enum"]) + "]"
        if "properties" not in schema:
            return self.type_of({k: v for k, v in schema.items() if k != "title"}, defs, prefix)
        if name in self.classes:
            return name
        self.classes[name] = ""  # reserve (recursive schemas)
        required = set(schema.get("required", []))
        lines = [f"class {name}(TypedDict):"]
        doc = (schema.get("description") or "").strip().split("\n\n")[0].replace('"""', "")
        if doc:
            wrapped = textwrap.wrap(" ".join(doc.split()), width=110)
            lines.append('    """' + "\n    ".join(wrapped) + '"""')
        for field, sub in sorted(schema["properties"].items()):
            annotation = self.type_of(sub, defs, prefix)
            lines.append(f"    {field}: {annotation if field in required else f'NotRequired[{annotation}]'}")
        self.classes[name] = "\n".join(lines)
        return name


def render() -> str:
    writer = Writer()
    inbound: list[tuple[str, str]] = []
    outbound: list[tuple[str, str]] = []
    for direction, prefix, names in (("inbound", "In", inbound), ("outbound", "", outbound)):
        for path in sorted((SCHEMAS / direction).glob("*.json")):
            if path.stem == "any":
                continue
            schema = json.loads(path.read_text())
            name = prefix + "".join(p.capitalize() for p in path.stem.replace(".", "_").split("_")) + "Event"
            writer.define(name, schema, schema.get("$defs", {}), prefix)
            names.append((path.stem, name))
    head = [
        '"""Typed events of the Sage Bridge host contract, generated from docs/schemas by',
        "clients/python/generate_events.py (do not edit; a test fails when it is stale).",
        "",
        "Outbound events (what Sage Bridge delivers to your callback URL) are named after their type:",
        "`invoice.part_paid` -> InvoicePartPaidEvent. Inbound ones (what you send) start with In.",
        "Amounts are decimal strings. New optional fields and event types may appear in a minor version:",
        'ignore what you do not know."""',
        "",
        "# ruff: noqa: E501  (generated: an enum is one Literal on one line)",
        "from __future__ import annotations",
        "",
        "from typing import Any, Literal, NotRequired, TypedDict",
        "",
    ]
    body = "\n\n\n".join(writer.classes.values())
    maps = ["OUTBOUND_EVENTS: dict[str, Any] = {", *[f"    {t!r}: {n}," for t, n in outbound], "}",
            "INBOUND_EVENTS: dict[str, Any] = {", *[f"    {t!r}: {n}," for t, n in inbound], "}"]
    return "\n".join(head) + "\n\n" + body + "\n\n\n" + "\n".join(maps) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print("clients/python/sagebridge_host/events.py is stale: run python clients/python/generate_events.py",
                  file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

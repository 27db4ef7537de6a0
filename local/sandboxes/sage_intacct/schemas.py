"""The schemas the sandbox (and the contract tests) validate Intacct requests against.

`published_schema()` is api-v3.0.xsd exactly as Intacct published it (../shared/specs, not edited).
`gateway_schema()` is what the live gateway accepts under dtdversion 3.0: the same schema plus the
`query` function, which the published file predates (see query-supplement.xsd for the facts and
their source). The supplement's declarations are added to the parsed api-v3.0.xsd in memory and
`<xs:element ref="query"/>` joins the <function> choice; nothing else changes, so every other
function validates exactly as the published schema says.
"""

from __future__ import annotations

import copy
import os
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

import xmlschema
from defusedxml import ElementTree as SafeET

XS = "{http://www.w3.org/2001/XMLSchema}"
_REPO_ROOT = Path(__file__).resolve().parents[3]
XSD_PATH = Path(os.environ.get("SAGE_SPECS_DIR", _REPO_ROOT.parent / "shared" / "specs")) / "sage-intacct" / \
    "api-v3.0.xsd"
SUPPLEMENT_PATH = Path(__file__).with_name("query-supplement.xsd")
SUPPLEMENTED_FUNCTIONS = ("query",)


@lru_cache(maxsize=1)
def published_schema() -> xmlschema.XMLSchema:
    """api-v3.0.xsd as published, compiled once per process (about a second)."""
    return xmlschema.XMLSchema(str(XSD_PATH))


@lru_cache(maxsize=1)
def gateway_schema() -> xmlschema.XMLSchema:
    """api-v3.0.xsd plus our `query` supplement, compiled once per process."""
    base = SafeET.parse(str(XSD_PATH)).getroot()
    supplement = SafeET.parse(str(SUPPLEMENT_PATH)).getroot()
    function = next((e for e in base.findall(f"{XS}element") if e.get("name") == "function"), None)
    choice = function.find(f"{XS}complexType/{XS}choice") if function is not None else None
    if choice is None:  # the published schema changed shape: say so rather than validate wrongly
        raise RuntimeError(f"{XSD_PATH}: no <function> choice to add the query function to")
    taken = {e.get("name") for e in base if e.get("name")}
    for declaration in supplement:
        if declaration.get("name") in taken:
            raise RuntimeError(f"query-supplement.xsd redeclares {declaration.get('name')!r} of api-v3.0.xsd")
        base.append(copy.deepcopy(declaration))
    for name in SUPPLEMENTED_FUNCTIONS:
        ref = choice.makeelement(f"{XS}element", {"ref": name})
        choice.append(ref)
    # As text: the QName values ("xs:string") need the xs prefix declared, which an Element loses.
    ET.register_namespace("xs", XS[1:-1])
    return xmlschema.XMLSchema(ET.tostring(base, encoding="unicode"), base_url=str(XSD_PATH.parent))


__all__ = ["SUPPLEMENT_PATH", "XSD_PATH", "gateway_schema", "published_schema"]

"""Read template.yaml the way SAM does, for the pieces the local stack and the tests need: table
definitions (so test tables cannot drift from the deployed ones), functions with Globals merged
(handler, code, environment, layers, events) and schedules."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation's short-form intrinsic tags (!Ref, !Sub, ...)."""


def _intrinsic(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else "Condition" if tag_suffix == "Condition" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@lru_cache(maxsize=4)
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"template not found: {path}")
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def resources(path: Path = TEMPLATE) -> dict[str, Any]:
    return load_template(path)["Resources"]


def table_create_kwargs(logical_id: str, table_name: str, path: Path = TEMPLATE) -> dict[str, Any]:
    """boto3 `create_table` arguments for a table of the template. Only what shapes the data is
    kept; encryption and point-in-time recovery are deployment concerns DynamoDB Local ignores."""
    props = resources(path)[logical_id]["Properties"]
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return kwargs


def table_ttl_attribute(logical_id: str, path: Path = TEMPLATE) -> str | None:
    ttl = resources(path)[logical_id]["Properties"].get("TimeToLiveSpecification") or {}
    return ttl.get("AttributeName") if ttl.get("Enabled") else None


def create_tables(dynamodb_client: Any, names: dict[str, str], path: Path = TEMPLATE) -> None:
    """Create every table of `names` (logical id -> physical name) from the template, with TTL."""
    for logical_id, table_name in names.items():
        dynamodb_client.create_table(**table_create_kwargs(logical_id, table_name, path))
        ttl = table_ttl_attribute(logical_id, path)
        if ttl:
            dynamodb_client.update_time_to_live(
                TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl}
            )


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, Any]
    layers: list[Any]
    events: dict[str, Any]
    timeout: int
    memory_size: int
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def module_name(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def function_name(self) -> str:
        return self.handler.rsplit(".", 1)[1]


def functions(path: Path = TEMPLATE) -> dict[str, FunctionSpec]:
    """Every AWS::Serverless::Function, with the template's Globals merged in as SAM merges them."""
    template = load_template(path)
    glob = (template.get("Globals") or {}).get("Function") or {}
    specs: dict[str, FunctionSpec] = {}
    for logical_id, res in template["Resources"].items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties") or {}
        env = dict((glob.get("Environment") or {}).get("Variables") or {})
        env.update((props.get("Environment") or {}).get("Variables") or {})
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_uri=(path.parent / props.get("CodeUri", glob.get("CodeUri", "."))).resolve(),
            handler=props.get("Handler", glob.get("Handler", "app.lambda_handler")),
            environment=env,
            layers=list(glob.get("Layers") or []) + list(props.get("Layers") or []),
            events=props.get("Events") or {},
            timeout=int(_default(props.get("Timeout", glob.get("Timeout", 3)), template)),
            memory_size=int(_default(props.get("MemorySize", glob.get("MemorySize", 128)), template)),
            properties=props,
        )
    return specs


def _default(value: Any, template: dict[str, Any]) -> Any:
    """A property's value, or the default of the parameter it refers to (`!Ref FunctionMemorySize`)."""
    if isinstance(value, dict) and "Ref" in value:
        return template["Parameters"][value["Ref"]]["Default"]
    return value


def layer_dirs(path: Path = TEMPLATE) -> dict[str, Path]:
    """Logical id -> source directory of every AWS::Serverless::LayerVersion."""
    out = {}
    for logical_id, res in resources(path).items():
        if res.get("Type") == "AWS::Serverless::LayerVersion":
            out[logical_id] = (path.parent / res["Properties"]["ContentUri"]).resolve()
    return out

"""The published contract cannot drift from the code: JSON Schemas and events/ are regenerated from
the models and compared; every example validates against its schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from local.sandboxes.host_app import events as event_files
from local.sandboxes.host_app.fixtures import example_events
from local.sandboxes.host_app.sender import encode
from sagebridge.host import schemas
from sagebridge.host.inbound import parse_event

ROOT = Path(__file__).resolve().parents[3]


def test_json_schemas_are_current() -> None:
    stale = schemas.stale_files(ROOT / "docs" / "schemas")
    assert not stale, f"run `python -m sagebridge.host.schemas`: stale {stale}"


def test_events_files_are_current() -> None:
    for name, event in event_files.all_files().items():
        path = ROOT / "events" / name
        assert path.exists() and path.read_text() == event_files.render(event), (
            f"run `python -m local.sandboxes.host_app.events`: {name} is stale")


@pytest.mark.parametrize("event_type", sorted(example_events()))
def test_examples_parse_and_match_the_published_schema(event_type: str) -> None:
    event = example_events()[event_type]
    parse_event(encode(event))
    schema = json.loads((ROOT / "docs" / "schemas" / "inbound" / f"{event_type}.json").read_text())
    jsonschema.validate(event, schema)
    jsonschema.validate(event, json.loads((ROOT / "docs" / "schemas" / "inbound" / "any.json").read_text()))


def test_the_delivery_example_matches_the_outbound_schema() -> None:
    message = json.loads(event_files.host_delivery_sqs_event()["Records"][0]["body"])
    schema = json.loads((ROOT / "docs" / "schemas" / "outbound" / "any.json").read_text())
    jsonschema.validate(message["event"], schema)

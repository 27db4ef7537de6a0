"""Every file in events/ is a valid event for its function: fed through `python -m local.invoke`
(the Docker-free `sam local invoke`) against the local stack, the function takes it and answers:
an HTTP request gets a page or JSON (no 5xx), a re-signed webhook is accepted, an SQS record's body
is the function's job and the batch answer names no failed record for a tenant that exists, a
schedule's input runs the fan-out. Also: events/env.json (for `sam local invoke --env-vars`) names
only variables the template declares, for functions that exist."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from local import invoke
from local import template as tpl
from tests.unit.test_events import EVENTS, function_of

ROOT = Path(__file__).resolve().parents[2]
SQS_BODY_MODELS = {
    "ExportWorkerFunction": "sagebridge.host.jobs:ExportJob",
    "PaymentPollWorkerFunction": "sagebridge.sync.payment_polls:PaymentPollJob",
    "HostDeliveryFunction": "sagebridge.host.delivery:DeliveryMessage",
}


@pytest.fixture(scope="module")
def tenants_of_the_events(stack: Any) -> Iterator[set[str]]:
    """The tenants the sample events name, created (the demo one with its webhook secret, as
    `make stack` does); disabled again, the queues emptied and the host sandbox's new deliveries
    forgotten afterwards, so later tests see nothing of theirs."""
    from local.stack import seed_demo_tenant

    host = stack.sandboxes["host_app"]
    already_received = len(host.received)
    seed_demo_tenant(stack)
    api = stack.outputs["api_url"]
    named = {"demo"}
    for path in EVENTS:
        for record in json.loads(path.read_text()).get("Records") or []:
            named.add(json.loads(record["body"])["tenant_id"])
    for tenant_id in named - {"demo"}:
        created = httpx.post(f"{api}/admin/tenants", timeout=60,
                             json={"tenant_id": tenant_id, "settings": {"provider": "sage_accounting"}})
        assert created.status_code in (201, 409), created.text
    yield named
    with host._lock:  # events/host_delivery.json reached the host sandboxes: not for later tests to count
        del host.received[already_received:]
    for tenant_id in named:
        httpx.post(f"{api}/admin/tenants/{tenant_id}/disable", timeout=60)
    sqs = boto3.client("sqs", endpoint_url=stack.outputs["moto_endpoint"], region_name="eu-west-2")
    for lid, resource in tpl.resources().items():
        if resource["Type"] == "AWS::SQS::Queue":
            sqs.purge_queue(QueueUrl=stack.outputs["resources"][lid])


def _invoke(capfd: pytest.CaptureFixture[str], function: str, path: Path, *extra: str) -> Any:
    code = invoke.main([function, "-e", str(path), *extra])  # as `python -m local.invoke`, in this process
    out, err = capfd.readouterr()
    assert code == 0, err[-2000:]
    return json.loads(out)


@pytest.mark.parametrize("path", EVENTS, ids=lambda p: p.name)
def test_each_event_is_taken_by_its_function(stack, state_dir, tenants_of_the_events, capfd, monkeypatch,
                                             path: Path):
    from local import runtime

    read = runtime.read_outputs
    monkeypatch.setattr(runtime, "read_outputs", lambda path=state_dir / "outputs.json": read(path))  # this stack
    function = function_of(path)
    event = json.loads(path.read_text())
    webhook = function == "WebhooksFunction"
    result = _invoke(capfd, function, path, *(["--resign"] if webhook else []))
    if "routeKey" in event:
        assert isinstance(result, dict) and result["statusCode"] < 500, result
        if webhook:
            assert 200 <= result["statusCode"] < 300, result  # signed afresh with the demo secret: accepted
    elif "Records" in event:
        import importlib

        module_name, _, model = SQS_BODY_MODELS[function].partition(":")
        job_type = getattr(importlib.import_module(module_name), model)
        for record in event["Records"]:
            job_type.model_validate_json(record["body"])  # the body is this function's job
        assert result == {"batchItemFailures": []}, result  # every record taken (its tenant exists)
    else:
        assert event.get("source") == "schedule"  # a ScheduleV2 input; the fan-out ran (code 0)


def test_env_json_overrides_only_what_the_template_declares():
    """`sam local invoke --env-vars events/env.json` replaces only variables the function declares
    (SAM ignores the others), so every name in the file must be one of them."""
    env = json.loads((ROOT / "events" / "env.json").read_text())
    functions = tpl.functions()
    for scope, variables in env.items():
        assert scope == "Parameters" or scope in functions, scope
        declared = set().union(*(f.environment for f in functions.values())) if scope == "Parameters" \
            else set(functions[scope].environment)
        assert set(variables) <= declared, set(variables) - declared
    assert env["Parameters"]["AWS_ENDPOINT_URL_DYNAMODB"].startswith("http://")


def test_doctor_on_the_local_stack_finds_nothing_and_names_the_redirect_uri(stack, state_dir):
    """`sagebridge doctor` with no stack named checks the local one: its secret in moto, its tenants
    through its admin API, its callback over plain http on loopback (allowed there only)."""
    from typer.testing import CliRunner

    from cli import sagebridge_cli as cli

    result = CliRunner().invoke(cli.app, ["doctor", "--json"], env={"SAGEBRIDGE_LOCAL_STATE": str(state_dir)})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["problems"] == [] and report["secret"] == stack.outputs["resources"]["SettingsSecret"]
    assert report["redirect_uri"] == stack.outputs["environment"]["PUBLIC_API_URL"] + "/oauth/callback"


def test_env_vars_for_sam_point_at_this_stack(stack):
    from local.env_vars import env_vars

    env = env_vars(stack.outputs)
    moto_port = stack.outputs["moto_endpoint"].rsplit(":", 1)[1]
    assert env["Parameters"]["AWS_ENDPOINT_URL"] == f"http://host.docker.internal:{moto_port}"
    assert env["Parameters"]["TABLE_NAME"] == stack.outputs["resources"]["AppTable"]
    assert env["Parameters"]["PUBLIC_API_URL"] == stack.outputs["environment"]["PUBLIC_API_URL"]  # a browser's

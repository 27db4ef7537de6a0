"""template.yaml keeps its promises: every function can start (code, handler, layer, settings), no
secret sits in an environment, queues retry safely and dead-letter, schedules and the table are what
the code expects. Read through `local.template`, the same reader the local stack uses."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from local import template as tpl
from sagebridge.settings import Settings, load_settings

from .connectors.test_product_settings import PRODUCT_SETTINGS

ROOT = tpl.ROOT
STORE = ROOT / "layers" / "shared" / "sagebridge" / "store"

# The names other code is written against (handlers, local stack, docs).
FUNCTIONS = {
    "ConnectFunction": "functions/connect",
    "WebhooksFunction": "functions/webhooks",
    "ExportSchedulerFunction": "functions/export_scheduler",
    "ExportWorkerFunction": "functions/export_worker",
    "PaymentPollerFunction": "functions/payment_poller",
    "PaymentPollWorkerFunction": "functions/payment_poll_worker",
    "HostDeliveryFunction": "functions/host_delivery",
    "AdminApiFunction": "functions/admin_api",
    "TokenKeepAliveFunction": "functions/token_keepalive",
    "PortalFunction": "functions/portal",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return tpl.load_template()


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return tpl.resources()


@pytest.fixture(scope="module")
def functions() -> dict[str, tpl.FunctionSpec]:
    return tpl.functions()


def _globals(template: dict[str, Any]) -> dict[str, Any]:
    return (template.get("Globals") or {}).get("Function") or {}


def _prop(template: dict[str, Any], spec: tpl.FunctionSpec, name: str) -> Any:
    return spec.properties.get(name, _globals(template).get(name))


def _param_default(template: dict[str, Any], value: Any) -> Any:
    """The default of a `!Ref Parameter`, or the literal itself."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        param = template["Parameters"].get(value["Ref"])
        assert param is not None, f"!Ref {value['Ref']} is not a parameter"
        return param.get("Default")
    return value


def _ref(value: Any) -> str | None:
    """Logical id behind !Ref X / !GetAtt X.Attr, else None."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


def _events(spec: tpl.FunctionSpec, kind: str) -> list[dict[str, Any]]:
    return [ev.get("Properties") or {} for ev in spec.events.values() if ev.get("Type") == kind]


# ------------------------------------------------------------------------------ functions

def test_the_agreed_functions_exist_with_their_code_dirs(functions):
    assert {lid: spec.code_uri for lid, spec in functions.items()} == {
        lid: (ROOT / uri).resolve() for lid, uri in FUNCTIONS.items()
    }


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_code_defines_its_handler(functions, logical_id):
    spec = functions[logical_id]
    module = spec.code_uri / f"{spec.module_name.replace('.', '/')}.py"
    assert module.is_file(), f"{logical_id}: {module} is missing"
    tree = ast.parse(module.read_text(), filename=str(module))
    top_level = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    top_level |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assert spec.function_name in top_level, f"{module} defines no `{spec.function_name}`"


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_runs_python311_on_arm64_with_the_shared_layer(template, functions, logical_id):
    spec = functions[logical_id]
    assert _prop(template, spec, "Runtime") == "python3.11"
    assert _prop(template, spec, "Architectures") == ["arm64"]
    assert spec.layers == [{"Ref": "SharedLayer"}]
    assert _prop(template, spec, "Tracing") == "Active"


def test_long_running_functions_have_room_and_the_rest_answer_fast(functions):
    assert functions["ExportWorkerFunction"].timeout == 300
    assert functions["PaymentPollWorkerFunction"].timeout == 300
    for lid in set(FUNCTIONS) - {"ExportWorkerFunction", "PaymentPollWorkerFunction"}:
        # HTTP API gives up after 30 s; the rest have no reason to run longer.
        assert functions[lid].timeout <= 30, lid


def test_shared_layer_is_built_by_sam_for_arm64_python311(resources):
    layer = resources["SharedLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    # layers/shared/Makefile (tests/unit/test_layer_build.py): wheels and bytecode for the runtime.
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Metadata"].get("BuildArchitecture") == "arm64"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.11"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    source = tpl.layer_dirs()["SharedLayer"]
    assert (source / "requirements.txt").is_file()
    assert (source / "sagebridge" / "__init__.py").is_file()


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_logs_to_its_own_group_with_retention(resources, functions, logical_id):
    spec = functions[logical_id]
    group_id = _ref((spec.properties.get("LoggingConfig") or {}).get("LogGroup"))
    assert group_id, f"{logical_id} has no LoggingConfig.LogGroup"
    group = resources[group_id]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    # The group is the one Lambda would have made: /aws/lambda/<function name>.
    function_name = spec.properties["FunctionName"]["Fn::Sub"]
    assert group["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{function_name}"}


# ------------------------------------------------------------------------------ environment

def _resolve_for_settings(template: dict[str, Any], value: Any) -> str:
    """What Lambda would see, near enough for validation: parameter defaults, and a stand-in for
    every value only a deployment knows (resource names, ARNs, URLs)."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in template["Parameters"]:
        return str(template["Parameters"][value["Ref"]].get("Default", ""))
    if isinstance(value, dict):
        return f"deployed-{next(iter(value))}"
    return str(value)


def test_globals_set_every_variable_settings_requires(template):
    env = (_globals(template).get("Environment") or {}).get("Variables") or {}
    required = {f.alias for f in Settings.model_fields.values() if f.is_required()}
    assert required, "Settings has no required fields? the test would prove nothing"
    assert required <= set(env), f"missing from Globals: {sorted(required - set(env))}"
    # Optional ones are set too, so an operator sees (and can override) every knob in one place.
    every = {f.alias for f in Settings.model_fields.values()}
    assert every <= set(env), f"Settings fields not in Globals: {sorted(every - set(env))}"
    for model in PRODUCT_SETTINGS.values():  # and each product's own variables
        own = {f.alias for f in model.model_fields.values()}
        assert own <= set(env), f"{model.__name__} fields not in Globals: {sorted(own - set(env))}"


def test_deployed_environment_is_valid_settings_with_live_sage_defaults(template, functions):
    for spec in functions.values():
        env = {k: _resolve_for_settings(template, v) for k, v in spec.environment.items()}
        settings = load_settings(env)  # raises with every bad name
        for model in PRODUCT_SETTINGS.values():  # each product's variables, read as the product reads them
            own = settings.for_product(model)
            for name, field in model.model_fields.items():
                assert getattr(own, name) == field.default, f"{field.alias} default drifted"
        assert settings.export_interval_minutes == 15


def test_powertools_is_configured_in_globals(template):
    env = _globals(template)["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "sagebridge"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "SageBridge"
    assert _param_default(template, env["POWERTOOLS_LOG_LEVEL"]) == "INFO"
    assert "POWERTOOLS_IDEMPOTENCY_DISABLED" not in env


_SECRETISH_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|API_?KEY|SIGNING", re.I)
_REFERENCE_SUFFIX = ("_NAME", "_ID", "_ARN", "_URL")
_RANDOMISH = re.compile(r"^[A-Za-z0-9+/=_\-]{24,}$")


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_no_secret_in_any_function_environment(template, functions, logical_id):
    """Secrets come from Secrets Manager at run time; the environment only names where they are."""
    for name, value in functions[logical_id].environment.items():
        if _SECRETISH_NAME.search(name):
            assert name.endswith(_REFERENCE_SUFFIX), f"{name} looks like it holds a secret"
        text = str(value)
        assert "{{resolve:" not in text, f"{name} resolves a secret into the environment"
        if isinstance(value, dict) and "Ref" in value and value["Ref"] in template["Parameters"]:
            assert not template["Parameters"][value["Ref"]].get("NoEcho"), f"{name} passes a NoEcho parameter"
        if isinstance(value, str):
            assert not _RANDOMISH.match(value), f"{name}={value!r} looks like a key or token"


# ------------------------------------------------------------------------------ queues

def test_sqs_consumers_report_batch_item_failures_and_outlast_their_queue(resources, functions):
    consumers = 0
    for spec in functions.values():
        for event in _events(spec, "SQS"):
            consumers += 1
            assert "ReportBatchItemFailures" in event.get("FunctionResponseTypes", []), spec.logical_id
            queue = resources[_ref(event["Queue"])]["Properties"]
            # AWS's rule of thumb: visibility >= 6 x the consumer's timeout, or retries overlap.
            assert int(queue["VisibilityTimeout"]) >= 6 * spec.timeout, spec.logical_id
    assert consumers == 3
    worker = _events(functions["ExportWorkerFunction"], "SQS")[0]
    # one run per invocation: a run that pauses for its deadline never holds up another tenant's job
    assert _ref(worker["Queue"]) == "ExportJobsQueue" and worker["BatchSize"] == 1
    poll_worker = _events(functions["PaymentPollWorkerFunction"], "SQS")[0]
    assert _ref(poll_worker["Queue"]) == "PaymentPollQueue"
    assert _ref(poll_worker["ScalingConfig"]["MaximumConcurrency"]) == "PaymentPollWorkerMaxConcurrency"
    assert _ref(_events(functions["HostDeliveryFunction"], "SQS")[0]["Queue"]) == "HostDeliveryQueue"


def test_every_queue_dead_letters_and_every_dlq_alarms(template, resources):
    queues = {lid: r for lid, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    dlqs = {_ref(r["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
            for r in queues.values() if "RedrivePolicy" in r["Properties"]}
    dlqs |= {_ref(ev["DeadLetterConfig"]["Arn"]) for spec in tpl.functions().values()
             for ev in _events(spec, "ScheduleV2") if "DeadLetterConfig" in ev}  # the schedules'
    work_queues = set(queues) - dlqs
    assert work_queues == {"ExportJobsQueue", "PaymentPollQueue", "HostDeliveryQueue"}
    assert _ref(queues["PaymentPollQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]) == "PaymentPollDLQ"
    for lid in work_queues:
        props = queues[lid]["Properties"]
        assert "RedrivePolicy" in props, f"{lid} has no dead-letter queue"
        assert _param_default(template, props["RedrivePolicy"]["maxReceiveCount"]) >= 1
        dlq = queues[_ref(props["RedrivePolicy"]["deadLetterTargetArn"])]["Properties"]
        # A message must outlive its source's retention in the DLQ, or it can expire unseen.
        assert dlq["MessageRetentionPeriod"] >= props.get("MessageRetentionPeriod", 345600)
    for r in queues.values():
        assert r["Properties"].get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in r["Properties"]
    alarmed = {
        _ref(d["Value"])
        for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and {"Ref": "NotificationTopic"} in r["Properties"].get("AlarmActions", [])
        for d in r["Properties"]["Dimensions"] if d["Name"] == "QueueName"
    }
    assert dlqs <= alarmed, f"DLQs without an alarm: {sorted(dlqs - alarmed)}"


# ------------------------------------------------------------------------------ schedules

@pytest.mark.parametrize(("logical_id", "default"), [
    ("ExportSchedulerFunction", "rate(15 minutes)"),
    ("PaymentPollerFunction", "rate(15 minutes)"),
    ("TokenKeepAliveFunction", "rate(1 day)"),
])
def test_schedule_defaults(template, functions, logical_id, default):
    (schedule,) = _events(functions[logical_id], "ScheduleV2")
    assert "Ref" in schedule["ScheduleExpression"], "the expression must be a parameter"
    assert _param_default(template, schedule["ScheduleExpression"]) == default
    # Names are generated, so a dev and a prod stack can share an account.
    assert schedule.get("OmitName") is True


def test_export_interval_matches_the_export_schedule(template):
    minutes = template["Parameters"]["ExportIntervalMinutes"]["Default"]
    assert template["Parameters"]["ExportScheduleExpression"]["Default"] == f"rate({minutes} minutes)"


# ------------------------------------------------------------------------------ HTTP API

def _routes(functions) -> dict[tuple[str, str], tuple[str, Any]]:
    out = {}
    for spec in functions.values():
        for event in _events(spec, "HttpApi"):
            auth = (event.get("Auth") or {}).get("Authorizer")
            out[(event["Method"].upper(), event["Path"])] = (spec.logical_id, auth)
    return out


def test_routes_public_where_they_must_be_and_iam_signed_for_admin(resources, functions):
    api = resources["HttpApi"]["Properties"]["Auth"]
    assert api["EnableIamAuthorizer"] is True
    assert api.get("DefaultAuthorizer") == "AWS_IAM"  # a new route is private unless it says otherwise
    routes = _routes(functions)
    assert routes[("GET", "/connect/{tenant_id}")] == ("ConnectFunction", "NONE")
    assert routes[("GET", "/oauth/callback")] == ("ConnectFunction", "NONE")
    assert routes[("POST", "/webhooks/{tenant_id}")] == ("WebhooksFunction", "NONE")
    admin = {k: v for k, v in routes.items() if k[1].startswith("/admin")}
    assert ("ANY", "/admin/{proxy+}") in admin
    assert all(v == ("AdminApiFunction", "AWS_IAM") for v in admin.values()), admin
    public = {k for k, v in routes.items() if v[1] == "NONE"}
    assert all(not path.startswith("/admin") for _, path in public)
    # The tenant portal: public, because its own signed link and session cookie stand for the tenant.
    assert routes[("ANY", "/portal/{proxy+}")] == ("PortalFunction", "NONE")


# ------------------------------------------------------------------------------ tables

def test_app_table_has_its_gsis_ttl_and_is_protected(resources):
    table = resources["AppTable"]
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert {(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]} == {("pk", "HASH"), ("sk", "RANGE")}
    indexes = {i["IndexName"]: i for i in props["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"GSI1", "GSI2", "GSI3"}  # GSI3: staged documents by staged-at
    for n in (1, 2, 3):
        index = indexes[f"GSI{n}"]
        assert [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]] == [
            (f"gsi{n}pk", "HASH"), (f"gsi{n}sk", "RANGE")]
        assert index["Projection"]["ProjectionType"] == "ALL"
    assert all(a["AttributeType"] == "S" for a in props["AttributeDefinitions"])
    assert tpl.table_ttl_attribute("AppTable") == "expires_at"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    sse = props["SSESpecification"]
    assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS"
    assert resources[_ref(sse["KMSMasterKeyId"])]["Type"] == "AWS::KMS::Key"
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def _store_source() -> str:
    return "\n".join(p.read_text() for p in sorted(STORE.glob("*.py")))


def test_table_defines_every_key_attribute_and_index_the_store_uses(resources):
    props = resources["AppTable"]["Properties"]
    defined = {a["AttributeName"] for a in props["AttributeDefinitions"]}
    indexes = {i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]] for i in props["GlobalSecondaryIndexes"]}
    source = _store_source()
    used_attrs = set(re.findall(r"""["'](gsi\d+(?:pk|sk))["']""", source))
    used_indexes = set(re.findall(r"""["'](GSI\d+)["']""", source))
    assert used_attrs and used_indexes, "the store's GSI attribute and index names were not found"
    assert {"pk", "sk"} <= defined
    assert used_attrs <= defined, f"store uses undefined attributes {sorted(used_attrs - defined)}"
    assert used_indexes <= set(indexes), f"store queries missing indexes {sorted(used_indexes - set(indexes))}"
    for name in used_indexes:  # GSI<n> is keyed on gsi<n>pk / gsi<n>sk, as the store pairs them
        n = name[3:]
        assert indexes[name] == [f"gsi{n}pk", f"gsi{n}sk"]
    if re.search(r"""["']expires_at["']""", source):
        assert tpl.table_ttl_attribute("AppTable") == "expires_at"


def _powertools_dynamodb_defaults() -> dict[str, Any]:
    """Defaults of DynamoDBPersistenceLayer.__init__, read from its source (importing it would pull
    in urllib3, which probes a socket at import time)."""
    source = Path(str(importlib.metadata.distribution("aws-lambda-powertools").locate_file(
        "aws_lambda_powertools/utilities/idempotency/persistence/dynamodb.py")))
    tree = ast.parse(source.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "DynamoDBPersistenceLayer")
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    args = init.args.args[-len(init.args.defaults):] if init.args.defaults else []
    out = {a.arg: ast.literal_eval(d) for a, d in zip(args, init.args.defaults, strict=True)
           if isinstance(d, ast.Constant)}
    out |= {a.arg: ast.literal_eval(d) for a, d in zip(init.args.kwonlyargs, init.args.kw_defaults, strict=True)
            if isinstance(d, ast.Constant)}
    return out


def test_idempotency_table_has_the_powertools_layout(resources):
    defaults = _powertools_dynamodb_defaults()
    props = resources["IdempotencyTable"]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": defaults["key_attr"], "KeyType": "HASH"}]
    assert tpl.table_ttl_attribute("IdempotencyTable") == defaults["expiry_attr"]


def test_local_tables_can_be_created_from_the_template():
    kwargs = tpl.table_create_kwargs("AppTable", "t")
    assert {i["IndexName"] for i in kwargs["GlobalSecondaryIndexes"]} == {"GSI1", "GSI2", "GSI3"}


# ------------------------------------------------------------------------------ permissions

def _policies(spec: tpl.FunctionSpec) -> list[Any]:
    return spec.properties.get("Policies") or []


def _templates_on(spec: tpl.FunctionSpec, name: str) -> set[str]:
    """Logical ids a SAM policy template `name` is applied to."""
    out = set()
    for p in _policies(spec):
        if isinstance(p, dict) and name in p:
            out.add(_ref(next(iter(p[name].values()))))
    return out


def test_no_function_gets_a_broad_managed_policy_or_wildcard_statement(functions):
    for spec in functions.values():
        for p in _policies(spec):
            assert not isinstance(p, str), f"{spec.logical_id}: managed policy {p} (use policy templates)"
            for stmt in (p.get("Statement") or []) if isinstance(p, dict) else []:
                actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
                assert all(not a.endswith(":*") and a != "*" for a in actions), spec.logical_id
                assert stmt["Resource"] != "*", spec.logical_id


def test_only_functions_that_handle_tokens_can_use_the_token_key(functions):
    handles_tokens = {"ConnectFunction", "ExportWorkerFunction", "PaymentPollWorkerFunction",
                      "TokenKeepAliveFunction", "AdminApiFunction", "PortalFunction"}
    for lid, spec in functions.items():
        can_open = "TokenKey" in _templates_on(spec, "KMSDecryptPolicy") or any(
            stmt["Action"] == "kms:Decrypt" and _ref(stmt["Resource"]) == "TokenKey"
            for p in _policies(spec) if isinstance(p, dict) for stmt in p.get("Statement") or [])
        assert can_open == (lid in handles_tokens), lid


def test_every_function_that_reads_the_settings_secret_may(functions):
    for lid, spec in functions.items():
        if lid not in ("ExportSchedulerFunction", "PaymentPollerFunction"):  # the fan-outs read no secret
            assert "SettingsSecret" in _templates_on(spec, "AWSSecretsManagerGetSecretValuePolicy"), lid


@pytest.mark.parametrize(("logical_id", "queues"), [
    ("ConnectFunction", {"HostDeliveryQueue"}),  # tells the host the tenant connected
    ("ExportSchedulerFunction", {"ExportJobsQueue"}),
    ("WebhooksFunction", {"ExportJobsQueue"}),
    ("AdminApiFunction", {"ExportJobsQueue", "HostDeliveryQueue"}),
    ("ExportWorkerFunction", {"ExportJobsQueue", "HostDeliveryQueue"}),  # its own: a run's continuation
    ("PaymentPollerFunction", {"PaymentPollQueue"}),
    ("PaymentPollWorkerFunction", {"HostDeliveryQueue"}),
    ("TokenKeepAliveFunction", {"HostDeliveryQueue"}),
    ("PortalFunction", {"ExportJobsQueue", "HostDeliveryQueue"}),  # export now, resend
])
def test_producers_can_send_to_their_queues(functions, logical_id, queues):
    assert _templates_on(functions[logical_id], "SQSSendMessagePolicy") == queues


# ------------------------------------------------------------------------------ outputs, samconfig

def test_outputs(template):
    assert {"ApiUrl", "TableName", "IdempotencyTableName", "ExportJobsQueueUrl", "PaymentPollQueueUrl",
            "HostDeliveryQueueUrl", "NotificationTopicArn", "SettingsSecretName"} <= set(template["Outputs"])


def test_settings_secret_name_is_what_the_functions_are_given(template, resources):
    env = _globals(template)["Environment"]["Variables"]
    assert env["SETTINGS_SECRET_NAME"] == resources["SettingsSecret"]["Properties"]["Name"]
    assert template["Outputs"]["SettingsSecretName"]["Value"] == resources["SettingsSecret"]["Properties"]["Name"]


def test_samconfig_environments_lint_build_cached_and_override_real_parameters(template):
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert {"default", "dev", "prod"} <= set(config)
    stacks = {}
    for env in ("default", "dev", "prod"):
        cmds = config[env]
        assert cmds["validate"]["parameters"]["lint"] is True, env
        build = cmds["build"]["parameters"]
        assert build["cached"] is True and build["parallel"] is True, env
        assert "use_container" not in build, env
        deploy = cmds["deploy"]["parameters"]
        assert "CAPABILITY_IAM" in deploy["capabilities"].split(), env
        stacks[env] = cmds["global"]["parameters"]["stack_name"]
        for pair in shlex.split(deploy.get("parameter_overrides", "")):
            name, value = pair.split("=", 1)
            param = template["Parameters"].get(name)
            assert param is not None, f"{env}: override of unknown parameter {name}"
            if "AllowedValues" in param:
                assert value in [str(v) for v in param["AllowedValues"]], f"{env}: {name}={value}"
    assert stacks["dev"] != stacks["prod"]

"""The whole system on one machine, no AWS account and no Docker: `python -m local.stack`.

- DynamoDB: AWS's DynamoDB Local engine (java -jar from the npm package in .tools/), tables created
  from template.yaml; moto's server instead, with a warning, when Java or the jar is missing.
- Other AWS services (KMS, SQS, SNS, Secrets Manager, Scheduler): moto's server.
- The Sage and host-app sandboxes: ASGI apps under uvicorn on 127.0.0.1.
- An HTTP API on 127.0.0.1:3000 routing requests to the handlers from template.yaml's HttpApi events
  (as HTTP API payload v2 events), SQS pollers feeding the SQS-triggered functions (like Lambda's
  event source mappings, with partial batch failures), and a scheduler firing the template's
  schedules.
Writes .local-stack/outputs.json so `python -m local.invoke` can find everything.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from local import dynamodb_local, runtime, timeshift
from local import template as tpl
from local.sandboxes.stack_entry import SANDBOXES, stack_entry

log = logging.getLogger("local.stack")

REGION = "eu-west-2"


def _moto_server(port: int) -> Any:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per boto3 call otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


class _UvicornThread:
    """An ASGI app served by uvicorn in a daemon thread on 127.0.0.1."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.port = port
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True, name=f"uvicorn:{port}")

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


def _empty_sandbox(name: str) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = json.dumps({"sandbox": name, "error": "not implemented yet"}).encode()
        await send({"type": "http.response.start", "status": 501,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return app


def load_sandbox(name: str, clock: Any = None, latency: tuple[float, float] = (0.0, 0.0)) -> tuple[Any, Any]:
    """(sandbox object for tests and the demo to drive, ASGI app to serve). A sandbox not written yet
    (a later issue) serves an empty shell that answers 501. With `clock`, the Sage sandboxes run on
    it and serve the local-only control endpoint (`/_sandbox/clock`) that moves it, and answer each
    request after `latency` (seconds, a uniform draw between the bounds)."""
    entry = stack_entry(name)
    if entry is None:
        return None, _empty_sandbox(name)
    sandbox, app = entry.build(clock)
    if clock is not None and entry.sage:
        from local.sandboxes.control import SandboxControls

        app = SandboxControls(app, clock, sandbox=sandbox, latency=latency)
    return sandbox, app


# --- HTTP API (payload format 2.0) ---------------------------------------------------------------


@dataclass
class Route:
    function: str
    method: str
    path: str
    pattern: re.Pattern[str]
    iam: bool

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


def http_routes() -> list[Route]:
    routes = []
    for spec in tpl.functions().values():
        for ev in spec.events.values():
            if ev.get("Type") != "HttpApi":
                continue
            props = ev.get("Properties") or {}
            path, method = props.get("Path", "$default"), props.get("Method", "ANY").upper()
            regex = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", path)
            regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
            auth = (props.get("Auth") or {}).get("Authorizer")
            routes.append(Route(spec.logical_id, method, path, re.compile(f"^{regex}$"), auth == "AWS_IAM"))
    # Most specific first, as API Gateway matches: literal paths before greedy ones.
    routes.sort(key=lambda r: ("+}" in r.path, -len(r.path)))
    return routes


def build_http_event(route: Route, method: str, path: str, query: str, headers: dict[str, str],
                     body: bytes, path_params: dict[str, str]) -> dict[str, Any]:
    now = datetime.now(UTC)
    text_body: str | None
    try:
        text_body, is_b64 = (body.decode("utf-8"), False) if body else (None, False)
    except UnicodeDecodeError:
        text_body, is_b64 = base64.b64encode(body).decode(), True
    query_params: dict[str, str] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        query_params[k] = f"{query_params[k]},{v}" if k in query_params else v
    context: dict[str, Any] = {
        "accountId": "000000000000", "apiId": "local", "domainName": headers.get("host", "127.0.0.1:3000"),
        "domainPrefix": "local", "requestId": str(uuid.uuid4()), "routeKey": route.route_key,
        "stage": "$default", "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                 "userAgent": headers.get("user-agent", "")},
    }
    if route.iam:
        # Locally every caller is the operator; in AWS, API Gateway checks the SigV4 signature.
        context["authorizer"] = {"iam": {"accessKey": "LOCAL", "accountId": "000000000000",
                                         "callerId": "local-operator",
                                         "userArn": "arn:aws:iam::000000000000:user/local"}}
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": route.route_key, "rawPath": path, "rawQueryString": query,
        "headers": headers, "requestContext": context, "isBase64Encoded": is_b64,
    }
    if query_params:
        event["queryStringParameters"] = query_params
    if path_params:
        event["pathParameters"] = path_params
    if text_body is not None:
        event["body"] = text_body
    cookies = headers.get("cookie")
    if cookies:
        event["cookies"] = [c.strip() for c in cookies.split(";")]
    return event


def http_response(result: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Turn a handler's return value into status, headers, body as HTTP API does (format 2.0)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        body = json.dumps(result).encode()
        return 200, [(b"content-type", b"application/json")], body
    headers = [(k.lower().encode(), str(v).encode()) for k, v in (result.get("headers") or {}).items()]
    for cookie in result.get("cookies") or []:
        headers.append((b"set-cookie", cookie.encode()))
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
    return int(result["statusCode"]), headers, body


class HttpApi:
    """ASGI app standing in for API Gateway's HTTP API in front of the handlers."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.routes = http_routes()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        import anyio

        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        method, path = scope["method"], scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        for route in self.routes:
            match = route.pattern.match(path)
            if match and route.method in ("ANY", method):
                event = build_http_event(route, method, path, scope["query_string"].decode(), headers, body,
                                         match.groupdict())
                try:
                    result = await anyio.to_thread.run_sync(self.stack.invoke, route.function, event)
                    status, out_headers, out_body = http_response(result)
                except Exception as exc:  # API Gateway answers 500 when the function errors
                    log.exception("%s failed", route.function)
                    status, out_headers = 500, [(b"content-type", b"application/json")]
                    out_body = json.dumps({"message": "Internal Server Error", "error": type(exc).__name__}).encode()
                break
        else:
            status, out_headers, out_body = 404, [(b"content-type", b"application/json")], b'{"message":"Not Found"}'
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": out_body})


# --- schedules and queues ----------------------------------------------------------------------

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")


def rate_seconds(expression: str) -> int:
    match = _RATE.match(expression.strip())
    if not match:
        raise ValueError(f"only rate() expressions run locally, got {expression!r}")
    n, unit = int(match.group(1)), match.group(2).rstrip("s")
    return n * {"minute": 60, "hour": 3600, "day": 86400}[unit]


@dataclass
class Schedule:
    function: str
    name: str
    expression: str
    input: dict[str, Any]


@dataclass
class QueueTrigger:
    function: str
    queue: str
    batch_size: int
    report_failures: bool


def _new_clock() -> Any:
    from local.sandboxes.sage_accounting.clock import SandboxClock

    return SandboxClock()


@dataclass
class LocalStack:
    api_port: int = 3000
    schedule_speedup: float = 0.0  # 0 = schedules fire only when asked (fire_schedules)
    background_pollers: bool = True  # False: queues are drained only when asked (drain_queues), for scripts
    quiet: bool = False  # True: the functions log warnings only and emit no metric lines (the demo's output)
    outputs: dict[str, Any] = field(default_factory=dict)
    sandboxes: dict[str, Any] = field(default_factory=dict)
    _servers: list[Any] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    dynamodb_engine: str = ""
    _local: threading.local = field(default_factory=threading.local)
    # One clock for the Sage sandboxes and, through local.timeshift, for the functions: moving it
    # (POST /_sandbox/clock on any Sage sandbox, or `python -m local.clock`) is time passing.
    clock: Any = field(default_factory=lambda: _new_clock())
    # Each request to a Sage sandbox waits this long first (seconds, low-high), as a real network and
    # service do; None: SAGEBRIDGE_SANDBOX_LATENCY_MS, else 20-50 ms. (0, 0) turns it off.
    sandbox_latency: tuple[float, float] | None = None

    # ---- lifecycle
    def start(self) -> LocalStack:
        if runtime.OUTPUTS.exists():
            other = json.loads(runtime.OUTPUTS.read_text()).get("pid")
            if other and other != os.getpid() and runtime.alive(int(other)):
                raise RuntimeError(f"another local stack (pid {other}) is running and owns {runtime.OUTPUTS}: "
                                   "stop it first (Ctrl-C in its terminal)")
        runtime.cold_start()  # a new stack is a new set of containers: nothing cached from an earlier one
        timeshift.follow(lambda: self.clock.offset)
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
        moto_port = dynamodb_local.free_port()
        self._servers.append(_moto_server(moto_port))
        moto_url = f"http://127.0.0.1:{moto_port}"
        try:
            ddb = dynamodb_local.start()
            self._servers.append(ddb)
            ddb_url, self.dynamodb_engine = ddb.endpoint_url, "DynamoDB Local"
        except dynamodb_local.DynamoDBLocalUnavailable as exc:
            warnings.warn(f"{exc}; falling back to moto's DynamoDB (behaviour may differ from AWS)", stacklevel=2)
            ddb_url, self.dynamodb_engine = moto_url, "moto (fallback)"
        environment = {
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ENDPOINT_URL_DYNAMODB": ddb_url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PUBLIC_API_URL": f"http://127.0.0.1:{self.api_port}",
        }
        if self.quiet:
            environment.update({"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"})
            # The functions run in this process and share its logger, made when sagebridge was first
            # imported (before any invocation's environment): quiet it here too.
            from sagebridge.observability import logger

            logger.setLevel("WARNING")
        sandbox_urls = {}
        from local.sandboxes.control import latency_from_env

        latency = self.sandbox_latency if self.sandbox_latency is not None else latency_from_env()
        # As with a real Sage app, only the registered callback may receive a code (Sage refuses any other).
        from sagebridge.connections.connect_flow import CALLBACK_PATH

        callbacks = [f"http://{host}:{self.api_port}{CALLBACK_PATH}" for host in ("127.0.0.1", "localhost")]
        for name in SANDBOXES:
            sandbox, app = load_sandbox(name, self.clock, latency)
            self.sandboxes[name] = sandbox
            if getattr(sandbox, "oauth", None) is not None:
                sandbox.oauth.add_client(sandbox.client_id, sandbox.client_secret, callbacks)
            server = _UvicornThread(app, dynamodb_local.free_port())
            server.start()
            self._servers.append(server)
            sandbox_urls[name] = f"http://127.0.0.1:{server.port}"
        for name, url in sandbox_urls.items():
            if (entry := stack_entry(name)) is not None:
                environment.update(entry.environment(url))
        # Only the functions' invocations see these (runtime.environment); the process keeps its own.
        resources = self._provision(ddb_url, moto_url)
        self.outputs = {
            "pid": os.getpid(),
            "api_url": f"http://127.0.0.1:{self.api_port}",
            "dynamodb": {"endpoint": ddb_url, "engine": self.dynamodb_engine},
            "moto_endpoint": moto_url,
            "sandboxes": sandbox_urls,
            "sandbox_latency_ms": [round(latency[0] * 1000), round(latency[1] * 1000)],
            "resources": resources,
            "environment": environment,
        }
        api = _UvicornThread(HttpApi(self), self.api_port)
        api.start()
        self._servers.append(api)
        runtime.STATE_DIR.mkdir(exist_ok=True)
        runtime.OUTPUTS.write_text(json.dumps(self.outputs, indent=2))
        for trigger in self.queue_triggers() if self.background_pollers else []:
            threading.Thread(target=self._poll_queue, args=(trigger,), daemon=True,
                             name=f"sqs:{trigger.function}").start()
        if self.schedule_speedup:
            threading.Thread(target=self._run_schedules, daemon=True, name="scheduler").start()
        return self

    def stop(self) -> None:
        self._stop.set()
        timeshift.follow(timedelta())
        for server in reversed(self._servers):
            try:
                server.stop()
            except Exception:  # noqa: S110 - best effort on shutdown
                pass
        if runtime.OUTPUTS.exists() and json.loads(runtime.OUTPUTS.read_text()).get("pid") == os.getpid():
            runtime.OUTPUTS.unlink()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- AWS resources from the template
    def _provision(self, ddb_url: str, moto_url: str) -> dict[str, str]:
        import boto3

        res = tpl.resources()
        names: dict[str, str] = {}
        ddb = boto3.client("dynamodb", endpoint_url=ddb_url, region_name=REGION)
        tables = {lid: f"sagebridge-local-{lid}" for lid, r in res.items() if r["Type"] == "AWS::DynamoDB::Table"}
        existing = set(ddb.list_tables()["TableNames"])
        tpl.create_tables(ddb, {lid: n for lid, n in tables.items() if n not in existing})
        names.update(tables)
        kms = boto3.client("kms", endpoint_url=moto_url, region_name=REGION)
        sqs = boto3.client("sqs", endpoint_url=moto_url, region_name=REGION)
        sns = boto3.client("sns", endpoint_url=moto_url, region_name=REGION)
        secrets = boto3.client("secretsmanager", endpoint_url=moto_url, region_name=REGION)
        for lid, r in res.items():
            kind = r["Type"]
            if kind == "AWS::KMS::Key":
                key = kms.create_key(Description=f"local {lid}")["KeyMetadata"]
                names[lid], names[f"{lid}.Arn"] = key["KeyId"], key["Arn"]
            elif kind == "AWS::SNS::Topic":
                names[lid] = names[f"{lid}.TopicArn"] = sns.create_topic(Name=f"sagebridge-local-{lid}")["TopicArn"]
            elif kind == "AWS::SecretsManager::Secret":
                name = (r.get("Properties") or {}).get("Name") or f"sagebridge-local/{lid}"
                names[lid] = names[f"{lid}.Id"] = runtime.resolve(name, names, runtime.parameter_defaults())
        # Queues: DLQs first so redrive policies can point at them.
        queues = [lid for lid, r in res.items() if r["Type"] == "AWS::SQS::Queue"]
        for lid in sorted(queues, key=lambda q: "RedrivePolicy" in (res[q].get("Properties") or {})):
            props = res[lid].get("Properties") or {}
            attrs = {"VisibilityTimeout": str(props.get("VisibilityTimeout", 30))}
            redrive = props.get("RedrivePolicy")
            if redrive:
                target = redrive["deadLetterTargetArn"]
                dlq = target["Fn::GetAtt"][0] if isinstance(target, dict) else target
                max_receive = redrive.get("maxReceiveCount", 5)
                if isinstance(max_receive, dict):
                    max_receive = runtime.resolve(max_receive, names, runtime.parameter_defaults())
                attrs["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": names[f"{dlq}.Arn"],
                                                     "maxReceiveCount": str(max_receive)})
            url = sqs.create_queue(QueueName=f"sagebridge-local-{lid}", Attributes=attrs)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            names[lid], names[f"{lid}.Arn"], names[f"{lid}.QueueUrl"], names[f"{lid}.QueueName"] = (
                url, arn, url, f"sagebridge-local-{lid}")
        # The integration's own credentials at the sandbox (no real Sage account's secret).
        integration = {key: value for name in SANDBOXES if (entry := stack_entry(name)) is not None
                       for key, value in entry.secrets.items()}
        integration["state_signing_key"] = base64.b64encode(os.urandom(32)).decode()
        try:
            secrets.create_secret(Name=names["SettingsSecret"], SecretString=json.dumps(integration))
        except secrets.exceptions.ResourceExistsException:
            pass
        return names

    # ---- invoking functions
    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        return runtime.invoke(function, event, self.outputs)

    def schedules(self) -> list[Schedule]:
        params = runtime.parameter_defaults()
        out = []
        for spec in tpl.functions().values():
            for name, ev in spec.events.items():
                if ev.get("Type") in ("ScheduleV2", "Schedule"):
                    props = ev.get("Properties") or {}
                    expression = runtime.resolve(props.get("ScheduleExpression"), {}, params)
                    payload = props.get("Input")
                    out.append(Schedule(spec.logical_id, name, expression,
                                        json.loads(payload) if isinstance(payload, str) else {}))
        return out

    def fire(self, schedule: Schedule) -> Any:
        """Invoke a schedule's target as EventBridge Scheduler does, filling its context attributes."""
        payload = json.dumps(schedule.input)
        now = datetime.now(UTC) + self.clock.offset  # the stack's time (see `clock`)
        payload = payload.replace("<aws.scheduler.scheduled-time>", now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        payload = payload.replace("<aws.scheduler.execution-id>", str(uuid.uuid4()))
        payload = payload.replace("<aws.scheduler.schedule-arn>",
                                  f"arn:aws:scheduler:{REGION}:000000000000:schedule/default/{schedule.name}")
        return self.invoke(schedule.function, json.loads(payload))

    def fire_schedules(self) -> dict[str, Any]:
        """Fire every schedule once, as EventBridge Scheduler would at its next tick."""
        return {f"{s.function}.{s.name}": self.fire(s) for s in self.schedules()}

    def _run_schedules(self) -> None:
        schedules = self.schedules()
        due = {id(s): 0.0 for s in schedules}
        while not self._stop.is_set():
            for s in schedules:
                if time.monotonic() >= due[id(s)]:
                    due[id(s)] = time.monotonic() + rate_seconds(s.expression) / self.schedule_speedup
                    try:
                        log.info("schedule %s.%s -> %s", s.function, s.name, self.fire(s))
                    except Exception:
                        log.exception("schedule %s.%s failed", s.function, s.name)
            self._stop.wait(0.5)

    def queue_triggers(self) -> list[QueueTrigger]:
        out = []
        for spec in tpl.functions().values():
            for ev in spec.events.values():
                if ev.get("Type") == "SQS":
                    props = ev["Properties"]
                    queue = props["Queue"]["Fn::GetAtt"][0]
                    out.append(QueueTrigger(spec.logical_id, queue, int(props.get("BatchSize", 10)),
                                            "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])))
        return out

    def drain_queues(self, rounds: int = 20) -> int:
        """Deliver what is waiting on the queues now (tests and the demo call this instead of
        waiting for the background pollers). Returns the number of messages handled."""
        handled = 0
        for _ in range(rounds):
            n = sum(self._poll_once(t, wait=0) for t in self.queue_triggers())
            handled += n
            if n == 0:
                break
        return handled

    def _sqs(self) -> Any:
        """One SQS client per thread: boto3's default session is not safe to share across threads."""
        client = getattr(self._local, "sqs", None)
        if client is None:
            import boto3

            client = boto3.session.Session().client("sqs", endpoint_url=self.outputs["moto_endpoint"],
                                                    region_name=REGION)
            self._local.sqs = client
        return client

    def _poll_queue(self, trigger: QueueTrigger) -> None:
        while not self._stop.is_set():
            try:
                if self._poll_once(trigger, wait=1) == 0:
                    self._stop.wait(0.2)
            except Exception:
                log.exception("polling %s failed", trigger.queue)
                self._stop.wait(1)

    def _poll_once(self, trigger: QueueTrigger, wait: int) -> int:
        sqs = self._sqs()
        url = self.outputs["resources"][trigger.queue]
        arn = self.outputs["resources"][f"{trigger.queue}.Arn"]
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(trigger.batch_size, 10),
                                       WaitTimeSeconds=wait, AttributeNames=["All"],
                                       MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "messageAttributes": m.get("MessageAttributes", {}),
            "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": REGION,
        } for m in messages]}
        try:
            result = self.invoke(trigger.function, event)
        except Exception:
            log.exception("%s failed on a batch of %d; messages return to the queue", trigger.function,
                          len(messages))
            return len(messages)
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])} \
            if trigger.report_failures else set()
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return len(messages)


def seed_demo_tenant(stack: LocalStack) -> None:
    """Tenant `demo`, whose webhook secret is the published demo secret the files in events/ are
    signed with, so `python -m local.invoke WebhooksFunction -e events/webhook_*.json --resign`
    is accepted as it would be from a host app."""
    import boto3
    import httpx

    from local.sandboxes.host_app import DEMO_SECRET, DEMO_TENANT
    from sagebridge.host.secrets import tenant_webhook_secret_name, webhook_secret_value

    callback = f"{stack.outputs['sandboxes']['host_app']}/callback"
    answer = httpx.post(f"{stack.outputs['api_url']}/admin/tenants", timeout=60, json={
        "tenant_id": DEMO_TENANT, "settings": {"provider": "sage_accounting", "host_callback_url": callback}})
    if answer.status_code not in (201, 409):
        raise RuntimeError(f"could not create the demo tenant: {answer.status_code} {answer.text}")
    secrets = boto3.client("secretsmanager", endpoint_url=stack.outputs["moto_endpoint"], region_name=REGION)
    name = tenant_webhook_secret_name(stack.outputs["resources"]["SettingsSecret"], DEMO_TENANT)
    secrets.put_secret_value(SecretId=name, SecretString=webhook_secret_value(DEMO_SECRET))
    print(f"tenant {DEMO_TENANT!r} created; events/webhook_*.json are signed with its secret (use --resign)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=3000, help="HTTP API port (default 3000)")
    parser.add_argument("--speedup", type=float, default=60.0,
                        help="run schedules this many times faster than template.yaml says (default 60: "
                             "a 15-minute schedule fires every 15 s); 0 disables the scheduler")
    parser.add_argument("--sandbox-latency-ms", metavar="LOW-HIGH", default=None,
                        help="each request to a Sage sandbox waits this long first (default 20-50, or "
                             "SAGEBRIDGE_SANDBOX_LATENCY_MS; 0 turns it off)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("httpx", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        from local.sandboxes.control import latency_from_env

        latency = latency_from_env(args.sandbox_latency_ms) if args.sandbox_latency_ms is not None else None
        stack = LocalStack(api_port=args.port, schedule_speedup=args.speedup, sandbox_latency=latency).start()
    except (ValueError, FileNotFoundError, dynamodb_local.DynamoDBLocalUnavailable, RuntimeError, OSError) as exc:
        print(f"local.stack: {exc}", file=sys.stderr)
        return 2
    seed_demo_tenant(stack)
    print(f"Sage Bridge local stack up: API {stack.outputs['api_url']}, "
          f"DynamoDB {stack.dynamodb_engine} at {stack.outputs['dynamodb']['endpoint']}")
    for name, url in stack.outputs["sandboxes"].items():
        print(f"  sandbox {name}: {url}")
    low, high = stack.outputs["sandbox_latency_ms"]
    print(f"  the Sage sandboxes answer after {low}-{high} ms (--sandbox-latency-ms); "
          "their clock: python -m local.clock")
    print("Ctrl-C to stop.")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

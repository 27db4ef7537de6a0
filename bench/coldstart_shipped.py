"""Cold start as shipped: each function imported from the built artefact (.aws-sam/build, what
`sam build` / `make check` leaves) in a fresh interpreter that cannot write bytecode (Lambda's
filesystem is read-only), then its first invocation, against a bare Powertools handler (Logger,
Metrics, Tracer) imported from the same layer and invoked the same way, in the same run.

- with bytecode: the layer as built (layers/shared/Makefile: unchecked-hash .pyc files), the
  function's own app.py as SAM copies it (compiled at each cold start; the figure says how much);
- without bytecode: the same layer with every .pyc removed (what the python3.11 build method shipped);
- first invocation: the handler called once with its sample event (events/), AWS at a local HTTP
  server that answers every request at once with a 400 ValidationException, so it stops at its
  first AWS request (boto3 session and clients built, the request serialised, signed, sent once and
  its answer parsed), plus the one AES-GCM seal and open of a token set that a function talking to
  Sage does. A 400 is not retried: the request is sent once, as on success in production (an
  earlier version used a closed port, and the store's retry config, 5 attempts, sent it 5 times).

Two references, each imported and invoked the same way from the same layer: the floor, a bare
Powertools handler (Logger, Metrics, Tracer), which the goal is against; and a minimal working
handler, the same plus pydantic, one boto3 DynamoDB client and one GetItem to the same endpoint
(what any of our functions must do at least), so a function's figure splits into the platform's
part and ours.

The artefact's layer holds arm64 extensions. On another machine the same Makefile target builds
the layer for this machine's platform (PLATFORM=...; cached under .aws-sam/bench-layer/), and the
figure names which one it imported. Times are the child process's CPU time (`process_time`), not
its wall clock: a cold start is CPU-bound, and on a shared machine the wall clock mostly measures the
other processes. Best of `repeat` fresh processes each, alternating."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.coldstart import BARE  # the floor: the same bare Powertools handler
from bench.common import Figure

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
LAYER_SOURCE = ROOT / "layers" / "shared"
GOAL = 1.3
EVENTS = {
    "AdminApiFunction": "admin_status.json", "ConnectFunction": "connect_start.json",
    "ExportSchedulerFunction": "export_scheduler.json", "ExportWorkerFunction": "export_worker.json",
    "HostDeliveryFunction": "host_delivery.json", "PaymentPollWorkerFunction": "payment_poll_worker.json",
    "PaymentPollerFunction": "payment_poller.json", "TokenKeepAliveFunction": "token_keepalive.json",
    "WebhooksFunction": "webhook_invoice_upserted.json",
}
TALKS_TO_SAGE = {"AdminApiFunction", "ConnectFunction", "ExportWorkerFunction", "PaymentPollWorkerFunction",
                 "TokenKeepAliveFunction"}
# One fresh process: import `app`, then its first invocation; seconds of each into argv[1].
CHILD = r'''
import json, os, sys, time
out, event_file, sage = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
t0 = time.process_time()
import app
t1 = time.process_time()

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "bench", 512, "00000000-0000-0000-0000-000000000000"
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:bench"
    def get_remaining_time_in_millis(self): return 30000

event = json.load(open(event_file)) if event_file else {}
try:
    app.lambda_handler(event, Context())
except Exception:
    pass  # stopped at its first AWS request (answered 400): what was built until then is the cost
if sage:  # a token set sealed and opened with AES-GCM (the data key itself comes from KMS)
    from datetime import datetime, timezone
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from sagebridge.security.tokens import TokenSet
    tokens = TokenSet(access_token="a" * 40, refresh_token="r" * 40, expires_at=datetime.now(timezone.utc),
                      refresh_expires_at=datetime.now(timezone.utc))
    aead, nonce = AESGCM(b"k" * 32), b"n" * 12
    TokenSet.from_plaintext(aead.decrypt(nonce, aead.encrypt(nonce, tokens.to_plaintext(), b"t"), b"t"))
t2 = time.process_time()
json.dump({"import": t1 - t0, "first": t2 - t1}, open(out, "w"))
'''
# A minimal working handler: the floor plus what any of our functions does at least.
MINIMAL = BARE.replace("def lambda_handler(event, context):\n    return {}", """def lambda_handler(event, context):
    import boto3
    import pydantic  # noqa: F401
    client = boto3.client("dynamodb")
    return client.get_item(TableName="bench-app", Key={"pk": {"S": "t"}, "sk": {"S": "t"}})""")
assert MINIMAL != BARE
# What Lambda's environment gives every function (template.yaml Globals), AWS at the local endpoint.
ENDPOINT = "{endpoint}"
ENV = {
    "POWERTOOLS_SERVICE_NAME": "sagebridge", "POWERTOOLS_METRICS_NAMESPACE": "SageBridge",
    "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "INFO",
    "AWS_DEFAULT_REGION": "eu-west-2", "AWS_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": ENDPOINT, "AWS_MAX_ATTEMPTS": "1",
    "AWS_RETRY_MODE": "standard", "AWS_EC2_METADATA_DISABLED": "true", "PYTHONDONTWRITEBYTECODE": "1",
    "TABLE_NAME": "bench-app", "IDEMPOTENCY_TABLE_NAME": "bench-idem", "TOKEN_KEY_ID": "alias/bench",
    "EXPORT_QUEUE_URL": f"{ENDPOINT}/123456789012/export", "DELIVERY_QUEUE_URL": f"{ENDPOINT}/123456789012/delivery",
    "PAYMENT_POLL_QUEUE_URL": f"{ENDPOINT}/123456789012/poll",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-2:123456789012:bench", "SETTINGS_SECRET_NAME": "bench/settings",
    "STAGE": "dev",
}
REFUSAL = json.dumps({"__type": "com.amazon.coral.validate#ValidationException", "message": "bench"}).encode()


class _Refuse(BaseHTTPRequestHandler):
    """Every AWS request answered at once with a 400 ValidationException: not retryable, so sent once."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests += 1  # type: ignore[attr-defined]
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(REFUSAL)))
        self.end_headers()
        self.wfile.write(REFUSAL)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def aws_endpoint() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)
    server.requests = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _machine_platform() -> str:
    return {"x86_64": "manylinux2014_x86_64", "aarch64": "manylinux2014_aarch64"}[platform.machine()]


def _layer_key() -> str:
    digest = hashlib.sha256()
    build = [LAYER_SOURCE / name for name in ("Makefile", "requirements.txt", "prune_botocore.py")]
    for path in sorted([*build, *(LAYER_SOURCE / "sagebridge").rglob("*.py")]):
        digest.update(path.relative_to(LAYER_SOURCE).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def shipped_layer() -> tuple[Path, str]:
    """(python/ of the layer as built, what it is): the artefact's on arm64, else the same Makefile
    target's for this machine."""
    built = BUILD / "SharedLayer" / "python"
    if not (built / "sagebridge").is_dir():
        raise SystemExit("no built layer in .aws-sam/build: run `make check` (or scripts/check-template.sh) first")
    target = _machine_platform()
    if target.endswith("aarch64"):
        return built, "the artefact's layer"
    cache = ROOT / ".aws-sam" / "bench-layer" / f"{target}-{_layer_key()}"
    if not (cache / "python" / "sagebridge").is_dir():
        shutil.rmtree(cache, ignore_errors=True)
        subprocess.run(["make", "-s", "-f", str(LAYER_SOURCE / "Makefile"), "build-SharedLayer",
                        f"ARTIFACTS_DIR={cache}", f"PLATFORM={target}"], check=True)
    ours = {p.name for p in (cache / "python").iterdir()} - {"__pycache__"}
    theirs = {p.name for p in built.iterdir()} - {"__pycache__"}
    strays = {n for n in ours ^ theirs if not n.endswith(".so")}  # _cffi_backend's name has the arch
    if strays:
        raise SystemExit(f"the {target} layer differs from the artefact's: {sorted(strays)}")
    return cache / "python", f"the artefact's layer rebuilt for {target} by its Makefile"


def without_bytecode(layer: Path, into: Path) -> Path:
    shutil.copytree(layer, into, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), symlinks=True)
    return into


def first_start(code: Path, layer: Path, event: str, sage: bool, workdir: Path,
                endpoint: str = "http://127.0.0.1:9") -> tuple[float, float]:
    """(import, first invocation) CPU seconds in one fresh interpreter, AWS at `endpoint`."""
    out = workdir / "out.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "POWERTOOLS_"))}
    env |= {k: v.replace(ENDPOINT, endpoint) for k, v in ENV.items()}
    env["PYTHONPATH"] = os.pathsep.join([str(code), str(layer)])  # /var/task, then /opt/python
    out.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-S", "-c", CHILD, str(out), event, "1" if sage else "0"], cwd=code, env=env,
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not out.exists():
        raise RuntimeError(f"cold start of {code.name} failed: {done.stderr.decode()[-800:]}")
    took = json.loads(out.read_text())
    return took["import"], took["first"]


def run(repeat: int = 3, only: tuple[str, ...] = ()) -> list[Figure]:
    layer, what = shipped_layer()
    names = list(only) or sorted(EVENTS)
    with tempfile.TemporaryDirectory() as tmp, aws_endpoint() as server:
        work = Path(tmp)
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        bare_layer = without_bytecode(layer, work / "nopyc")
        references = {"floor": work / "bare", "minimal": work / "minimal"}
        for ref, source in (("floor", BARE), ("minimal", MINIMAL)):
            references[ref].mkdir()
            (references[ref] / "app.py").write_text(source)
        compiled: dict[str, Path] = {}
        for name in names:  # the function's app.py with its bytecode too, to show what that would save
            compiled[name] = Path(shutil.copytree(BUILD / name, work / "compiled" / name))
            subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
                            str(compiled[name])], check=True)
        best: dict[tuple[str, str], tuple[float, float]] = {}
        requests: dict[str, int] = {}

        def keep(key: tuple[str, str], took: tuple[float, float]) -> None:
            old = best.get(key)
            best[key] = took if old is None or sum(took) < sum(old) else old

        def start(key: tuple[str, str], code: Path, on: Path, event: str = "", sage: bool = False) -> None:
            before = server.requests  # type: ignore[attr-defined]
            keep(key, first_start(code, on, event, sage, work, endpoint))
            requests[key[0]] = server.requests - before  # type: ignore[attr-defined]

        for _ in range(repeat):
            for ref, code in references.items():
                start((ref, "pyc"), code, layer)
            for name in names:
                event, sage = str(ROOT / "events" / EVENTS[name]), name in TALKS_TO_SAGE
                start((name, "pyc"), BUILD / name, layer, event, sage)
                start((name, "nopyc"), BUILD / name, bare_layer, event, sage)
                start((name, "app-pyc"), compiled[name], layer, event, sage)
    floor, minimal = sum(best[("floor", "pyc")]), sum(best[("minimal", "pyc")])
    figures = [Figure("cold start as shipped: floor (ms)", floor * 1000, ">= 0",
                      f"bare Powertools handler, import {best[('floor', 'pyc')][0] * 1000:.0f} + first invocation "
                      f"{best[('floor', 'pyc')][1] * 1000:.0f} ms; {what}"),
               Figure("cold start as shipped: minimal working handler (ms)", minimal * 1000, ">= 0",
                      f"the floor + pydantic, a boto3 DynamoDB client and one GetItem: import "
                      f"{best[('minimal', 'pyc')][0] * 1000:.0f} + first invocation "
                      f"{best[('minimal', 'pyc')][1] * 1000:.0f} ms ({minimal / floor:.2f}x the floor); "
                      f"{requests['minimal']} AWS request(s)")]
    for name in names:
        (imp, first), (imp0, first0), app_pyc = best[(name, "pyc")], best[(name, "nopyc")], best[(name, "app-pyc")]
        figures.append(Figure(
            f"cold start as shipped {name}", (imp + first) / floor, f"<= {GOAL}",
            f"import {imp * 1000:.0f} + first {first * 1000:.0f} ms ({(imp + first) / minimal:.2f}x the minimal "
            f"working handler; {requests[name]} AWS request(s)); without bytecode "
            f"{(imp0 + first0) * 1000:.0f} ms ({(imp0 + first0) / floor:.2f}x); app.py compiled too "
            f"{sum(app_pyc) * 1000:.0f} ms"))
    return figures

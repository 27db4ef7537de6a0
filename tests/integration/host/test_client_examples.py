"""The host-app examples in clients/examples run as a developer would run them: the curl script and
the Node script sign events the real webhooks handler (behind a local HTTP server) stores, and the
Node script verifies deliveries Sage Bridge signs in either scheme, refusing a tampered one."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from local.runtime import LambdaContext
from local.sandboxes.host_app import http_api_event
from local.sandboxes.host_app.fixtures import example_event
from sagebridge.security.signing import SIGNATURE_HEADER, sign, standard_webhooks_headers, verify
from sagebridge.store.documents import Documents
from tests.integration.host.conftest import SECRET, TENANT, Env

EXAMPLES = Path(__file__).resolve().parents[3] / "clients" / "examples"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


@pytest.fixture
def api_url(env: Env, webhooks_handler: Any) -> Iterator[str]:
    """POST /webhooks/{tenant_id} on 127.0.0.1, answered by the real handler (as sam local would)."""
    env.create_tenant()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            tenant = self.path.rsplit("/", 1)[-1]
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            reply = webhooks_handler(http_api_event(tenant, body, dict(self.headers.items())),
                                     LambdaContext("WebhooksFunction", 256, 10))
            self.send_response(reply["statusCode"])
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(reply["body"].encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def _event_file(tmp_path: Path, **changes: Any) -> Path:
    path = tmp_path / "invoice.json"
    path.write_text(json.dumps(example_event("invoice.upserted", **changes), indent=2))  # sent byte for byte
    return path


def test_the_curl_example_sends_a_signed_event_that_is_stored(env: Env, api_url: str, tmp_path: Path) -> None:
    run = subprocess.run([str(EXAMPLES / "send_webhook.sh"), api_url, TENANT, str(_event_file(tmp_path))],
                         env={"PATH": "/usr/bin:/bin", "SAGEBRIDGE_WEBHOOK_SECRET": SECRET},
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    *reply, status = run.stdout.strip().splitlines()
    assert status == "202", run.stdout
    assert json.loads("".join(reply))["result"] == "stored"
    assert Documents(env.table).get(TENANT, "sales_invoice", "INV-1001").version is not None


def test_the_curl_example_with_a_wrong_secret_is_refused(api_url: str, tmp_path: Path) -> None:
    run = subprocess.run([str(EXAMPLES / "send_webhook.sh"), api_url, TENANT, str(_event_file(tmp_path))],
                         env={"PATH": "/usr/bin:/bin", "SAGEBRIDGE_WEBHOOK_SECRET": "whsec_not_the_tenant_s"},
                         capture_output=True, text=True, timeout=30)
    *reply, status = run.stdout.strip().splitlines()
    assert status == "401"
    assert run.returncode == 1, run.stdout  # a script (or CI step) using the example sees the refusal
    assert json.loads("".join(reply))["error"] == "invalid_signature", run.stdout  # the reply, printed
    assert "refused the webhook (HTTP 401)" in run.stderr


def _node(*args: str, secret: str = SECRET) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run([NODE, str(EXAMPLES / "sagebridge.mjs"), *args], env={"SAGEBRIDGE_WEBHOOK_SECRET": secret},
                          capture_output=True, text=True, timeout=30)


@needs_node
def test_the_node_example_signs_what_the_webhooks_handler_accepts(env: Env, api_url: str, tmp_path: Path) -> None:
    import httpx

    event = _event_file(tmp_path)
    signed = _node("sign", str(event))
    assert signed.returncode == 0, signed.stderr
    header = signed.stdout.strip()
    verify(event.read_bytes(), header, [SECRET])  # Sage Bridge's own verifier
    answer = httpx.post(f"{api_url}/webhooks/{TENANT}", content=event.read_bytes(),
                        headers={"Content-Type": "application/json", SIGNATURE_HEADER: header})
    assert answer.status_code == 202 and answer.json()["result"] == "stored"


@needs_node
@pytest.mark.parametrize("scheme", ["sagebridge", "standard-webhooks"])
def test_the_node_example_verifies_a_delivery_and_refuses_a_tampered_one(tmp_path: Path, scheme: str) -> None:
    body = json.dumps({"id": "evt_1", "type": "invoice.paid", "tenant_id": TENANT, "data": {}},
                      separators=(",", ":")).encode()
    headers = ({SIGNATURE_HEADER: sign(body, SECRET)} if scheme == "sagebridge"
               else standard_webhooks_headers(body, SECRET, "evt_1"))
    (tmp_path / "body").write_bytes(body)
    (tmp_path / "headers.json").write_text(json.dumps(headers))
    ok = _node("verify", str(tmp_path / "body"), str(tmp_path / "headers.json"), secret=f"whsec_old,{SECRET}")
    assert ok.returncode == 0 and ok.stdout.strip() == "invoice.paid", ok.stderr
    (tmp_path / "body").write_bytes(body.replace(b"evt_1", b"evt_2"))
    refused = _node("verify", str(tmp_path / "body"), str(tmp_path / "headers.json"))
    assert refused.returncode == 1 and "does not match" in refused.stderr

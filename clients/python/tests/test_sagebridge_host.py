"""The host client against Sage Bridge's own code: what it signs, Sage Bridge accepts; what Sage Bridge
sends (either scheme), it verifies; the Standard Webhooks form of the secret works with the
standardwebhooks library; events.py is what docs/schemas generates; the retry rules."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sagebridge_host import (
    DeliveryReply,
    SignatureError,
    should_retry_webhook,
    sign,
    signed_headers,
    standard_webhooks_secret,
    verify,
    verify_delivery,
    verify_standard_webhooks,
)
from sagebridge_host.events import OUTBOUND_EVENTS

HERE = Path(__file__).resolve().parents[1]
SECRET = "whsec_test_current_secret_value_0001"
OLD = "whsec_test_previous_secret_value_02"
BODY = json.dumps({"id": "evt_1", "type": "invoice.paid", "tenant_id": "acme", "occurred_at": "2025-03-03T09:00:00Z",
                   "data": {}}, separators=(",", ":")).encode()

server = pytest.importorskip("sagebridge.security.signing")  # Sage Bridge's side (the repo's layer on the path)


def test_what_the_client_signs_sage_bridge_accepts_with_either_secret_of_a_rotation() -> None:
    server.verify(BODY, sign(BODY, SECRET), [SECRET])
    server.verify(BODY, sign(BODY, [SECRET, OLD]), [OLD])
    assert signed_headers(BODY, SECRET)["Content-Type"] == "application/json"
    with pytest.raises(server.SignatureError):
        server.verify(BODY + b" ", sign(BODY, SECRET), [SECRET])


def test_a_sage_bridge_signed_delivery_verifies_and_a_tampered_or_old_one_does_not() -> None:
    header = server.sign(BODY, SECRET)
    assert verify_delivery(BODY, {"Sage-Bridge-Signature": header}, [OLD, SECRET])["type"] == "invoice.paid"
    with pytest.raises(SignatureError):
        verify(BODY.replace(b"acme", b"evil"), header, SECRET)
    with pytest.raises(SignatureError):
        verify(BODY, server.sign(BODY, SECRET, timestamp=int(time.time()) - 301), SECRET)
    with pytest.raises(SignatureError):
        verify_delivery(BODY, {}, SECRET)


def test_a_standard_webhooks_delivery_verifies_here_and_with_the_standardwebhooks_library() -> None:
    headers = server.standard_webhooks_headers(BODY, SECRET, "evt_1")
    assert verify_delivery(BODY, headers, SECRET)["id"] == "evt_1"
    standardwebhooks = pytest.importorskip("standardwebhooks")
    assert standardwebhooks.Webhook(standard_webhooks_secret(SECRET)).verify(BODY, headers)["id"] == "evt_1"
    with pytest.raises(SignatureError):
        verify_standard_webhooks(BODY, headers, OLD)
    with pytest.raises(SignatureError):
        verify_standard_webhooks(BODY, {**headers, "webhook-id": "evt_2"}, SECRET)
    assert standard_webhooks_secret(SECRET) == server.standard_webhooks_secret(SECRET)


def test_retry_rules_for_the_webhooks_you_send() -> None:
    assert should_retry_webhook(None) and should_retry_webhook(503) and should_retry_webhook(500)
    assert should_retry_webhook(409, {"error": "in_progress"})
    assert not should_retry_webhook(409, {"error": "event_id_conflict"})
    assert not any(should_retry_webhook(s) for s in (202, 400, 401, 404, 413, 415, 422))
    assert DeliveryReply.DONE == 200 and DeliveryReply.RETRY_LATER == 503 and DeliveryReply.REFUSE == 400


def test_retry_rules_match_what_the_delivery_code_does() -> None:
    delivery = pytest.importorskip("sagebridge.host.delivery")
    assert DeliveryReply.RETRY_LATER >= 500 and 408 in delivery._RETRYABLE_4XX and 429 in delivery._RETRYABLE_4XX
    assert DeliveryReply.REFUSE not in delivery._RETRYABLE_4XX


def test_events_py_is_generated_from_docs_schemas() -> None:
    result = subprocess.run([sys.executable, str(HERE / "generate_events.py"), "--check"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    outbound = {p.stem for p in (HERE.parents[1] / "docs" / "schemas" / "outbound").glob("*.json")} - {"any"}
    assert set(OUTBOUND_EVENTS) == outbound

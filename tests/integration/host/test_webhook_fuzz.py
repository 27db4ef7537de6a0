"""Thousands of malformed, truncated, wrongly typed and oversized bodies at the real webhook handler:
never a 5xx, and a refused body leaves both tables exactly as they were."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.sandboxes.host_app import WebhookSender, example_events, http_api_event
from local.sandboxes.host_app.sender import encode
from sagebridge.host.inbound import MAX_BODY_BYTES
from sagebridge.security.signing import SIGNATURE_HEADER, sign
from tests.integration.host.conftest import SECRET, TENANT, Env

EXAMPLES = list(example_events().values())
EXAMPLE_BODIES = [encode(e) for e in EXAMPLES]

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | st.decimals().map(str)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_events(draw: st.DrawFn) -> bytes:
    """A valid example with one field replaced by anything, or removed."""
    event = json.loads(json.dumps(draw(st.sampled_from(EXAMPLES))))
    path = draw(st.sampled_from(_paths(event)))
    parent = event
    for part in path[:-1]:
        parent = parent[part]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return json.dumps(event, allow_nan=True).encode()


truncated = st.sampled_from(EXAMPLE_BODIES).flatmap(lambda b: st.integers(0, len(b) - 1).map(lambda n: b[:n]))
wrong_data = st.builds(lambda e, v: json.dumps({**e, "data": v}).encode(), st.sampled_from(EXAMPLES), json_values)
wrong_envelope = json_values.map(lambda v: json.dumps(v).encode())
oversized = st.builds(
    lambda body, n: body[:-1] + b',"pad":"' + b"x" * (MAX_BODY_BYTES + n) + b'"}', st.sampled_from(EXAMPLE_BODIES),
    st.integers(0, 2048),
)
deeply_nested = st.integers(500, 60_000).map(lambda n: b"[" * n + b"]" * n)
garbage = st.binary(max_size=400)
odd_text = st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))

bodies = st.one_of(mutated_events(), truncated, wrong_data, wrong_envelope, oversized, deeply_nested, garbage, odd_text)
signatures = st.sampled_from(["good", "good", "good", "good", "none", "bad", "old"])


def test_no_5xx_and_no_partial_write(env: Env, sender: WebhookSender) -> None:
    handler, context = sender.handler, sender.context
    assert handler is not None
    seen: list[int] = []
    state = {"snapshot": (env.scan(), _idempotency(env))}
    started = time.monotonic()

    @settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(body=bodies, signature=signatures)
    def throw(body: bytes, signature: str) -> None:
        headers = {}
        if signature == "good":
            headers[SIGNATURE_HEADER] = sign(body, SECRET)
        elif signature == "bad":
            headers[SIGNATURE_HEADER] = sign(body, "a-wrong-secret")
        elif signature == "old":
            headers[SIGNATURE_HEADER] = sign(body, SECRET, timestamp=int(time.time()) - 3600)
        reply = handler(http_api_event(TENANT, body, headers), context)
        status = reply["statusCode"]
        seen.append(status)
        assert status < 500, (status, reply.get("body"), body[:200])
        assert isinstance(json.loads(reply["body"]), dict)
        after = (env.scan(), _idempotency(env))
        if status != 202:
            assert after == state["snapshot"], f"a refused body ({status}) changed a table"
        state["snapshot"] = after

    throw()
    assert len(seen) >= 2000
    assert time.monotonic() - started < 60
    print({code: seen.count(code) for code in sorted(set(seen))})


def _idempotency(env: Env) -> list[dict[str, Any]]:
    items = env.dynamodb.scan(TableName=env.idempotency_table, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda i: i["id"]["S"])

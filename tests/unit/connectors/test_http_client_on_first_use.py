"""The products' default HTTP client is built by its first request, not with the container
(docs/performance.md, cold start): building an httpx.Client loads certifi's CA bundle into a TLS
context, which an invocation that sends nothing to Sage never needs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sagebridge.connections import wiring


class _Recorded:
    built: list[dict[str, Any]] = []

    def __init__(self, **options: Any) -> None:
        _Recorded.built.append(options)
        self.sent: list[tuple[str, str]] = []

    def request(self, method: str, url: str, **_: Any) -> httpx.Response:
        self.sent.append((method, url))
        return httpx.Response(200, json={"ok": True})


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> type[_Recorded]:
    _Recorded.built = []
    monkeypatch.setattr(wiring.httpx, "Client", _Recorded)
    return _Recorded


def test_no_client_is_built_until_the_first_request(recorded: type[_Recorded]):
    http = wiring.default_http_client()
    assert recorded.built == []

    answer = http.request("GET", "https://api.example.test/core/v3.1/businesses")

    assert answer.json() == {"ok": True}
    assert recorded.built == [{"timeout": wiring.DEFAULT_TIMEOUT, "follow_redirects": False}]


def test_later_requests_share_the_one_client(recorded: type[_Recorded]):
    http = wiring.default_http_client(httpx.Timeout(30.0, connect=5.0))
    http.request("GET", "https://api.example.test/a")
    http.request("POST", "https://api.example.test/b")

    assert recorded.built == [{"timeout": httpx.Timeout(30.0, connect=5.0), "follow_redirects": False}]
    assert http.sent == [("GET", "https://api.example.test/a"), ("POST", "https://api.example.test/b")]

"""The Sage Accounting client's pacer: requests start 60/N seconds apart (a little more, for
headroom), a 429's Retry-After holds every request of the business, and a client given a rate
shares its business's pacer."""

from __future__ import annotations

import pytest

from sagebridge.connectors.sage_accounting.client import RequestPacer, SageAccountingClient, pacer_for


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_requests_are_spaced_to_stay_under_the_limit() -> None:
    t = VirtualTime()
    pacer = RequestPacer(120, headroom=1.0, clock=t.clock, sleep=t.sleep)
    starts = []
    for _ in range(121):
        pacer.wait()
        starts.append(t.now)
    assert starts[:3] == [0.0, 0.5, 1.0]
    # Never more than 120 starts in any 60-second window.
    assert all(starts[i + 120] - starts[i] >= 60.0 for i in range(len(starts) - 120))


def test_headroom_keeps_a_little_under_the_limit() -> None:
    assert RequestPacer(100).interval == pytest.approx(60 / 98)


def test_a_retry_after_holds_the_business() -> None:
    t = VirtualTime()
    pacer = RequestPacer(60, headroom=1.0, clock=t.clock, sleep=t.sleep)
    pacer.wait()
    pacer.pause(5)
    pacer.wait()
    assert t.now == 5.0


def test_clients_of_one_business_share_its_pacer() -> None:
    a = SageAccountingClient(None, token_provider=lambda **_: "t", business_id="biz-1",  # type: ignore[arg-type]
                             requests_per_minute=100)
    assert a._pacer is pacer_for("biz-1", 100)
    assert SageAccountingClient(None, token_provider=lambda **_: "t", business_id="biz-1")._pacer is None  # type: ignore[arg-type]

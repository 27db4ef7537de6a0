"""The Sage Accounting client's pacer: at most N (less 2%) requests start in any sliding minute
(plus a second), a burst under that starts at once, a 429 holds every request of the business, and
a client given a rate shares its business's pacer."""

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


def test_a_burst_under_the_limit_does_not_wait() -> None:
    t = VirtualTime()
    pacer = RequestPacer(200, clock=t.clock, sleep=t.sleep)
    for _ in range(196):
        pacer.wait()
    assert t.now == 0.0


def test_never_more_than_the_limit_less_headroom_in_any_minute() -> None:
    t = VirtualTime()
    pacer = RequestPacer(200, clock=t.clock, sleep=t.sleep)
    starts = []
    for n in range(1000):
        pacer.wait()
        starts.append(t.now)
        t.now += 0.05 * (n % 3)  # the requests themselves take a little time
    assert pacer.limit == 196
    # Any 197 consecutive starts span more than Sage's minute (a second more, for jitter).
    assert all(starts[i + 196] - starts[i] >= 61.0 - 1e-9 for i in range(len(starts) - 196))
    # ...and the run is not slower than that: about 196 requests a minute.
    assert 1000 / (starts[-1] / 60) == pytest.approx(196 * 60 / 61, rel=0.05)


def test_only_the_request_one_too_many_waits_for_the_oldest_to_leave() -> None:
    t = VirtualTime()
    pacer = RequestPacer(3, headroom=1.0, window=60, clock=t.clock, sleep=t.sleep)
    for at in (0.0, 10.0, 20.0):
        t.now = at
        pacer.wait()
    t.now = 30.0
    pacer.wait()
    assert t.now == 60.0  # the first start (0 s) has left the window


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

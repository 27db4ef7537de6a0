"""`make demo` stopped with SIGTERM (a terminal closed, a CI timeout) stops the local stack as
Ctrl-C does, so DynamoDB Local's java process does not outlive it."""

from __future__ import annotations

import os
import signal
from typing import Any
from unittest import mock

import pytest

from local import demo


def test_sigterm_stops_the_stack_as_ctrl_c_does(monkeypatch):
    stopped: list[bool] = []

    class Stack:
        def __init__(self, **_: Any) -> None:
            pass

        def start(self) -> None:
            pass

        def stop(self) -> None:
            stopped.append(True)

    class Demo:
        def __init__(self, _stack: Any) -> None:
            pass

        def __getattr__(self, _name: str) -> Any:
            return lambda: os.kill(os.getpid(), signal.SIGTERM)

    class Probe:  # the demo's free-port probe, without a real socket
        def __enter__(self) -> Probe:
            return self

        def __exit__(self, *_: Any) -> None:
            pass

        def bind(self, _address: Any) -> None:
            pass

    monkeypatch.setattr(demo, "LocalStack", Stack)
    monkeypatch.setattr(demo, "Demo", Demo)
    before = signal.getsignal(signal.SIGTERM)
    try:
        # patched only around the call: pytest-socket restores sockets after each test
        with mock.patch("socket.socket", Probe), pytest.raises(KeyboardInterrupt):
            demo.main(["--port", "0"])
    finally:
        signal.signal(signal.SIGTERM, before)
    assert stopped == [True]

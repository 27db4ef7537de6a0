"""Runs that fit Lambda's deadline: a run watches the time its invocation has left and, before it
runs out, stops taking documents, settles the commits in flight and hands the rest of the run to a
continuation job (same run id, where it stopped). A pacer that would make the next request wait
long pauses the run the same way, the wait spent as the continuation's SQS delay instead of a sleep
inside the billed invocation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

# Stop taking documents when less than this is left: the larger of a fixed margin and a share of
# the invocation's time (a page of commits to settle and a continuation to queue fit easily).
STOP_MARGIN_SECONDS = 60.0
STOP_MARGIN_SHARE = 0.2
# A pacer wait longer than this is not slept inside the invocation: the run pauses and its
# continuation waits it out in the queue (SQS DelaySeconds, at most 15 minutes).
LONGEST_SLEEP_SECONDS = 20.0
MAX_DELAY_SECONDS = 15 * 60


@dataclass(frozen=True)
class Deadline:
    """The invocation's clock: `time_left()` in seconds; the run stops when it falls under `margin`."""

    time_left: Callable[[], float]
    margin: float = STOP_MARGIN_SECONDS
    longest_sleep: float = LONGEST_SLEEP_SECONDS

    @classmethod
    def of_invocation(cls, remaining_millis: Callable[[], int], *, margin_seconds: float = STOP_MARGIN_SECONDS,
                      margin_share: float = STOP_MARGIN_SHARE,
                      longest_sleep: float = LONGEST_SLEEP_SECONDS) -> Deadline:
        """From a Lambda context's `get_remaining_time_in_millis`; the share is of the time left now
        (about the function's timeout, at the start of an invocation)."""
        def left() -> float:
            return remaining_millis() / 1000.0
        at_start = left()
        # never more than half the time there is: a short timeout still gets work done
        return cls(left, min(max(margin_seconds, margin_share * at_start), at_start / 2), longest_sleep)

    def near(self) -> bool:
        return self.time_left() < self.margin


@dataclass(frozen=True)
class Resume:
    """Where a paused run goes on: its id and start, the phase it stopped in and how many of that
    phase's records it had looked at (re-read in the same order, they cost no Sage request)."""

    run_id: str
    started_at: datetime
    phase: int = 0
    seen: int = 0
    part: int = 1  # which invocation of the run this is (1: the first)


class RunPaused(Exception):
    """The run stops here for now (time nearly up, or a long pacer wait) and continues in a new job
    `delay` seconds later."""

    def __init__(self, why: str, delay: float = 0.0) -> None:
        super().__init__(why)
        self.delay = delay

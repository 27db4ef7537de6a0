"""Docker-free `sam local invoke`: `python -m local.invoke <LogicalId> -e events/<file>.json`.

Reads the function's handler, environment and layer from template.yaml, points it at the running
local stack (`make stack`), invokes it once and prints what it returned."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from local import runtime, timeshift


@contextmanager
def _logs_to_stderr() -> Iterator[None]:
    """The function's logs go to stderr and only its result to stdout, as with `sam local invoke`
    (Powertools' handler holds sys.stdout itself, so the file descriptor is what gets swapped)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _follow_stack_clock() -> None:
    """The function runs at the running stack's time, which moves when its clock is moved
    (`python -m local.clock`), as the stack's own invocations do."""
    import httpx

    from local.sandboxes.control import CLOCK_PATH

    try:
        url = runtime.read_outputs().get("sandboxes", {}).get("sage_accounting")
    except runtime.LocalStackNotRunning:
        return  # invoke() says so, with what to do
    if not url:
        return
    try:
        moved = int(httpx.get(url + CLOCK_PATH, timeout=10).json()["moved_by_seconds"])
    except (httpx.HTTPError, ValueError, KeyError):
        return
    timeshift.follow(timedelta(seconds=moved))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.invoke", description=__doc__)
    parser.add_argument("function", help="logical id in template.yaml, e.g. ExportSchedulerFunction")
    parser.add_argument("-e", "--event", type=Path, help="event JSON file (default: empty event {})")
    parser.add_argument("--resign", action="store_true",
                        help="re-sign a webhook event with the demo secret and the current time (events/ are "
                             "signed at a fixed time, so as stored they are correctly refused as stale)")
    args = parser.parse_args(argv)
    try:
        event = json.loads(args.event.read_text()) if args.event else {}
        if args.resign:
            from local.sandboxes.host_app import DEMO_SECRET, resign

            event = resign(event, DEMO_SECRET)
        _follow_stack_clock()
        with _logs_to_stderr():
            result = runtime.invoke(args.function, event)
    except (runtime.LocalStackNotRunning, KeyError, FileNotFoundError, AttributeError) as exc:
        print(f"local.invoke: {exc}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as exc:
        print(f"local.invoke: {args.event} is not valid JSON: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m local.clock`: show or move the running local stack's clock.

    python -m local.clock                 the stack's time and each Sage sandbox's token expiry times
    python -m local.clock --minutes 6     time passes: Sage Accounting's 300 s access tokens expire
    python -m local.clock --days 8        ... the keep-alive (TokenKeepAliveFunction) refreshes them

The Sage sandboxes share one clock and Sage Bridge's functions follow it, so this is time passing for
the whole stack (never for AWS or this machine). It only moves forward. A wrapper over the sandboxes'
local-only control endpoint, `GET`/`POST <sandbox>/_sandbox/clock`, which no real Sage has.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import httpx

from local import runtime
from local.sandboxes.control import CLOCK_PATH, UNITS

SAGE_SANDBOXES = ("sage_accounting", "sage200")


def _show(states: dict[str, dict[str, Any]]) -> None:
    first = next(iter(states.values()))
    print(f"stack time {first['now']} (moved forward {first['moved_by_seconds']} s)")
    for name, state in states.items():
        for grant in state["grants"]:
            expired = " EXPIRED" if grant["access_token_expired"] else ""
            revoked = " REVOKED" if grant["revoked"] else ""
            print(f"  {name}: {', '.join(grant['businesses'])}: access token until "
                  f"{grant['access_token_expires_at']}{expired}; refresh token until "
                  f"{grant['refresh_token_expires_at']}; refreshed {grant['refreshes']} times{revoked}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.clock", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for unit in UNITS:
        parser.add_argument(f"--{unit}", type=float, default=0, help=f"move the clock forward this many {unit}")
    parser.add_argument("--json", action="store_true", help="print the control endpoint's answers as JSON")
    args = parser.parse_args(argv)
    move = {unit: getattr(args, unit) for unit in UNITS if getattr(args, unit)}
    try:
        urls = runtime.read_outputs()["sandboxes"]
        if move:
            answer = httpx.post(urls[SAGE_SANDBOXES[0]] + CLOCK_PATH, json=move, timeout=30)
            if answer.status_code != 200:
                print(f"local.clock: {answer.json().get('error', answer.text)}", file=sys.stderr)
                return 2
        states = {name: httpx.get(urls[name] + CLOCK_PATH, timeout=30).json() for name in SAGE_SANDBOXES}
    except runtime.LocalStackNotRunning as exc:
        print(f"local.clock: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"local.clock: the stack's sandboxes did not answer ({type(exc).__name__})", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(states, indent=2))
    else:
        _show(states)
    return 0


if __name__ == "__main__":
    sys.exit(main())

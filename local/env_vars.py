"""`sam local invoke --env-vars` for the running local stack: `python -m local.env_vars -o events/env.json`.

`sam local invoke` runs a function in Docker with the environment template.yaml declares, and an
`--env-vars` file can replace those values (only those: SAM ignores names the template does not
declare). This writes that file for the stack `make stack` is running: every function's
environment as `local.invoke` resolves it (table, queue and secret names, the Sage sandboxes, the
moto and DynamoDB Local endpoints), with the loopback address replaced by the name a container
reaches the host by (`host.docker.internal`; on Linux start SAM with
`--add-host host.docker.internal:host-gateway`, or pass `--host 127.0.0.1` and `--docker-network host`).

The stack's ports change each time it starts: write the file again after `make stack`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from local import runtime
from local import template as tpl

LOOPBACK = ("127.0.0.1", "localhost")
# Addresses a browser on this machine opens (the connect link, Sage's sign-in page), not the container.
BROWSER_FACING = ("PUBLIC_API_URL", "SAGE_ACCOUNTING_AUTH_URL", "SAGE200_AUTH_URL")


def env_vars(outputs: dict[str, Any], host: str = "host.docker.internal") -> dict[str, dict[str, str]]:
    """{"Parameters": what every function shares, "<LogicalId>": its own} for `--env-vars`."""
    per_function: dict[str, dict[str, str]] = {}
    for logical_id, spec in tpl.functions().items():
        env = runtime.function_environment(spec, outputs)
        per_function[logical_id] = {name: env[name] if name in BROWSER_FACING else _reach(env[name], host)
                                    for name in spec.environment if name in env}
    shared = {name: value for name, value in next(iter(per_function.values())).items()
              if all(own.get(name) == value for own in per_function.values())}
    result: dict[str, dict[str, str]] = {"Parameters": shared}
    for logical_id, own in per_function.items():
        extra = {k: v for k, v in own.items() if k not in shared}
        if extra:
            result[logical_id] = extra
    return result


def _reach(value: str, host: str) -> str:
    for loopback in LOOPBACK:
        value = value.replace(f"//{loopback}:", f"//{host}:")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.env_vars", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", type=Path, help="write here (default: print)")
    parser.add_argument("--host", default="host.docker.internal",
                        help="how the container reaches this machine (default host.docker.internal)")
    args = parser.parse_args(argv)
    try:
        outputs = runtime.read_outputs()
    except runtime.LocalStackNotRunning as exc:
        print(f"local.env_vars: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(env_vars(outputs, args.host), indent=2, sort_keys=True) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

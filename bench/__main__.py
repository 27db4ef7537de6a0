"""`python -m bench [name ...] [--small] [--strict]`: run the benchmarks (all by default) and print one
line per figure: value, goal, ok/MISS. --small: tiny sizes (the smoke test's; the figures mean
little). --strict: exit 1 if a figure misses its goal."""

from __future__ import annotations

import sys
import time

from bench import SMALL, load
from bench.common import Figure

NAMES = ("pipeline", "throughput", "polling", "coldstart", "memory", "intacct", "kinds", "production",
         "cpu", "coldstart_shipped", "cost", "busy_poll", "realtime")


def main(argv: list[str]) -> int:
    flags = {a for a in argv if a.startswith("-")}
    if flags - {"--small", "--strict"}:  # --help included: never start every benchmark by accident
        print(__doc__.strip() + f"\nbenchmarks: {' '.join(NAMES)}", file=sys.stderr)
        return 0 if flags & {"-h", "--help"} else 2
    small = "--small" in argv
    strict = "--strict" in argv
    names = [a for a in argv if not a.startswith("--")] or list(NAMES)
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(NAMES)}", file=sys.stderr)
        return 2
    figures: list[Figure] = []
    for name in names:
        started = time.perf_counter()
        print(f"# {name}", flush=True)
        for figure in load(name).run(**(SMALL[name] if small else {})):
            figures.append(figure)
            print(figure.line(), flush=True)
        print(f"#   ({time.perf_counter() - started:.0f} s)", flush=True)
    missed = [f.name.strip() for f in figures if not f.ok]
    print(f"# {len(figures) - len(missed)} of {len(figures)} figures within their goals"
          + (f"; missed: {', '.join(missed)}" if missed else ""))
    return 1 if strict and missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

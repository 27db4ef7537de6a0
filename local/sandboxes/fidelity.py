"""Counts FIDELITY.md's rows per section and status, and checks the summary table at its top.

`python -m local.sandboxes.fidelity` prints the counts; `--write` rewrites the summary table from the
rows. tests/unit/sandboxes/test_fidelity.py fails when a row has another status, an empty source, or
the summary no longer matches the rows.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

FIDELITY = Path(__file__).with_name("FIDELITY.md")
STATUSES = ("documented", "third-party", "assumed", "stricter", "knob")
BEGIN, END = "<!-- summary: begin -->", "<!-- summary: end -->"


class Row:
    __slots__ = ("behaviour", "line", "section", "source", "status")

    def __init__(self, section: str, line: int, behaviour: str, source: str, status: str) -> None:
        self.section, self.line, self.behaviour, self.source, self.status = section, line, behaviour, source, status


def _cells(line: str) -> list[str]:
    # Split on pipes that are not inside backticks (no row uses an escaped pipe).
    cells, current, in_code = [], "", False
    for char in line.strip()[1:-1]:
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(current.strip())
            current = ""
        else:
            current += char
    cells.append(current.strip())
    return cells


def rows(text: str) -> list[Row]:
    """Every behaviour row of every section's table (the summary table is not a section's)."""
    found: list[Row] = []
    section, in_table = "", False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("## "):
            section, in_table = line[3:].strip(), False
        elif line.startswith("| behaviour |"):
            in_table = True
        elif in_table and line.startswith("|---"):
            continue
        elif in_table and line.startswith("|"):
            cells = _cells(line)
            if len(cells) != 3:
                raise ValueError(f"FIDELITY.md line {number}: {len(cells)} cells, not 3")
            found.append(Row(section, number, *cells))
        else:
            in_table = False
    return found


def short(section: str) -> str:
    """A section's name without its path in brackets: "Sage Intacct (`sage_intacct/`)" -> "Sage Intacct"."""
    return re.sub(r"\s*\(.*\)\s*$", "", section)


def counts(found: list[Row]) -> dict[str, Counter[str]]:
    per_section: dict[str, Counter[str]] = {}
    for row in found:
        per_section.setdefault(short(row.section), Counter())[row.status] += 1
    return per_section


def summary(found: list[Row]) -> str:
    per_section = counts(found)
    total: Counter[str] = Counter()
    lines = ["| section | " + " | ".join(STATUSES) + " | rows |", "|---|" + "---|" * (len(STATUSES) + 1)]
    for section, counter in per_section.items():
        total.update(counter)
        lines.append(
            f"| {section} | " + " | ".join(str(counter[s]) for s in STATUSES) + f" | {sum(counter.values())} |"
        )
    lines.append("| **all** | " + " | ".join(f"**{total[s]}**" for s in STATUSES) + f" | **{sum(total.values())}** |")
    return "\n".join(lines)


def written_summary(text: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip()


def problems(text: str) -> list[str]:
    """What is wrong with the file: a status outside the five, an empty source, a stale summary."""
    found = rows(text)
    wrong = [
        f"line {r.line}: status {r.status!r} is not one of {', '.join(STATUSES)}"
        for r in found
        if r.status not in STATUSES
    ]
    wrong += [f"line {r.line}: no source" for r in found if not r.source]
    wrong += [f"line {r.line}: no behaviour" for r in found if not r.behaviour]
    if written_summary(text) != summary(found):
        wrong.append("the summary table does not match the rows (python -m local.sandboxes.fidelity --write)")
    return wrong


def main(argv: list[str]) -> int:
    text = FIDELITY.read_text()
    if "--write" in argv:
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        text = text[:start] + "\n" + summary(rows(text)) + "\n" + text[end:]
        FIDELITY.write_text(text)
    print(summary(rows(text)))
    wrong = problems(text)
    for problem in wrong:
        print(problem, file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""FIDELITY.md cannot rot: every row has one of the five statuses and a source, and the summary
table at its top matches the rows (recount: `python -m local.sandboxes.fidelity --write`)."""

from __future__ import annotations

from local.sandboxes.fidelity import FIDELITY, STATUSES, problems, rows, summary, written_summary


def test_every_row_has_one_of_the_five_statuses_and_a_source_and_the_summary_matches():
    assert problems(FIDELITY.read_text()) == []


def test_the_check_catches_a_status_outside_the_five_a_missing_source_and_a_stale_summary():
    text = FIDELITY.read_text()
    row = rows(text)[0]
    line = text.splitlines()[row.line - 1]
    broken = text.replace(line, f"| {row.behaviour} |  | assumed (knob) |", 1)
    found = problems(broken)
    assert any("assumed (knob)" in p for p in found)
    assert any("no source" in p for p in found)
    assert any("summary" in p for p in found)


def test_the_summary_counts_every_row_of_every_section():
    text = FIDELITY.read_text()
    total = written_summary(text).splitlines()[-1]
    assert total == summary(rows(text)).splitlines()[-1]
    assert f"**{len(rows(text))}**" in total
    assert {r.status for r in rows(text)} <= set(STATUSES)

"""The report's forgetting check, from synthetic result rows."""

from __future__ import annotations

import pytest

from optical.experiment.report_sections import forgetting_changes, forgetting_section
from optical.experiment.results import ResultRow


def _rows() -> list[ResultRow]:
    rows = []
    for system, ntrex, xquad in (("zero-shot", 0.9, 0.5), ("optical-ot", 0.8, 0.6)):
        for lang, shift in (("sw", 0.0), ("yo", 0.02)):
            rows.append(ResultRow("ntrex", system, lang, "P@1", ntrex + shift, 10))
        rows.append(ResultRow("xquad", system, "macro", "RR@10", xquad, 2))
    rows.append(ResultRow("ntrex", "oracle", "sw", "P@1", 1.0, 10))
    return rows


def test_forgetting_changes_and_section() -> None:
    changes = forgetting_changes(_rows(), ["xquad"])
    assert list(changes) == ["optical-ot"]  # trained systems only
    assert changes["optical-ot"]["ntrex"] == pytest.approx(-0.1)
    assert changes["optical-ot"]["xquad"] == pytest.approx(0.1)
    text = "\n".join(forgetting_section(_rows(), ["xquad"]))
    assert "## Forgetting check" in text
    assert "| optical-ot | -0.100 | +0.100 |" in text
    assert forgetting_section([r for r in _rows() if r.benchmark != "ntrex"], ["xquad"]) == []

"""Report rendering: tables with macro, gap to the oracle and significance marks; charts."""

from __future__ import annotations

from pathlib import Path

from optical.experiment.report import gap_to_oracle, markdown_table, plot_benchmark
from optical.experiment.results import ResultRow, SignificanceRow


def _rows() -> list[ResultRow]:
    values = {
        ("oracle", "ar"): 0.9,
        ("oracle", "bn"): 0.8,
        ("oracle", "en"): 0.95,
        ("zero-shot", "ar"): 0.5,
        ("zero-shot", "bn"): 0.4,
        ("zero-shot", "en"): 0.9,
        ("optical-ot", "ar"): 0.7,
        ("optical-ot", "bn"): 0.4,
    }
    rows = [ResultRow("xquad", s, lang, "RR@10", v, 10) for (s, lang), v in values.items()]
    for system in ("oracle", "zero-shot", "optical-ot"):
        macro = (values[(system, "ar")] + values[(system, "bn")]) / 2
        rows.append(ResultRow("xquad", system, "macro", "RR@10", macro, 2))
    return rows


def test_table_has_macro_gap_and_marks() -> None:
    sig = [
        SignificanceRow("xquad", "RR@10", "ar", "optical-ot", "zero-shot", 0.2, 0.01, 0.02, 10),
        SignificanceRow("xquad", "RR@10", "bn", "optical-ot", "zero-shot", 0.0, 1.0, 1.0, 10),
    ]
    table = markdown_table(_rows(), sig, "xquad", "RR@10")
    lines = table.splitlines()
    assert lines[0] == "| system | ar | bn | en | macro | gap to oracle |"
    assert lines[2].startswith("| oracle |")  # the oracle comes first
    optical = next(line for line in lines if line.startswith("| optical-ot |"))
    # ar is significantly better (marked), bn is not; gap = mean(0.9-0.7, 0.8-0.4) = 0.3
    assert optical == "| optical-ot | 0.700▲ | 0.400 |  | 0.550 | 0.300 |"
    zero = next(line for line in lines if line.startswith("| zero-shot |"))
    assert zero.endswith("| 0.450 | 0.400 |")


def test_gap_to_oracle_missing_values() -> None:
    table = {"oracle": {"ar": 0.9}, "x": {"ar": 0.6, "bn": 0.1}}
    assert abs(gap_to_oracle(table, "x", "ar") - 0.3) < 1e-12
    assert gap_to_oracle(table, "x", "bn") is None


def test_chart_is_written(tmp_path: Path) -> None:
    path = plot_benchmark(_rows(), "xquad", "RR@10", tmp_path / "xquad.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

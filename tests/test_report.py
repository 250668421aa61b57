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


def test_validation_curve_reads_the_metrics_log(tmp_path: Path) -> None:
    import json

    from optical.train.runtime import validation_curve

    log = tmp_path / "metrics.jsonl"
    records = [
        {"step": 10, "loss": 5.0},
        {"step": 50, "validation": {"loss": 4.0, "chrF_xx-en": 10.0}},
        {"step": 100, "validation": {"loss": 3.5, "chrF_xx-en": 14.0}},
        {"step": 50, "validation": {"loss": 3.9, "chrF_xx-en": 11.0}},  # resumed: logged again
    ]
    log.write_text("\n".join(json.dumps(r) for r in records) + "\nnot json\n", encoding="utf-8")
    assert validation_curve(log) == [
        {"step": 50, "loss": 3.9, "chrF_xx-en": 11.0},
        {"step": 100, "loss": 3.5, "chrF_xx-en": 14.0},
    ]
    assert validation_curve(tmp_path / "none.jsonl") == []


def test_nmt_curve_section_has_a_table_and_a_figure(tmp_path: Path) -> None:
    from optical.experiment.report_sections import nmt_curve_section

    curve = [
        {"step": 50, "loss": 4.0, "chrF_xx-en": 10.0, "chrF_en-xx": 5.0, "examples": 9},
        {"step": 100, "loss": 3.5, "chrF_xx-en": 14.25, "chrF_en-xx": 6.0, "examples": 9},
    ]
    lines = nmt_curve_section({"nmt": curve, "nmt-data10": []}, tmp_path)
    text = "\n".join(lines)
    assert "## NMT learning curve" in text and "`nmt-data10`" not in text
    assert "| step | validation loss | chrF xx→en | chrF en→xx |" in text
    assert "| 100 | 3.5000 | 14.2 | 6.0 |" in text
    assert (tmp_path / "nmt-curve.png").stat().st_size > 0
    assert nmt_curve_section({}, tmp_path) == []

"""``optical forgetting``: options compared across experiment output folders, and the
default chosen on validation data only (largest gain on questions among the options
that lose at most 0.005 P@1 on other text)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optical.cli import main
from optical.errors import OpticalError
from optical.experiment.forgetting import choose, forgetting_report, read_option
from optical.experiment.results import ResultRow, write_results
from optical.experiment.student_curves import STUDENT_CURVES_FILE


def _curve(gain: float, change: float) -> list[dict]:
    start = {"questions": 0.80, "news": 0.90, "conversational": 0.70}
    end = {"questions": 0.80 + gain, "news": 0.90 + change, "conversational": 0.70 + change}
    return [
        {"step": 0, "p_at_1": 0.8, "p_at_1_by_domain": start},
        {"step": 150, "p_at_1": 0.8, "p_at_1_by_domain": end},
    ]


def _option(
    root: Path,
    name: str,
    gains: dict[str, tuple[float, float]],
    xquad: float,
    seeds: tuple[int, ...] = (0, 1),
) -> Path:
    """An experiment output folder: ``seeds`` per system with the given validation
    (gain on questions, change on other text); benchmark rows against zero-shot."""
    folder = root / name
    folder.mkdir(parents=True)
    curves = [
        {"system": system, "seed": seed, "curve": _curve(gain + 0.002 * seed, change)}
        for system, (gain, change) in gains.items()
        for seed in seeds
    ]
    (folder / STUDENT_CURVES_FILE).write_text(json.dumps(curves))
    rows = [
        ResultRow("xquad", "zero-shot", "macro", "RR@10", 0.80, 6),
        ResultRow("ntrex", "zero-shot", "macro", "P@1", 0.95, 15),
    ]
    for system in gains:
        rows += [
            ResultRow("xquad", system, "macro", "RR@10", 0.80 + xquad, 6, 0.01, 2),
            ResultRow("ntrex", system, "macro", "P@1", 0.94, 15, 0.002, 2),
        ]
    write_results(folder, rows, [])
    return folder


def test_the_choice_reads_validation_only(tmp_path: Path) -> None:
    gains = {"optical-ot": (0.05, -0.02), "distill-mse": (0.04, -0.001)}
    full = _option(tmp_path, "full-finetune", gains, 0.03)
    lora = _option(
        tmp_path, "lora", {"optical-ot": (0.03, -0.004), "distill-mse": (0.01, 0.0)}, 0.09
    )
    results = read_option(full) + read_option(lora)
    chosen = choose(results, 0.005)
    # optical-ot: full fine-tuning gains most but loses 0.02 on other text → LoRA;
    # distill-mse: both qualify → the larger gain on questions (full fine-tuning), whatever
    # the benchmarks say (LoRA's xquad change is larger)
    assert chosen["optical-ot"].option == "lora"
    assert chosen["distill-mse"].option == "full-finetune"
    assert choose(results, 0.001)["optical-ot"] is None
    ot_full = next(r for r in results if (r.option, r.system) == ("full-finetune", "optical-ot"))
    assert ot_full.benchmarks["xquad"] == (pytest.approx(0.03), 0.01)
    assert ot_full.benchmarks["ntrex"] == (pytest.approx(-0.01), 0.002)
    assert ot_full.validation["in_domain_gain"][0] == pytest.approx(0.051)
    report = forgetting_report(results, 0.005)
    assert "| lora (chosen) | 2 | +0.031 ± 0.001 | -0.004 |" in report
    assert "Chosen: `lora`" in report and "Chosen: `full-finetune`" in report
    assert "No option keeps" in forgetting_report(results, 0.001)
    # an option run with fewer seeds is shown but not compared with the others' means
    partial = _option(tmp_path, "partial", {"optical-ot": (0.09, 0.0)}, 0.1, seeds=(0,))
    more = results + read_option(partial)
    assert choose(more, 0.005)["optical-ot"].option == "lora"
    assert "| partial | 1 | +0.090 |" in forgetting_report(more, 0.005)
    assert "Not compared, for fewer seeds than 2: `partial`." in forgetting_report(more, 0.005)
    assert choose(read_option(partial), 0.005)["optical-ot"].option == "partial"
    # the one-standard-error rule: a baseline within one standard error of the best stays
    # (seeds 0, 1 differ by 0.002 in gain: std 0.0014, standard error 0.001)
    near = _option(tmp_path, "near", {"optical-ot": (0.0305, -0.001)}, 0.0)
    both = results + read_option(near)
    assert choose(both, 0.005)["optical-ot"].option == "near"
    assert choose(both, 0.005, baseline="lora")["optical-ot"].option == "lora"
    assert "by less than one standard error" in forgetting_report(both, 0.005, "lora")
    far = _option(tmp_path, "far", {"optical-ot": (0.04, -0.001)}, 0.0)
    assert choose(results + read_option(far), 0.005, "lora")["optical-ot"].option == "far"


def test_the_command_writes_markdown_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, gain in [("a", 0.01), ("b", 0.02)]:
        _option(tmp_path / "runs", name, {"optical-ot": (gain, 0.0)}, gain)
    out = tmp_path / "table.md"
    assert main(["forgetting", str(tmp_path / "runs" / "a"), str(tmp_path / "runs" / "b"),
                 "--out", str(out)]) == 0  # fmt: skip
    assert "Chosen: `b`" in capsys.readouterr().out
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["chosen"] == {"optical-ot": "b"} and len(data["results"]) == 2
    with pytest.raises(OpticalError, match=STUDENT_CURVES_FILE):
        read_option(tmp_path)

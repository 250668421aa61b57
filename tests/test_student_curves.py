"""Students' validation curves: what the run copies beside the report, the per-domain
summary (questions vs other text, against step 0) and the report section."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from optical.data.training import DOMAINS, QUESTIONS, SOURCES, source_domain
from optical.experiment.student_curves import (
    STUDENT_CURVES_FILE,
    by_system,
    plateau_step,
    student_curve_section,
    summary,
)


def _point(step: int, questions: float, news: float, chat: float) -> dict:
    by_domain = {QUESTIONS: questions, "news": news, "conversational": chat}
    return {"step": step, "p_at_1": (questions + news + chat) / 3, "p_at_1_by_domain": by_domain}


def test_every_training_source_has_a_domain() -> None:
    assert {spec.domain for spec in SOURCES.values()} <= set(DOMAINS)
    assert source_domain("xor") == source_domain("mkqa") == QUESTIONS
    assert source_domain("newstest") == "news" and source_domain("tmx") == "other"


def test_summary_against_step_zero_and_the_saved_step() -> None:
    curve = [
        _point(0, 0.80, 0.90, 0.70),
        _point(50, 0.86, 0.89, 0.70),
        _point(100, 0.84, 0.85, 0.0),
    ]
    curve[-1]["p_at_1_by_domain"].pop("conversational")
    last = summary(curve)
    assert last["in_domain"] == pytest.approx(0.84) and last["best_step"] == 100
    assert last["in_domain_gain"] == pytest.approx(0.04)
    assert last["out_of_domain_change"] == pytest.approx(0.85 - 0.80)  # (0.90 + 0.70) / 2
    curve[-1]["best_step"] = 50  # early stopping saved step 50's model
    best = summary(curve)
    assert best["best_step"] == 50 and best["in_domain_gain"] == pytest.approx(0.06)
    assert best["out_of_domain_change"] == pytest.approx(-0.005)
    no_start = summary(curve[1:])
    assert no_start["in_domain_gain"] is None and no_start["in_domain"] == pytest.approx(0.86)


def test_seeds_are_averaged_and_the_section_has_a_table_and_a_figure(tmp_path: Path) -> None:
    records = [
        {
            "system": "optical-ot",
            "seed": s,
            "curve": [_point(0, 0.8, 0.9, 0.7), _point(10, q, 0.9, 0.7)],
        }
        for s, q in [(0, 0.84), (1, 0.86)]
    ]
    records.append({"system": "distill-mse", "seed": 0, "curve": [_point(10, 0.85, 0.88, 0.7)]})
    table = by_system(records)
    mean, std = table["optical-ot"]["in_domain_gain"]
    assert mean == pytest.approx(0.05) and std == pytest.approx(0.0141421, abs=1e-6)
    assert "in_domain_gain" not in table["distill-mse"]  # no step 0: no change to report
    lines = student_curve_section(records, tmp_path)
    text = "\n".join(lines)
    assert "## Student validation" in text
    assert "| optical-ot | 2 |" in text and "+0.050 ± 0.014" in text
    assert "| distill-mse | 1 | 0.810 | 0.850 | 0.790 | — | — | 10 |" in text
    assert (tmp_path / "student-curves.png").is_file()
    assert student_curve_section([], tmp_path) == []


def test_the_run_copies_each_students_curve(tmp_path: Path) -> None:
    from optical.experiment.run import _write_student_curves

    students = {}
    for seed in (0, 1):
        folder = tmp_path / f"optical-ot-{seed}" / "student"
        folder.mkdir(parents=True)
        records = [{"step": 5, "loss": 1.0}, {"step": 10, "validation": _point(10, 0.9, 0.8, 0.7)}]
        (folder.parent / "metrics.jsonl").write_text("\n".join(map(json.dumps, records)))
        students[("optical-ot", seed)] = folder
    _write_student_curves(SimpleNamespace(students=students), tmp_path)
    written = json.loads((tmp_path / STUDENT_CURVES_FILE).read_text())
    assert [(r["system"], r["seed"]) for r in written] == [("optical-ot", 0), ("optical-ot", 1)]
    assert written[0]["curve"] == [{"step": 10, **_point(10, 0.9, 0.8, 0.7)}]


def test_the_run_marks_an_early_stopped_students_saved_step(tmp_path: Path) -> None:
    """``student-curves.json`` carries the step whose model early stopping saved (from
    the student's own record), so the summary reads that step, not the last one."""
    import json
    from types import SimpleNamespace

    from optical.experiment.run import _write_student_curves
    from optical.experiment.student_curves import STUDENT_CURVES_FILE, by_system
    from optical.models.student import STUDENT_FILE

    folders = {}
    for name, best in (("stopped", 50), ("plain", None)):
        student = tmp_path / name / "student"
        student.mkdir(parents=True)
        validation = {"p_at_1": 0.9} if best is None else {"p_at_1": 0.9, "best_step": best}
        (student / STUDENT_FILE).write_text(json.dumps({"validation": validation}))
        points = [
            _point(0, 0.80, 0.9, 0.7),
            _point(50, 0.86, 0.9, 0.7),
            _point(100, 0.84, 0.9, 0.7),
        ]
        lines = [json.dumps({"step": p["step"], "validation": p}) for p in points]
        (student.parent / "metrics.jsonl").write_text("\n".join(lines) + "\n")
        folders[(name, 0)] = student
    _write_student_curves(SimpleNamespace(students=folders), tmp_path)
    records = json.loads((tmp_path / STUDENT_CURVES_FILE).read_text())
    summary_of = by_system(records)
    assert summary_of["stopped"]["best_step"][0] == 50
    assert summary_of["stopped"]["in_domain_gain"][0] == pytest.approx(0.06)
    assert summary_of["plain"]["best_step"][0] == 100


def test_the_plateau_is_the_first_step_within_the_tolerance_of_the_seeds_best(
    tmp_path: Path,
) -> None:
    """Seeds are averaged per step first; only steps every seed validated at count; a
    start and an end alone are no curve."""
    seed0 = [_point(0, 0.80, 0.9, 0.7), _point(50, 0.850, 0.9, 0.7), _point(100, 0.880, 0.9, 0.7)]
    seed0 += [_point(150, 0.884, 0.9, 0.7), _point(200, 0.882, 0.9, 0.7)]
    seed1 = [dict(p, p_at_1_by_domain=dict(p["p_at_1_by_domain"])) for p in seed0]
    seed1[2]["p_at_1_by_domain"][QUESTIONS] = 0.870  # step 100's mean: 0.875 < 0.884 - 0.005
    assert plateau_step([seed0]) == 100
    assert plateau_step([seed0, seed1]) == 150
    assert plateau_step([seed0, seed1], tolerance=0.01) == 100
    assert plateau_step([seed0, seed1[:-1]]) == 150  # step 200 is not in every curve
    rising = [_point(s, 0.8 + s / 1000, 0.9, 0.7) for s in (0, 50, 100)]
    assert plateau_step([rising]) == 100  # the last step: not flattened yet
    assert plateau_step([seed0[:2]]) is None and plateau_step([]) is None
    records = [
        {"system": "optical-ot", "seed": i, "curve": c} for i, c in enumerate((seed0, seed1))
    ]
    text = "\n".join(student_curve_section(records, tmp_path))
    assert "plateau |" in text and text.splitlines()[-3].endswith("| 200 | 150 |")
    no_curve = [{"system": "optical-ot", "seed": 0, "curve": seed0[:2]}]
    assert "plateau" not in "\n".join(student_curve_section(no_curve, tmp_path))

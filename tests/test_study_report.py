"""Study pieces: multi-seed rows, cells, resource-group gaps, MAP gain, budget curves,
the conclusion and report marks — from hand-made rows and scores."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from optical.experiment.cells import Cell, cell_key, cell_settings, load_cell, save_cell
from optical.experiment.conclusion import conclusion
from optical.experiment.config import ExperimentConfig, load_config
from optical.experiment.names import SystemSpec, budget_suffix
from optical.experiment.report import markdown_table
from optical.experiment.report_sections import (
    ap_gain,
    ap_section,
    budget_curves,
    budget_section,
    gap_section,
    group_gaps,
    group_members,
    step_budget_note,
)
from optical.experiment.results import (
    ResultRow,
    ScoreKey,
    SignificanceRow,
    best_translate_test,
    mean_over_seeds,
    rows_from_seed_scores,
)
from optical.types import Passage, Query, RetrievalBenchmark

ROOT = Path(__file__).resolve().parents[1]


def test_budget_names() -> None:
    budget = SystemSpec.parse("optical-ot-data10")
    assert (budget.family, budget.fraction) == ("optical-ot", 0.1)
    whole = SystemSpec.parse("optical-ot")
    assert (whole.family, whole.fraction) == ("optical-ot", None)
    assert budget_suffix(0.3) == "-data30" and budget_suffix(None) == ""
    assert SystemSpec.parse("optical-ot-maxsim").student_id == "optical-ot"
    assert budget.student_id == "optical-ot-data10"
    cfg = load_config(ROOT / "configs" / "study.toml")
    ot, ot30 = SystemSpec.parse("optical-ot"), SystemSpec.parse("optical-ot-data30")
    assert cfg.seeds_for(ot) == (0, 1, 2) and cfg.seeds_for(ot30) == (0,)
    assert ExperimentConfig(seed=4).seeds_for(ot) == (4,)


def test_multi_seed_rows_have_mean_and_std() -> None:
    seed_scores = {
        ScoreKey("b", "s", "xx", "M"): {0: {"q1": 1.0, "q2": 0.0}, 1: {"q1": 1.0, "q2": 1.0}},
        ScoreKey("b", "s", "yy", "M"): {0: {"q1": 0.0}, 1: {"q1": 1.0}},
        ScoreKey("b", "z", "xx", "M"): {None: {"q1": 0.5, "q2": 0.5}},
    }
    rows = {(r.system, r.lang): r for r in rows_from_seed_scores(seed_scores)}
    xx = rows[("s", "xx")]
    assert xx.value == pytest.approx(0.75) and xx.seeds == 2 and xx.n == 2
    assert xx.std == pytest.approx(0.3536, abs=1e-3)
    macro = rows[("s", "macro")]  # seed 0: (0.5 + 0) / 2, seed 1: (1 + 1) / 2
    assert macro.value == pytest.approx(0.625) and macro.std == pytest.approx(0.5303, abs=1e-3)
    single = rows[("z", "xx")]
    assert single.std is None and set(single.to_dict()) == {
        "benchmark",
        "system",
        "lang",
        "measure",
        "value",
        "n",
    }
    assert set(xx.to_dict()) >= {"std", "seeds"}
    assert mean_over_seeds(seed_scores)[ScoreKey("b", "s", "xx", "M")] == {"q1": 1.0, "q2": 0.5}


def test_cells_round_trip_and_key_changes(tmp_path: Path) -> None:
    bench = RetrievalBenchmark("b", (Passage("p1", "x"), Passage("p2", "y")), {}, {})
    queries = (Query("q1", "hello", "xx"),)
    cell = Cell("b", "optical-ot", "xx", seed=1)
    settings = cell_settings(cell, {"student": "folder-a"}, bench, queries)
    key = cell_key(settings)
    assert load_cell(tmp_path, cell, key) is None
    save_cell(tmp_path, cell, key, settings, {"q1": {"p1": 0.5, "p2": 0.25}}, 1.5)
    run, seconds = load_cell(tmp_path, cell, key)
    assert run == {"q1": {"p1": 0.5, "p2": 0.25}} and seconds == 1.5
    assert cell.run_path(tmp_path).name == "optical-ot.seed1.xx.trec"
    other = cell_key(cell_settings(cell, {"student": "folder-b"}, bench, queries))
    assert other != key and load_cell(tmp_path, cell, other) is None
    fewer = cell_key(cell_settings(cell, {"student": "folder-a"}, bench, ()))
    assert fewer != key


def _rows() -> list[ResultRow]:
    rows = []
    values = {
        "oracle": {"ar": 0.9, "de": 0.9, "bn": 0.9, "te": 0.9},
        "zero-shot": {"ar": 0.8, "de": 0.8, "bn": 0.5, "te": 0.6},
        "optical-ot": {"ar": 0.82, "de": 0.8, "bn": 0.7, "te": 0.7},
        "tt-nmt-dense": {"ar": 0.6, "de": 0.7, "bn": 0.4, "te": 0.4},
        "tt-oracle-dense": {"ar": 0.9, "de": 0.9, "bn": 0.9, "te": 0.9},
        "bt-synthetic-ot": {"ar": 0.7, "de": 0.75, "bn": 0.6, "te": 0.55},
        "optical-ot-data10": {"ar": 0.7, "de": 0.7, "bn": 0.6, "te": 0.6},
    }
    for system, langs in values.items():
        for lang, value in langs.items():
            rows.append(ResultRow("ntrex", system, lang, "P@1", value, 10))
            rows.append(ResultRow("ntrex", system, lang, "AP", value, 10))
        rows.append(ResultRow("ntrex", system, "macro", "P@1", sum(langs.values()) / 4, 4))
    return rows


def test_group_gaps_ap_gain_and_budget_curves() -> None:
    rows = _rows()
    gaps = group_gaps(rows, "ntrex", "P@1")
    assert gaps["zero-shot"]["high"] == pytest.approx(0.1)
    assert gaps["zero-shot"]["low"] == pytest.approx(0.35)
    assert gaps["optical-ot"]["low"] == pytest.approx(0.2)
    assert "oracle" not in gaps
    ours, theirs, langs = ap_gain(rows, "ntrex")
    assert langs == ["bn", "te"] and ours == pytest.approx(0.7) and theirs == pytest.approx(0.4)
    section = "\n".join(ap_section(rows, ["ntrex"]))
    assert "| 0.700 | 0.400 | 0.550 | +75.0 %" in section  # zero-shot MAP beside it
    # an NMT baseline below zero-shot makes any relative gain large: no verdict on the claim
    assert "not a test of the claim: the NMT baseline is below zero-shot" in section
    stronger_mt = [
        replace(r, value=0.6) if r.system == "tt-nmt-dense" and r.measure == "AP" else r
        for r in rows
    ]
    section = "\n".join(ap_section(stronger_mt, ["ntrex"]))
    assert "| 0.700 | 0.600 | 0.550 | +16.7 % | reproduced (at least as large) |" in section
    curves = budget_curves(rows, "ntrex", "P@1")
    assert curves == {"optical-ot": {0.1: pytest.approx(0.65), 1.0: pytest.approx(0.755)}}
    assert best_translate_test(rows, "ntrex", "P@1") == "tt-nmt-dense"  # tt-oracle-* excluded


def test_budget_section_shows_seed_spread(tmp_path: Path) -> None:
    rows = [
        replace(r, std=0.012, seeds=3)
        if (r.system, r.lang, r.measure) == ("optical-ot", "macro", "P@1")
        else r
        for r in _rows()
    ]
    section = "\n".join(budget_section(rows, ["ntrex"], tmp_path))
    assert "| optical-ot | 0.650 | 0.755±0.012 |" in section  # 10 % one seed, 100 % three
    assert (tmp_path / "budget-ntrex.png").stat().st_size > 0
    assert budget_section(rows, ["xquad"], tmp_path) == []  # no curve run there
    note = step_budget_note(150, 32, 600, 64)
    assert "4,800 pairs" in note and "38,400" in note
    assert note in "\n".join(budget_section(rows, ["ntrex"], tmp_path, note))
    scaled = step_budget_note(150, 32, 600, 64, proportional=True)
    assert "that share of the steps" in scaled and "4,800 pairs" in scaled
    assert "measures the step budget" not in scaled
    mixed = step_budget_note(150, 32, 600, 64, nmt_proportional=True)
    student, nmt = mixed.split("not the data. ")
    assert student.startswith("The students train for the same number of steps")
    assert "4,800 pairs" in student
    assert nmt.startswith("The NMT models train at each share for that share of the steps")
    assert "38,400 examples at 100 %" in nmt


def test_gap_section_and_conclusion(tmp_path: Path) -> None:
    rows = _rows()
    section = "\n".join(gap_section(rows, ["ntrex"], tmp_path))
    assert "| optical-ot | 0.090 | 0.200 | 0.110 | 0.10 | 0.43 |" in section
    assert (tmp_path / "gap-ntrex.png").stat().st_size > 0
    sig = [
        SignificanceRow("ntrex", "P@1", "bn", "optical-ot", "zero-shot", 0.2, 0.001, 0.002, 10),
        SignificanceRow("ntrex", "P@1", "te", "optical-ot", "zero-shot", 0.1, 0.2, 0.3, 10),
        SignificanceRow("ntrex", "P@1", "bn", "tt-nmt-dense", "zero-shot", -0.1, 0.01, 0.02, 10),
        SignificanceRow("ntrex", "P@1", "te", "tt-nmt-dense", "zero-shot", -0.1, 0.01, 0.02, 10),
        SignificanceRow("ntrex", "AP", "te", "optical-ot", "zero-shot", 0.1, 0.01, 0.02, 10),
    ]
    text = "\n".join(conclusion(rows, sig, ["ntrex"]))
    # low (bn, te): zero-shot 0.350, OPTICAL 0.200 (▲ in bn only: te not significant, AP
    # is another measure), bt-synthetic-ot 0.325, tt-nmt-dense 0.500 (tt-oracle excluded)
    assert (
        "| low-resource (bn, te) | 0.350 (▲0 ▼0) | 0.200 (▲1 ▼0) "
        "| `bt-synthetic-ot` 0.325 (▲0 ▼0) | `tt-nmt-dense` 0.500 (▲0 ▼2) |"
    ) in text
    assert (
        "* ntrex, low-resource: OPTICAL closes 43 % of zero-shot's gap (0.350 → 0.200; "
        "significantly better in 1, worse in 0 of 2 languages). Closest to the oracle: "
        "`optical-ot` (0.200)."
    ) in text
    assert (
        "* ntrex, low-resource: the paper's claim holds — OPTICAL leaves 0.200, the best "
        "NMT-based system, `bt-synthetic-ot`, 0.325 (no paired test of the two in the "
        "results)."
    ) in text
    # with OPTICAL tested against that system per language (bn significant, te not; a
    # test against another NMT system and another measure do not count)
    versus = [
        SignificanceRow("ntrex", "P@1", "bn", "optical-ot", "bt-synthetic-ot", 0.1, 0.01, 0.02, 10),
        SignificanceRow("ntrex", "P@1", "te", "optical-ot", "bt-synthetic-ot", -0.1, 0.1, 0.2, 10),
        SignificanceRow("ntrex", "P@1", "te", "optical-ot", "tt-nmt-dense", -0.3, 0.0, 0.0, 10),
        SignificanceRow("ntrex", "AP", "te", "optical-ot", "bt-synthetic-ot", -0.1, 0.0, 0.0, 10),
    ]
    paired = "\n".join(conclusion(rows, [*sig, *versus], ["ntrex"]))
    assert (
        "`bt-synthetic-ot`, 0.325; paired per language, OPTICAL is significantly better than "
        "`bt-synthetic-ot` in 1 and worse in 0 of 2 languages."
    ) in paired
    # high (ar, de): OPTICAL 0.090 vs zero-shot 0.100; no claim line for the high group
    assert "* ntrex, high-resource: OPTICAL closes 10 % of zero-shot's gap" in text
    assert "high-resource: the paper's claim" not in text
    assert "Of the 1 benchmark × group cells outside the high-resource group" in text
    assert "the paper's claim holds in 1, does not hold in 0 and is not settled in 0" in text


def _three_group_rows() -> list[ResultRow]:
    """afriqa-like rows: a high (ar), a low (ha) and two unseen languages (tw, yo)."""
    values = {
        "oracle": {"ar": 0.9, "ha": 0.9, "tw": 0.9, "yo": 0.9},
        "zero-shot": {"ar": 0.8, "ha": 0.6, "tw": 0.3, "yo": 0.5},
        "optical-ot": {"ar": 0.8, "ha": 0.7, "tw": 0.5, "yo": 0.7},
        "tt-nmt-dense": {"ar": 0.7, "ha": 0.5, "tw": 0.2, "yo": 0.2},
    }
    return [
        ResultRow("afriqa", system, lang, measure, value, 10)
        for system, langs in values.items()
        for lang, value in langs.items()
        for measure in ("RR@10", "AP")
    ]


def test_three_resource_groups(tmp_path: Path) -> None:
    rows = _three_group_rows()
    gaps = group_gaps(rows, "afriqa", "RR@10")
    assert gaps["zero-shot"] == {
        "high": pytest.approx(0.1),
        "low": pytest.approx(0.3),
        "unseen": pytest.approx(0.5),
    }
    assert group_members(rows, ["afriqa"]) == {
        "high": ["ar"],
        "low": ["ha"],
        "unseen": ["tw", "yo"],
    }
    section = "\n".join(gap_section(rows, ["afriqa"], tmp_path))
    assert (
        "Resource groups of the languages here — high-resource: ar; low-resource: ha; "
        "not in the encoder's pre-training: tw, yo."
    ) in section
    assert (
        "| system | gap high | gap low | gap unseen | low − high | unseen − high "
        "| closed high | closed low | closed unseen |"
    ) in section
    # optical-ot: gaps 0.1 / 0.2 / 0.3; zero-shot's unseen gap 0.5 is 40 % closed
    assert "| optical-ot | 0.100 | 0.200 | 0.300 | 0.100 | 0.200 | 0.00 | 0.33 | 0.40 |" in section
    only_unseen = [r for r in rows if r.lang in ("tw", "yo")]
    section = "\n".join(gap_section(only_unseen, ["afriqa"], tmp_path))
    assert "| system | gap unseen | closed unseen |" in section
    text = "\n".join(conclusion(rows, [], ["afriqa"]))
    assert "* afriqa, low-resource: OPTICAL closes 33 % of zero-shot's gap (0.300 → 0.200" in text
    assert (
        "* afriqa, not in the encoder's pre-training: OPTICAL closes 40 % of zero-shot's gap "
        "(0.500 → 0.300"
    ) in text
    assert "the paper's claim holds — OPTICAL leaves 0.300, the best NMT-based system, " in text
    assert "| high-resource (ar) | 0.100 (▲0 ▼0) | 0.100 (▲0 ▼0) | — |" in text
    worse = [
        replace(r, value=0.2) if (r.system, r.lang) == ("optical-ot", "ha") else r for r in rows
    ]
    text = "\n".join(conclusion(worse, [], ["afriqa"]))
    assert "* afriqa, low-resource: OPTICAL widens zero-shot's gap by 133 % (0.300 → 0.700" in text
    assert "low-resource: the paper's claim does not hold — OPTICAL leaves 0.700" in text
    assert "Closest to the oracle: `zero-shot` (0.300)." in text
    level = [  # ha gaps: OPTICAL 0.200, tt-nmt-dense 0.198
        replace(r, value=0.702) if (r.system, r.lang) == ("tt-nmt-dense", "ha") else r for r in rows
    ]
    text = "\n".join(conclusion(level, [], ["afriqa"]))
    assert "low-resource: the paper's claim is not settled here (the two are within 0.005)" in text
    assert conclusion([r for r in rows if r.system != "optical-ot"], [], ["afriqa"]) == []
    # the MAP comparison reads every language outside the high-resource group
    assert ap_gain(rows, "afriqa")[2] == ["ha", "tw", "yo"]


def test_marks_for_both_baselines_and_std() -> None:
    rows = [
        ResultRow("xquad", "zero-shot", "de", "RR@10", 0.8, 10),
        ResultRow("xquad", "optical-ot", "de", "RR@10", 0.85, 10, 0.012, 3),
        *(ResultRow("xquad", "tt-nmt-dense", lang, "RR@10", 0.9, 10) for lang in ("de", "macro")),
        *(
            ResultRow("xquad", "bt-synthetic-ot", lang, "RR@10", 0.7, 10)
            for lang in ("de", "macro")
        ),
    ]
    sig = [
        SignificanceRow("xquad", "RR@10", "de", "optical-ot", "zero-shot", 0.05, 0.01, 0.02, 10),
        SignificanceRow(
            "xquad", "RR@10", "de", "optical-ot", "tt-nmt-dense", -0.05, 0.01, 0.03, 10
        ),
        # OPTICAL against another NMT-based system (the conclusion's test): not a mark
        SignificanceRow(
            "xquad", "RR@10", "de", "optical-ot", "bt-synthetic-ot", 0.15, 0.0, 0.0, 10
        ),
    ]
    table = markdown_table(rows, sig, "xquad", "RR@10", baseline="zero-shot")
    assert "| optical-ot | 0.850±0.012▲▽ |" in table
